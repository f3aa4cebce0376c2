"""Reading and writing keypoint tracks in every format signgen accepts.

Formats: `.pose` (pose-format, `posefile`), signgen JSON (`seq.json`: a track or a gloss
sequence, validated against `schema/seq.schema.json`, `jsonseq`), OpenPose JSON folders
(`*_keypoints.json`, one file per frame, `openpose`), and `.npy` / `.npz` arrays (`arrays`).
Every reader returns a `PoseTrack` (or, for a gloss sequence, a `GlossSequence`) and raises
`InputError` naming the file on bad input; every writer is atomic (`files`). `read_track` /
`write_track` here pick the format by extension.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...base.files import check_output_path as _check_output_path
from ...errors import InputError
from .. import skeleton
from ..track import PoseTrack
from .arrays import read_npy, read_npz, write_npy, write_npz
from .checks import MAX_COORD, MAX_SIZE, check_args
from .files import MAX_FILE_BYTES, atomic_write_bytes, existing  # the default; SIGNGEN_MAX_FILE_BYTES raises it
from .jsonseq import GlossSequence, read_json, write_gloss_sequence, write_json_track
from .openpose import read_openpose, read_openpose_zip
from .posefile import default_pose_layout, read_pose, write_pose
from .schema import seq_schema

__all__ = [
    "MAX_COORD", "MAX_FILE_BYTES", "MAX_SIZE", "TRACK_SUFFIXES", "GlossSequence", "PoseTrack",
    "atomic_write_bytes", "check_output_path", "default_pose_layout", "read_json", "read_npy", "read_npz", "read_openpose", "read_openpose_zip",
    "read_pose", "read_sequence", "read_track", "seq_schema", "write_gloss_sequence",
    "write_json_track", "write_npy", "write_npz", "write_pose", "write_track",
]

TRACK_SUFFIXES = (".pose", ".json", ".npy", ".npz")
_SUPPORTED = ".pose, .json, .npy, .npz, or a folder of OpenPose *_keypoints.json files (or a .zip of one)"


def check_output_path(path: str | Path, suffixes: tuple[str, ...] = TRACK_SUFFIXES) -> Path:
    """`signgen.base.files.check_output_path` with the track formats as the default suffixes."""
    return _check_output_path(path, suffixes)


def read_track(
    path: str | Path, layout: str | None = None, fps: float | None = None,
    width: int | None = None, height: int | None = None,
) -> PoseTrack:
    """Read a keypoint track in any supported format, chosen by extension (or a folder: OpenPose).

    `layout` names the layout of the stored points; it is needed only when the file does not
    say and the point count does not tell, and must agree with a file that does say. `fps`,
    `width`, `height` override what the file stores (and fill in what it lacks).
    """
    path = existing(path)
    layout = check_args(layout, fps, width, height)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return read_npy(path, layout=layout, fps=fps, width=width, height=height)
    if suffix == ".npz":
        return read_npz(path, layout=layout, fps=fps, width=width, height=height)
    if path.is_dir():
        track = read_openpose(path, fps=fps, width=width, height=height)
    elif suffix == ".zip":
        track = read_openpose_zip(path, fps=fps, width=width, height=height)
    elif suffix == ".pose":
        track = read_pose(path)
    elif suffix == ".json":
        track = read_json(path)
        if isinstance(track, GlossSequence):
            raise InputError(
                "is a gloss sequence, not a keypoint track; make a track from it with "
                "`signgen pose from-glosses` (signgen.pose.lexicon.glosses_to_track)", path,
            )
    else:
        from ..extract import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

        media = suffix in IMAGE_EXTENSIONS + VIDEO_EXTENSIONS
        hint = "; to get keypoints from an image or a video, run `signgen pose extract`" if media else ""
        raise InputError(f"unknown track format {suffix or '(no extension)'!r}; supported: {_SUPPORTED}{hint}", path)
    if layout is not None and layout != track.layout:
        raise InputError(
            f"the file holds layout {track.layout}, but layout {layout} was given as its layout "
            "(to convert it, use --layout / track.to_layout)", path,
        )
    changes = {k: v for k, v in (("fps", fps), ("width", width), ("height", height)) if v is not None}
    return track.copy(**changes) if changes else track


def read_sequence(path: str | Path, **kw: Any) -> PoseTrack | GlossSequence:
    """A motion as a user hands it in: a gloss sequence (JSON with "glosses") or any keypoint
    track (keyword arguments as for `read_track`)."""
    path = existing(path)
    if path.is_file() and path.suffix.lower() == ".json":
        seq = read_json(path)
        if isinstance(seq, GlossSequence):
            return seq
    return read_track(path, **kw)


_WRITERS = {".json": write_json_track, ".npy": write_npy, ".npz": write_npz}


def write_track(track: PoseTrack, path: str | Path, layout: str | None = None) -> PoseTrack:
    """Write a track in the format its extension names (.pose, .json, .npy, .npz), atomically,
    in `layout` (None: the track's own; a `.pose` file: the one other tools read, see
    `posefile.default_pose_layout`). Returns the track as written (its layout is the file's)."""
    path = check_output_path(path)
    suffix = path.suffix.lower()
    target = layout if layout is not None else default_pose_layout(track.layout) if suffix == ".pose" else track.layout
    if skeleton.get_layout(target).name != track.layout:
        track = track.to_layout(target)
    if suffix == ".pose":
        write_pose(track, path, track.layout)
    else:
        _WRITERS[suffix](track, path)
    return track
