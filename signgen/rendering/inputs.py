"""The inputs of a render, loaded and checked before any model work: the source picture, the
motion (a track, a driving video or glosses), and the motion fitted to the picture."""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..errors import InputError
from ..pose.io import GlossSequence
from ..pose.track import PoseTrack

VIDEO_INPUTS = (".mp4", ".webm", ".avi", ".mov", ".mkv")


def load_source(source: str | Path | np.ndarray) -> tuple[np.ndarray, str | None]:
    """(RGB uint8 picture, its path or None) from a file or an array; InputError on anything else."""
    from ..base.images import as_rgb, read_image

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
    from ..pose import io as pose_io

    if sum(m is not None for m in (poses, glosses, text)) != 1:
        raise InputError("give exactly one motion: poses (a track, gloss file or driving video), glosses or text")
    if fps is not None and not fps > 0:
        raise InputError(f"fps must be > 0, got {fps}")
    if text is not None:
        from ..pose.text import text_to_track

        return text_to_track(text, language or "", lexicon or "fingerspelling", signed_language,
                             fingerspell_unknown=fingerspell_unknown, fps=fps or 25.0)
    where = None
    if glosses is not None:
        poses = GlossSequence(tuple([glosses] if isinstance(glosses, str) else glosses),
                              lexicon or "fingerspelling", language)
    elif isinstance(poses, (str, Path)):
        where = Path(poses)
        if where.is_file() and where.suffix.lower() in VIDEO_INPUTS:
            from ..pose.extract import extract_video

            with _no_person_warning_silenced():  # an empty motion is an error below
                poses = extract_video(where, progress=progress)
        else:
            poses = pose_io.read_sequence(where)
    if isinstance(poses, GlossSequence):
        from ..pose.stitch import glosses_to_track

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
        from ..pose.filters import resample

        track = resample(track, fps)
    return track.canonical()


@contextmanager
def _no_person_warning_silenced() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*no person found.*")
        yield


def _find_person(image: np.ndarray) -> PoseTrack | None:
    """MediaPipe's person in the picture, or None; the caller turns None into its own error."""
    from ..pose.extract import detect_person

    with _no_person_warning_silenced():
        return detect_person(image)


def fit_motion(track: PoseTrack, image: np.ndarray, source_path: str | None, retarget: bool,
               person: PoseTrack | None = None) -> PoseTrack:
    """The motion in the source picture's pixels: retargeted onto the person found in it (or
    `person`, when already found), or (retarget=False) its own coordinates rescaled per axis to
    the picture's size."""
    h, w = image.shape[:2]
    if retarget:
        from ..pose.retarget import retarget as fit

        if person is None:
            person = _find_person(image)
        if person is None:
            raise InputError("no person found in the source image; pass --no-retarget (retarget=False) "
                             "to use the motion's own coordinates", source_path)
        return fit(track, person, w, h)
    t = track.canonical()
    if (t.width, t.height) == (w, h):
        return t
    xy = t.xy * np.array([w / t.width, h / t.height], np.float32)
    return t.copy(xy=xy.astype(np.float32), width=w, height=h)


def picture_person(image: np.ndarray, source_path: str | None) -> PoseTrack:
    """The person in the picture (a one-frame holistic track, as `fit_motion` retargets onto),
    for `keep_static`, which must know what the picture's own pose is."""
    person = _find_person(image)
    if person is None:
        raise InputError("no person found in the source image, so keep_static cannot tell what moves", source_path)
    return person


def sample_paths(output: str | Path, num_samples: int) -> list[Path]:
    """Where `synthesize` writes: `output` itself for one sample, else out-0.png, out-1.png, ..."""
    output = Path(output)
    if num_samples == 1:
        return [output]
    return [output.with_name(f"{output.stem}-{i}{output.suffix}") for i in range(num_samples)]
