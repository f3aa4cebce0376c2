"""The Python API: `signgen.render(...)` (a video) and `signgen.synthesize(...)` (pictures).

Both check everything cheap first (output path, source picture, model folder, motion), so a
mistake fails in a second with one clear line, before a model is loaded or a frame rendered;
output files appear only when complete. The CLI commands are thin wrappers around these.
"""

from __future__ import annotations

import io
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .errors import InputError
from .pose.io import GlossSequence, atomic_write_bytes
from .pose.track import PoseTrack

__all__ = ["render", "synthesize", "load_source", "load_motion", "fit_motion", "render_settings", "sample_paths",
           "progress_bar", "IMAGE_OUTPUTS"]

IMAGE_OUTPUTS = (".png", ".jpg", ".jpeg", ".webp")
_VIDEO_INPUTS = (".mp4", ".webm", ".avi", ".mov", ".mkv")


# ---- inputs ----------------------------------------------------------------------------------

def load_source(source: str | Path | np.ndarray) -> tuple[np.ndarray, str | None]:
    """(RGB uint8 picture, its path or None) from a file or an array; InputError on anything else."""
    from .pose.extract import as_rgb, read_image

    if isinstance(source, (str, Path)):
        return read_image(source), str(source)
    return as_rgb(np.asarray(source)), None


def load_motion(
    poses: str | Path | PoseTrack | GlossSequence | None = None, *,
    glosses: str | Sequence[str] | None = None, lexicon: str | None = None, language: str | None = None,
    fps: float | None = None, progress: bool = False,
    text: str | None = None, signed_language: str | None = None, fingerspell_unknown: bool = False,
) -> PoseTrack:
    """The motion as a canonical track: a track file / folder, a driving video (keypoints extracted
    with MediaPipe), a gloss sequence (JSON or `glosses=`) turned into a track by a lexicon, or
    spoken-language `text` (`language` is then the text's, e.g. "de"; `signed_language` the
    lexicon's) turned into glosses by spoken-to-signed's offline text-to-gloss."""
    from .pose import io as pose_io

    if sum(m is not None for m in (poses, glosses, text)) != 1:
        raise InputError("give exactly one motion: poses (a track, gloss file or driving video), glosses or text")
    if fps is not None and not fps > 0:
        raise InputError(f"fps must be > 0, got {fps}")
    if text is not None:
        from .pose.text import text_to_track

        return text_to_track(text, language or "", lexicon or "fingerspelling", signed_language,
                             fingerspell_unknown=fingerspell_unknown, fps=fps or 25.0)
    where = None
    if glosses is not None:
        poses = GlossSequence(tuple([glosses] if isinstance(glosses, str) else glosses),
                              lexicon or "fingerspelling", language)
    elif isinstance(poses, (str, Path)):
        where = Path(poses)
        if where.is_file() and where.suffix.lower() in _VIDEO_INPUTS:
            from .pose.extract import extract_video

            with _no_person_warning_silenced():  # an empty motion is an error below
                poses = extract_video(where, progress=progress)
        else:
            poses = pose_io.read_sequence(where)
    if isinstance(poses, GlossSequence):
        from .pose.stitch import glosses_to_track

        items = poses.glosses[0] if len(poses.glosses) == 1 else list(poses.glosses)
        track = glosses_to_track(items, lexicon or poses.lexicon, signed_language or language or poses.language,
                                 fps=fps or 25.0, fingerspell_unknown=fingerspell_unknown)
    elif isinstance(poses, PoseTrack):
        track = poses
    else:
        raise InputError(f"poses must be a path, a PoseTrack or a GlossSequence, got {type(poses).__name__}")
    if track.num_frames == 0:
        raise InputError("the motion is empty (no frames)", where)
    if not (track.conf > 0).any():
        raise InputError("the motion is empty (no keypoint is visible in any frame)", where)
    if fps is not None and abs(fps - track.fps) > 1e-6:
        from .pose.filters import resample

        track = resample(track, fps)
    return track.canonical()


@contextmanager
def _no_person_warning_silenced() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*no person found.*")
        yield


