"""The Python API: `signgen.render(...)` (a video) and `signgen.synthesize(...)` (pictures).

Both check everything cheap first (output path, settings, source picture, model folder,
motion), so a mistake fails in a second with one clear line, before a model is loaded or a
frame rendered; output files appear only when complete. The CLI commands call these. The work
itself is `signgen.rendering`: `inputs` (loading), `settings`, `pipeline` (the model).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .pose.io import GlossSequence
from .pose.track import PoseTrack

__all__ = ["render", "synthesize"]


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
    sampler: str | None = None,
    precision: str | None = None,
    seed: int | None = None,
    device: str = "auto",
    noise: str | None = None,
    smoothing: float | None = None,
    retarget: bool = True,
    side_by_side: bool = False,
    fps: float | None = None,
    progress: bool | Callable[[str, int, int], None] = True,
    track_output: str | Path | None = None,
    window: int | None = None,
    batch_size: int | None = None,
    renderer: Any = None,
    keep_static: bool = False,
) -> Path | Iterator[np.ndarray]:
    """A video of the person in `source` doing the motion (`poses`, or `glosses` via a lexicon,
    or spoken-language `text`: `language` is then the text's, e.g. "de", and `signed_language`
    the lexicon's, e.g. "gsg"; `fingerspell_unknown` spells what the lexicon lacks).

    With `output` (.mp4, .webm, .gif) the frames stream into that file, which appears only when
    complete, and its path is returned; without, an iterator of RGB uint8 frames. Sampling
    options left at None take their defaults (`signgen.rendering.settings.Settings`; `steps`
    and `guidance` the model's own; `sampler` one of ddpm, ddim, dpm++, unipc; `precision` auto,
    fp32, bf16 or fp16 for the UNet). `fusion_guidance` weighs FPDM's fusion term on its own
    (None: the same as `guidance`, which needs one UNet branch less). `noise="shared"` starts
    every frame from the same noise and `smoothing` (0 = off) blends latents along time at the
    noisy steps: both keep appearance from flickering. `side_by_side` gives source | pose |
    result, 3x as wide. The same seed gives the same frames on the same device. `progress`
    shows a rich bar on stderr while writing `output` (the iterator form shows none), or is
    called as `progress(what, done, total)`. `track_output` (.pose, .json, .npz) also writes the
    motion as rendered, fitted to the signer (a .pose as MediaPipe Holistic, which other tools
    read). `renderer` reuses a loaded `signgen.rendering.pipeline.Renderer` (then `model`/`device`
    are ignored). `keep_static` generates only where the source's and the frame's arms and
    hands are (and the face when it moves) and keeps the picture elsewhere (`rendering.static`;
    the picture's pose is found with MediaPipe, so it needs a person in it).
    """
    from .base.files import check_output_path
    from .base.progress import progress_updates
    from .models.device import pick_device
    from .pose import io as pose_io
    from .rendering.inputs import fit_motion, load_motion, load_source, picture_person
    from .rendering.pipeline import Renderer, resolve_model, side_by_side_frames
    from .rendering.settings import Settings
    from .video import FORMATS, write_video

    out = check_output_path(output, FORMATS) if output is not None else None
    track_out = check_output_path(track_output, pose_io.TRACK_SUFFIXES) if track_output is not None else None
    settings = Settings.given(steps=steps, guidance=guidance, fusion_guidance=fusion_guidance, sampler=sampler,
                              precision=precision, seed=seed, noise=noise, smoothing=smoothing, window=window,
                              batch_size=batch_size, keep_static=keep_static or None)
    image, source_path = load_source(source)
    if renderer is None:
        model_dir, dev = resolve_model(model), pick_device(device)
    track = load_motion(poses, glosses=glosses, lexicon=lexicon, language=language, fps=fps, progress=progress,
                        text=text, signed_language=signed_language, fingerspell_unknown=fingerspell_unknown)
    person = picture_person(image, source_path) if keep_static else None  # found once, used twice
    track = fit_motion(track, image, source_path, retarget, person)
    pose_of_source = None
    if person is not None:
        c = person.canonical()
        pose_of_source = (c.xy[0], c.conf[0])
    if track_out is not None and out is None:
        pose_io.write_track(track, track_out)
    if renderer is None:
        renderer = Renderer.load(model_dir, dev)

    def frames(update) -> Iterator[np.ndarray]:
        result = renderer.render_video(image, track, settings, progress=update, source_pose=pose_of_source)
        return side_by_side_frames(image, track, result) if side_by_side else result

    if out is None:
        return frames(None)
    with progress_updates(progress) as update:
        write_video(frames(update), out, track.fps)
    if track_out is not None:  # after the video: a failed render leaves neither file
        pose_io.write_track(track, track_out)
    return out


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
    sampler: str | None = None,
    precision: str | None = None,
    seed: int | None = None,
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
    from .base.files import atomic_write_bytes, check_output_path
    from .base.images import IMAGE_OUTPUTS, encode_image
    from .base.progress import progress_updates
    from .errors import InputError
    from .models.device import pick_device
    from .rendering.inputs import fit_motion, load_motion, load_source, sample_paths
    from .rendering.pipeline import Renderer, resolve_model
    from .rendering.settings import Settings

    if int(num_samples) != num_samples or num_samples < 1:
        raise InputError(f"--num-samples must be a whole number >= 1, got {num_samples}")
    paths = sample_paths(check_output_path(output, IMAGE_OUTPUTS), num_samples) if output is not None else []
    settings = Settings.given(steps=steps, guidance=guidance, sampler=sampler, precision=precision, seed=seed)
    image, source_path = load_source(source)
    if renderer is None:
        model_dir, dev = resolve_model(model), pick_device(device)
    track = load_motion(pose)
    if not 0 <= frame < track.num_frames:
        raise InputError(f"frame {frame} is outside the track's {track.num_frames} frames",
                         pose if isinstance(pose, (str, Path)) else None)
    target = fit_motion(track.frame(frame), image, source_path, retarget)
    if renderer is None:
        renderer = Renderer.load(model_dir, dev)
    with progress_updates(progress) as update:
        pictures = renderer.synthesize(image, target, int(num_samples), settings, progress=update)
    for path, picture in zip(paths, pictures):
        atomic_write_bytes(path, encode_image(picture, path.suffix))
    return pictures
