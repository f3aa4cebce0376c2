"""OpenPose JSON: output folders (`*_keypoints.json`, one file per frame) and single frames.

BODY_25 or COCO-18 bodies, with optional face (70) and hands (21 + 21), become the
`openpose` layout; an 18-point body alone stays `openpose18` (DeepFashion's keypoints).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from ...errors import InputError
from ..layouts import openpose, openpose18
from ..track import PoseTrack
from ...limits import check_limit
from .checks import arrays_to_track, check_args
from .files import existing, load_json

_OPENPOSE_FILE = re.compile(r"(\d+)_keypoints\.json$")
_OP_PARTS = (  # key, allowed point counts, start index in the "openpose" layout
    ("face_keypoints_2d", (70,), openpose.FACE_START),
    ("hand_left_keypoints_2d", (21,), openpose.LEFT_HAND_START),
    ("hand_right_keypoints_2d", (21,), openpose.RIGHT_HAND_START),
)
_COCO18_IN_BODY25 = [openpose.BODY25.index(n) for n in openpose18.NAMES]


def _op_points(person: dict, key: str, counts: tuple[int, ...], file: Path) -> np.ndarray | None:
    """One flat [x0, y0, c0, x1, ...] array of a person as [N, 3], or None when absent/empty."""
    values = person.get(key)
    if values is None or (isinstance(values, list) and not values):
        return None
    if not isinstance(values, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise InputError(f"people[0].{key} must be a list of numbers", file)
    if len(values) not in [3 * c for c in counts]:
        want = " or ".join(f"{3 * c} ({c} points)" for c in counts)
        raise InputError(f"people[0].{key} has {len(values)} values; expected {want}", file)
    arr = np.asarray(values, dtype=np.float64).reshape(-1, 3)
    if not np.isfinite(arr).all():
        raise InputError(f"people[0].{key} holds a NaN or infinite value", file)
    if ((arr[:, 2] < 0) | (arr[:, 2] > 1)).any():
        raise InputError(f"people[0].{key} has a confidence outside [0, 1]", file)
    return arr


def openpose_frames(
    docs: list[tuple[Path | None, dict | None]], path: Path, *, fps: float | None,
    width: int | None, height: int | None,
) -> PoseTrack:
    """OpenPose frames (a missing file is (None, None): all points missing) -> one track."""
    T = len(docs)
    out = np.zeros((T, len(openpose.NAMES), 3), np.float64)
    body_counts: set[int] = set()
    extras = False
    crowded = 0
    for t, (file, doc) in enumerate(docs):
        if doc is None:
            continue
        people = doc.get("people") if isinstance(doc, dict) else None
        if not isinstance(people, list):
            raise InputError('not an OpenPose keypoints file: no "people" list', file)
        if not people:
            continue
        crowded += len(people) > 1
        person = people[0]
        if not isinstance(person, dict):
            raise InputError("people[0] must be an object", file)
        body = _op_points(person, "pose_keypoints_2d", (18, 25), file)
        if body is not None:
            body_counts.add(len(body))
            if len(body_counts) > 1:
                raise InputError("frames mix 18-point and 25-point bodies", file)
            if len(body) == 25:
                out[t, :25] = body
            else:
                out[t, _COCO18_IN_BODY25] = body
        for key, counts, start in _OP_PARTS:
            part = _op_points(person, key, counts, file)
            if part is not None:
                extras = True
                out[t, start : start + len(part)] = part
    if crowded:
        warnings.warn(f"{path}: {crowded} frame(s) hold several people; using the first in each", stacklevel=3)
    layout = "openpose18" if body_counts == {18} and not extras else "openpose"
    if layout == "openpose18":
        out = out[:, _COCO18_IN_BODY25]
    # OpenPose marks a missing point as (0, 0, 0): conf 0 already says so.
    return arrays_to_track(
        out[..., :2], out[..., 2], path, layout=layout, fps=fps, width=width, height=height,
        meta={"format": "openpose"},
    )


MAX_ZIP_MEMBERS = 200_000


def _by_frame(names: list[str], where: Path) -> tuple[dict[int, str], int, int]:
    """Frame number -> file name (numbered `..._000012_keypoints.json`), first and last frame;
    a span beyond max_frames or a gap wider than max_frame_gap is refused."""
    numbered: dict[int, str] = {}
    for name in names:
        m = _OPENPOSE_FILE.search(name)
        if m is None:
            raise InputError("no frame number before _keypoints.json; cannot order the frames", where / name)
        n = int(m.group(1))
        if n in numbered:
            raise InputError(f"two files for frame {n}: {Path(numbered[n]).name} and {Path(name).name}", where)
        numbered[n] = name
    first, last = min(numbered), max(numbered)
    check_limit("max_frames", last - first + 1, where, f"frame numbers {first}..{last} span")
    order = sorted(numbered)
    widest = max((b - a - 1 for a, b in zip(order, order[1:])), default=0)
    check_limit("max_frame_gap", widest, where, "a gap in the frame numbering")
    gaps = (last - first + 1) - len(numbered)
    if gaps:
        warnings.warn(f"{where}: {gaps} frame file(s) missing in the numbering; those frames are empty", stacklevel=3)
    return numbered, first, last


def read_openpose(
    folder: str | Path, fps: float | None = None, width: int | None = None, height: int | None = None
) -> PoseTrack:
    """Read an OpenPose output folder (`*_keypoints.json`, one per frame) as one track.

    Files are ordered by the frame number before `_keypoints.json`; a gap in the numbering
    becomes frames with every point missing (with a warning), so timing is kept; a gap wider
    than the max_frame_gap limit, or a span beyond max_frames, is refused. Every file must be a
    regular file inside the folder (a symbolic link out of it, a FIFO or a device is refused). The first
    person of each frame is taken. Bodies of 18 points with no face/hands give layout
    `openpose18`, anything else `openpose` (BODY_25 + face 70 + hands 21+21). fps defaults to
    25 and the frame size to the largest coordinate when not given.
    """
    folder = existing(folder)
    check_args(None, fps, width, height)
    files = sorted(f.name for f in folder.glob("*_keypoints.json"))
    if not files:
        raise InputError("no OpenPose *_keypoints.json files in the folder", folder)
    numbered, first, last = _by_frame(files, folder)
    docs = [
        (folder / numbered[n], load_json(folder / numbered[n], inside=folder)) if n in numbered else (None, None)
        for n in range(first, last + 1)
    ]
    track = openpose_frames(docs, folder, fps=fps, width=width, height=height)
    track.meta["first_frame"] = first
    return track


def read_openpose_zip(
    path: str | Path, fps: float | None = None, width: int | None = None, height: int | None = None
) -> PoseTrack:
    """An OpenPose output folder handed in as one `.zip` (as a web page upload is): its
    `*_keypoints.json` members (at any depth), read like `read_openpose` without unpacking.

    The archive is data someone else made: the declared member sizes are checked against the
    max_file_bytes limit (in total) before anything is decompressed, and nothing is written to disk."""
    import io
    import zipfile

    from . import files as _files

    path = existing(path)
    check_args(None, fps, width, height)
    raw_zip = _files.read_checked(path, what="zip file size")  # a regular file, within the limit
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw_zip))
    except (zipfile.BadZipFile, OSError) as e:
        raise InputError(f"not a readable zip file ({e})", path) from None
    with archive:
        members = {i.filename: i for i in archive.infolist()
                   if not i.is_dir() and _OPENPOSE_FILE.search(i.filename) and "__MACOSX" not in i.filename}
        if not members:
            raise InputError("no OpenPose *_keypoints.json files in the zip", path)
        if len(members) > MAX_ZIP_MEMBERS:
            raise InputError(f"the zip holds {len(members)} keypoint files (at most {MAX_ZIP_MEMBERS})", path)
        check_limit("max_file_bytes", sum(i.file_size for i in members.values()), path,
                    "keypoint files unpacked from the zip")
        numbered, first, last = _by_frame(sorted(members), path)
        docs = []
        for n in range(first, last + 1):
            if n not in numbered:
                docs.append((None, None))
                continue
            where = path / numbered[n]
            try:
                raw = archive.read(members[numbered[n]])
            except (zipfile.BadZipFile, OSError, RuntimeError) as e:  # corrupt, encrypted
                raise InputError(f"cannot read {numbered[n]} from the zip ({e})", path) from None
            docs.append((where, _files.parse_json(_files.decode_utf8(raw, where), where)))
    track = openpose_frames(docs, path, fps=fps, width=width, height=height)
    track.meta["first_frame"] = first
    return track