def fit_motion(track: PoseTrack, image: np.ndarray, source_path: str | None, retarget: bool) -> PoseTrack:
    """The motion in the source picture's pixels: retargeted onto the person found in it, or
    (retarget=False) its own coordinates rescaled per axis to the picture's size."""
    h, w = image.shape[:2]
    if retarget:
        from .pose.extract import detect_person
        from .pose.retarget import retarget as fit

        with _no_person_warning_silenced():  # no person is an error just below
            person = detect_person(image)
        if person is None:
            raise InputError("no person found in the source image; pass --no-retarget (retarget=False) "
                             "to use the motion's own coordinates", source_path)
        return fit(track, person, w, h)
    t = track.canonical()
    if (t.width, t.height) == (w, h):
        return t
    xy = t.xy * np.array([w / t.width, h / t.height], np.float32)
    return t.copy(xy=xy.astype(np.float32), width=w, height=h)


def _check_output(output: str | Path, suffixes: tuple[str, ...]) -> Path:
    from .pose.io import check_output_path

    return check_output_path(output, suffixes)


def render_settings(**kw: Any):
    from .rendering.pipeline import Settings

    s = Settings(**{k: v for k, v in kw.items() if v is not None})
    s.check()
    return s


@contextmanager
def progress_bar(enabled: bool | Callable[[str, int, int], None]) -> Iterator[Any]:
    """A rich progress bar on stderr over denoising steps and written frames; yields the
    `progress(what, done, total)` callback (None when disabled). A callable is used as that
    callback itself (a web page's progress bar)."""
    if callable(enabled):
        yield enabled
        return
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TimeRemainingColumn(), console=Console(stderr=True), transient=False)
    tasks: dict[str, Any] = {}

    def update(what: str, done: int, total: int) -> None:
        if what not in tasks:
            tasks[what] = bar.add_task("denoising steps" if what == "steps" else "frames", total=total)
        bar.update(tasks[what], completed=done, total=total)

    with bar:
        yield update


# ---- render ----------------------------------------------------------------------------------

def render(
    source: str | Path | np.ndarray,
    poses: str | Path | PoseTrack | GlossSequence | None = None,
    *,
    glosses: str | Sequence[str] | None = None,
    lexicon: str | None = None,
    language: str | None = None,
    text: str | None = None,
    signed_language: str | None = None,
    fingerspell_unknown: bool = False,
    output: str | Path | None = None,
    model: str | Path | None = None,
    steps: int | None = None,
    guidance: float | None = None,
    fusion_guidance: float | None = None,
    seed: int = 0,
    device: str = "auto",
    noise: str = "shared",
    smoothing: float = 0.5,
    retarget: bool = True,
    side_by_side: bool = False,
    fps: float | None = None,
    progress: bool | Callable[[str, int, int], None] = True,
    track_output: str | Path | None = None,
    window: int | None = None,
    batch_size: int | None = None,
    renderer: Any = None,
) -> Path | Iterator[np.ndarray]:
    """A video of the person in `source` doing the motion (`poses`, or `glosses` via a lexicon,
    or spoken-language `text`: `language` is then the text's, e.g. "de", and `signed_language`
    the lexicon's, e.g. "gsg"; `fingerspell_unknown` spells what the lexicon lacks).

    With `output` (.mp4, .webm, .gif) the frames stream into that file, which appears only when
    complete, and its path is returned; without, an iterator of RGB uint8 frames. `steps` and
    `guidance` default to the model's own; `fusion_guidance` weighs FPDM's fusion term on its
    own (None: the same as `guidance`, which needs one UNet branch less). `noise="shared"` starts every frame from the same
    noise and `smoothing` (0 = off) blends latents along time at the noisy steps: both keep
    appearance from flickering. `side_by_side` gives source | pose | result, 3x as wide. The
    same seed gives the same frames on the same device. `progress` shows a rich bar on stderr
    while writing `output` (the iterator form shows none), or is called as `progress(what, done,
    total)`. `track_output` (.pose, .json, .npz) also writes the motion as rendered, fitted to
    the signer (a .pose as MediaPipe Holistic, which other tools read). `renderer` reuses a loaded
    `signgen.rendering.pipeline.Renderer` (then `model`/`device` are ignored).
    """
    from .models.device import pick_device
    from .pose import io as pose_io
    from .rendering.pipeline import Renderer, resolve_model
    from .rendering.sampler import NOISE_MODES
    from .video import FORMATS

    out = _check_output(output, FORMATS) if output is not None else None
    track_out = _check_output(track_output, pose_io.TRACK_SUFFIXES) if track_output is not None else None
    if noise not in NOISE_MODES:
        raise InputError(f"noise must be one of {', '.join(NOISE_MODES)}, got {noise!r}")
    settings = render_settings(steps=steps, guidance=guidance, fusion_guidance=fusion_guidance, seed=seed,
                               noise=noise, smoothing=smoothing, window=window, batch_size=batch_size)
    image, source_path = load_source(source)
    if renderer is None:
        model_dir, dev = resolve_model(model), pick_device(device)
    track = load_motion(poses, glosses=glosses, lexicon=lexicon, language=language, fps=fps, progress=progress,
                        text=text, signed_language=signed_language, fingerspell_unknown=fingerspell_unknown)
    track = fit_motion(track, image, source_path, retarget)
    if track_out is not None and out is None:
        pose_io.write_track(track, track_out)
    if renderer is None:
        renderer = Renderer.load(model_dir, dev)
    out_fps = track.fps

    def frames(update) -> Iterator[np.ndarray]:
        result = renderer.render_video(image, track, settings, progress=update)
        if not side_by_side:
            yield from result
            return
        from .pose.draw import draw_pose
        from .rendering.pipeline import side_by_side as compose

        for t, frame in enumerate(result):
            drawn = draw_pose(track.xy[t], track.conf[t], track.width, track.height)
            yield compose(image, drawn, frame)

    if out is None:
        return frames(None)
    from .video import write_video

    with progress_bar(progress) as update:
        write_video(frames(update), out, out_fps)
    if track_out is not None:  # after the video: a failed render leaves neither file
        pose_io.write_track(track, track_out)
    return out


# ---- synthesize ------------------------------------------------------------------------------

def sample_paths(output: str | Path, num_samples: int) -> list[Path]:
    """Where `synthesize` writes: `output` itself for one sample, else out-0.png, out-1.png, ..."""
    output = Path(output)
    if num_samples == 1:
        return [output]
    return [output.with_name(f"{output.stem}-{i}{output.suffix}") for i in range(num_samples)]


def _encode_image(image: np.ndarray, suffix: str) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    fmt = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}[suffix.lower()]
    Image.fromarray(image).save(buf, format=fmt, **({"quality": 95} if fmt != "PNG" else {}))
    return buf.getvalue()


def synthesize(
    source: str | Path | np.ndarray,
    pose: str | Path | PoseTrack,
    *,
    num_samples: int = 1,
    output: str | Path | None = None,
    frame: int = 0,
    model: str | Path | None = None,
    steps: int | None = None,
    guidance: float | None = None,
    seed: int = 0,
    device: str = "auto",
    retarget: bool = True,
    progress: bool = True,
    renderer: Any = None,
) -> list[np.ndarray]:
    """`num_samples` pictures of the person in `source` in one target `pose` (frame `frame` of a
    track file; the DeepFashion single-image path). Samples differ by their noise only.

    With `output` (.png, .jpg, .webp) one sample is written there, several as out-0.png,
    out-1.png, ... (each atomically). Returns the pictures (RGB uint8, the source's size).
    """
    from .models.device import pick_device
    from .rendering.pipeline import Renderer, resolve_model

    if int(num_samples) != num_samples or num_samples < 1:
        raise InputError(f"--num-samples must be a whole number >= 1, got {num_samples}")
    paths = sample_paths(_check_output(output, IMAGE_OUTPUTS), num_samples) if output is not None else []
    settings = render_settings(steps=steps, guidance=guidance, seed=seed)
    image, source_path = load_source(source)
    if renderer is None:
        model_dir, dev = resolve_model(model), pick_device(device)
    track = load_motion(pose)
    if not 0 <= frame < track.num_frames:
        raise InputError(f"frame {frame} is outside the track's {track.num_frames} frames", pose if isinstance(pose, (str, Path)) else None)
    target = fit_motion(track.frame(frame), image, source_path, retarget)
    if renderer is None:
        renderer = Renderer.load(model_dir, dev)
    with progress_bar(progress) as update:
        pictures = renderer.synthesize(image, target, int(num_samples), settings, progress=update)
    for path, picture in zip(paths, pictures):
        atomic_write_bytes(path, _encode_image(picture, path.suffix))
    return pictures
