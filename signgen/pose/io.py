"""Reading and writing keypoint tracks in every format signgen accepts.

Formats: `.pose` (pose-format), signgen JSON (`seq.json`: a track or a gloss sequence,
validated against `schema/seq.schema.json`), OpenPose JSON folders (`*_keypoints.json`,
one file per frame), and `.npy` / `.npz` arrays. Every reader returns a `PoseTrack` (or,
for a gloss sequence, a `GlossSequence`) and raises `InputError` naming the file on bad
input; every writer is atomic. `read_track` / `write_track` pick the format by extension.
"""

from __future__ import annotations

import io as _io
import json
import math
import os
import re
import tempfile
import warnings
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from . import skeleton
from .layouts import holistic, openpose, openpose18
from .track import PoseTrack

# Our non-holistic layouts go into a .pose file as one component named like this.
_COMPONENT_PREFIX = "SIGNGEN_"


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write a file so that it is either absent or complete: temp file in the same folder, then rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _holistic_from_components(header, data: np.ndarray, conf: np.ndarray, path) -> tuple[np.ndarray, np.ndarray]:
    """Assemble the 553-point holistic layout from a pose-format file's components, by name."""
    T = data.shape[0]
    xy = np.zeros((T, len(holistic.NAMES), 2), dtype=np.float32)
    c = np.zeros((T, len(holistic.NAMES)), dtype=np.float32)
    starts = {
        "POSE_LANDMARKS": holistic.POSE_START,
        "FACE_LANDMARKS": holistic.FACE_START,
        "LEFT_HAND_LANDMARKS": holistic.LEFT_HAND_START,
        "RIGHT_HAND_LANDMARKS": holistic.RIGHT_HAND_START,
    }
    offset = 0
    for comp in header.components:
        n = len(comp.points)
        if comp.name in starts:
            want = dict(holistic.COMPONENTS)[comp.name]
            take = min(n, want)
            s = starts[comp.name]
            xy[:, s : s + take] = data[:, offset : offset + take, :2]
            c[:, s : s + take] = conf[:, offset : offset + take]
        offset += n
    return xy, c


def read_pose(path: str | Path) -> PoseTrack:
    """Read a pose-format `.pose` file.

    Holistic files (POSE/FACE/LEFT_HAND/RIGHT_HAND_LANDMARKS) become the `holistic` layout;
    files we wrote ourselves come back in their own layout. Masked values get confidence 0.
    When a file holds several people, the first is taken, with a warning. The z coordinate,
    when present, is kept in `meta["z"]` ([T, K]).
    """
    from pose_format import Pose

    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read pose file ({e.strerror})", path) from None
    try:
        pose = Pose.read(raw)
    except Exception as e:  # pose-format raises assorted errors on corrupt input
        raise InputError(f"not a readable .pose file ({type(e).__name__}: {e})", path) from None

    data = pose.body.data
    mask = np.ma.getmaskarray(data)
    arr = np.ma.getdata(data).astype(np.float32)  # [T, P, K, D]
    conf = np.asarray(pose.body.confidence, dtype=np.float32)  # [T, P, K]
    if arr.ndim != 4 or arr.shape[0] == 0:
        raise InputError("the .pose file has no frames", path)
    if arr.shape[1] > 1:
        warnings.warn(f"{path}: {arr.shape[1]} people in the file; using the first", stacklevel=2)
    arr, conf, mask = arr[:, 0], conf[:, 0], mask[:, 0]
    conf = np.where(mask.any(axis=-1), 0.0, conf).astype(np.float32)
    conf = np.where(np.isfinite(arr).all(axis=-1), conf, 0.0).astype(np.float32)
    arr = np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0)

    names = [c.name for c in pose.header.components]
    dims = pose.header.dimensions
    width, height = int(dims.width) or 1, int(dims.height) or 1
    fps = float(pose.body.fps) if pose.body.fps and pose.body.fps > 0 else 25.0
    if "POSE_LANDMARKS" in names or "LEFT_HAND_LANDMARKS" in names:
        xy, c = _holistic_from_components(pose.header, arr, conf, path)
        z_src = arr[..., 2] if arr.shape[-1] > 2 else None
        layout = "holistic"
        z = None
        if z_src is not None:
            z3 = np.concatenate([z_src[..., None], np.zeros_like(z_src[..., None])], axis=-1)
            z = _holistic_from_components(pose.header, z3, conf, path)[0][..., 0]
    elif len(names) == 1 and names[0].startswith(_COMPONENT_PREFIX):
        layout = names[0][len(_COMPONENT_PREFIX):].lower()
        try:
            skeleton.get_layout(layout)
        except KeyError:
            raise InputError(f"unknown signgen layout {layout!r} in the file", path) from None
        xy, c = arr[..., :2], conf
        z = arr[..., 2] if arr.shape[-1] > 2 else None
    else:
        raise InputError(
            f"unsupported .pose components {names}; expected MediaPipe Holistic landmarks", path
        )
    meta = {"source": str(path)}
    if z is not None:
        meta["z"] = z.astype(np.float32)
    return PoseTrack(xy=xy, conf=c, fps=fps, width=width, height=height, layout=layout, meta=meta)


def write_pose(track: PoseTrack, path: str | Path) -> None:
    """Write a `.pose` file (atomically). Holistic tracks use pose-format's standard holistic
    components, so other tools read them; other layouts are one `SIGNGEN_<LAYOUT>` component."""
    from pose_format import Pose
    from pose_format.numpy import NumPyPoseBody
    from pose_format.pose_header import PoseHeader, PoseHeaderComponent, PoseHeaderDimensions
    from pose_format.utils.holistic import holistic_components

    z = track.meta.get("z")
    z = np.zeros(track.conf.shape, np.float32) if z is None else np.asarray(z, np.float32)
    data = np.concatenate([track.xy, z[..., None]], axis=-1)
    conf = track.conf
    if track.layout == "holistic":
        comps = holistic_components("XYZC", additional_face_points=holistic.FACE_POINTS - 468)[:4]
    else:
        layout = skeleton.get_layout(track.layout)
        comps = [
            PoseHeaderComponent(
                name=_COMPONENT_PREFIX + layout.name.upper(),
                points=list(layout.names), limbs=[], colors=[(255, 255, 255)], point_format="XYZC",
            )
        ]
    header = PoseHeader(
        version=0.2, dimensions=PoseHeaderDimensions(width=track.width, height=track.height, depth=0),
        components=comps,
    )
    mask = np.repeat((conf <= 0)[..., None], 3, axis=-1)
    body = NumPyPoseBody(
        fps=track.fps,
        data=np.ma.masked_array(data[:, None], mask=mask[:, None]),
        confidence=conf[:, None],
    )
    buf = _io.BytesIO()
    Pose(header, body).write(buf)
    atomic_write_bytes(path, buf.getvalue())


# --------------------------------------------------------------------------- common

MAX_FILE_BYTES = 512 * 1024 * 1024
"""JSON files above this are refused before parsing: json builds the whole document in memory."""
MAX_SIZE = 16384
"""Largest frame width/height accepted; beyond it a size is a unit mix-up, not a video."""
MAX_COORD = 1e6
TRACK_SUFFIXES = (".pose", ".json", ".npy", ".npz")
_SUPPORTED = ".pose, .json, .npy, .npz, or a folder of OpenPose *_keypoints.json files"
_HOLISTIC_NO_IRIS = len(holistic.NAMES) - 10  # 543: a 468-point face mesh, as older tools write it


@dataclass(frozen=True)
class GlossSequence:
    """Glosses to be turned into a track by a lexicon (`signgen.pose.lexicon.glosses_to_track`)."""

    glosses: tuple[str, ...]
    lexicon: str = "fingerspelling"
    language: str | None = None


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputError("no such file", path)
    return path


def check_output_path(path: str | Path, suffixes: tuple[str, ...] = TRACK_SUFFIXES) -> Path:
    """Fail early (before any work) if `path` cannot be written: unknown extension or missing folder."""
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise InputError(
            f"unknown output format {path.suffix or '(no extension)'!r}; supported: {', '.join(suffixes)}", path
        )
    if path.is_dir():
        raise InputError("is a folder; give a file name", path)
    if not path.parent.is_dir():
        raise InputError(f"output folder {str(path.parent)!r} does not exist", path)
    return path


def _check_args(
    layout: str | None, fps: float | None, width: int | None, height: int | None, path: Path | None = None
) -> str | None:
    """Validate the optional overrides a caller passes to a reader; return the layout's real name."""
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise InputError(f"fps must be > 0, got {fps}", path)
    for name, v in (("width", width), ("height", height)):
        if v is not None and not (1 <= v <= MAX_SIZE):
            raise InputError(f"{name} must be in 1..{MAX_SIZE}, got {v}", path)
    if layout is None:
        return None
    try:
        return skeleton.get_layout(layout).name
    except KeyError as e:
        raise InputError(str(e.args[0]), path) from None


def _pad_iris(xy: np.ndarray, conf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """543-point holistic (468-point face) -> 553 points, the 10 iris points missing."""
    at = holistic.FACE_START + 468
    T = xy.shape[0]
    xy = np.concatenate([xy[:, :at], np.zeros((T, 10, 2), xy.dtype), xy[:, at:]], axis=1)
    conf = np.concatenate([conf[:, :at], np.zeros((T, 10), conf.dtype), conf[:, at:]], axis=1)
    return xy, conf


def _layout_for(k: int, layout: str | None, path: Path) -> str:
    """The layout of K-point frames: the declared one (checked), or the only one with K points."""
    if layout is not None:
        want = skeleton.get_layout(layout).num_keypoints
        if k == want or (layout == "holistic" and k == _HOLISTIC_NO_IRIS):
            return layout
        extra = f" (or {_HOLISTIC_NO_IRIS} without iris)" if layout == "holistic" else ""
        raise InputError(f"layout {layout} has {want} points{extra}, but the frames have {k}", path)
    if k == _HOLISTIC_NO_IRIS:
        return "holistic"
    matches = [name for name, lay in skeleton.LAYOUTS.items() if lay.num_keypoints == k]
    if len(matches) != 1:
        known = ", ".join(f"{n} ({lay.num_keypoints})" for n, lay in skeleton.LAYOUTS.items())
        what = "matches several layouts" if matches else "matches no layout"
        raise InputError(f"{k} points per frame {what}; give the layout (known: {known})", path)
    return matches[0]


def _infer_size(xy: np.ndarray, conf: np.ndarray, axis: int, name: str, path: Path) -> int:
    """Frame width/height from the largest present coordinate (for formats that do not store it)."""
    vals = xy[..., axis][conf > 0]
    top = float(vals.max()) if vals.size else 0.0
    size = max(1, int(math.ceil(top)))
    if size > MAX_SIZE:
        raise InputError(f"cannot infer the frame {name}: coordinates reach {top:g}; give the {name}", path)
    return size


def _arrays_to_track(
    xy: np.ndarray, conf: np.ndarray, path: Path, *, layout: str | None, fps: float | None,
    width: int | None, height: int | None, meta: dict | None = None,
) -> PoseTrack:
    """Shared tail of the array readers: checks, layout, missing points, size inference."""
    xy = np.asarray(xy, dtype=np.float64)
    conf = np.asarray(conf, dtype=np.float64)
    if xy.shape[0] == 0:
        raise InputError("has zero frames", path)
    if not np.isfinite(conf).all():
        t, k = np.argwhere(~np.isfinite(conf))[0]
        raise InputError(f"frame {t}, point {k}: confidence is {conf[t, k]}", path)
    bad = (conf < 0) | (conf > 1)
    if bad.any():
        t, k = np.argwhere(bad)[0]
        raise InputError(f"frame {t}, point {k}: confidence {conf[t, k]:g} is outside [0, 1]", path)
    finite = np.isfinite(xy).all(axis=-1)
    conf = np.where(finite, conf, 0.0)  # NaN/inf coordinates in arrays mean "missing"
    xy = np.where(finite[..., None], xy, 0.0)
    big = (np.abs(xy) > MAX_COORD).any(axis=-1) & (conf > 0)
    if big.any():
        t, k = np.argwhere(big)[0]
        raise InputError(f"frame {t}, point {k}: coordinate {xy[t, k].tolist()} is absurdly large", path)
    name = _layout_for(xy.shape[1], layout, path)
    xy, conf = xy.astype(np.float32), conf.astype(np.float32)
    if name == "holistic" and xy.shape[1] == _HOLISTIC_NO_IRIS:
        xy, conf = _pad_iris(xy, conf)
    width = width if width is not None else _infer_size(xy, conf, 0, "width", path)
    height = height if height is not None else _infer_size(xy, conf, 1, "height", path)
    meta = {"source": str(path), **(meta or {})}
    return PoseTrack(xy=xy, conf=conf, fps=fps or 25.0, width=width, height=height, layout=name, meta=meta)


# --------------------------------------------------------------------------- signgen JSON


def _load_json(path: Path) -> Any:
    """Parse a JSON file with the standard library, refusing huge files; errors name line and column."""
    return _parse_json(_read_json_text(path), path)


def _read_json_text(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(
                f"file is {size / 2**20:.0f} MB; JSON files above {MAX_FILE_BYTES // 2**20} MB are refused "
                "(use .npz or .pose for long tracks)", path,
            )
        raw = path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read file ({e.strerror})", path) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"not UTF-8 text (bad byte at offset {e.start})", path) from None


def _parse_json(text: str, path: Path) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}", path) from None
    except RecursionError:
        raise InputError("invalid JSON: nested too deeply", path) from None
    except ValueError as e:  # e.g. an integer literal beyond Python's digit limit
        raise InputError(f"invalid JSON: {e}", path) from None


@lru_cache(maxsize=1)
def seq_schema() -> dict:
    """The JSON Schema (draft 2020-12) of `seq.json`, as shipped in signgen/pose/schema/."""
    text = resources.files("signgen.pose").joinpath("schema/seq.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


@lru_cache(maxsize=1)
def _validator():
    import jsonschema

    return jsonschema.Draft202012Validator(seq_schema())


def _where(location) -> str:
    """A jsonschema error path as words: ['frames', 7, 3, 2] -> 'frame 7, point 3, value 2'."""
    parts = list(location)
    if parts[:1] == ["frames"]:
        names = ("frame", "point", "value")
        return ", ".join(f"{n} {i}" for n, i in zip(names, parts[1:])) or "frames"
    return "/".join(str(p) for p in parts) or "top level"


def _schema_check(doc: Any, path: Path) -> None:
    """Validate against the schema; raise the most relevant error as one line."""
    import jsonschema

    error = jsonschema.exceptions.best_match(_validator().iter_errors(doc))
    if error is not None:
        raise InputError(f"{_where(error.absolute_path)}: {error.message}", path)


_LITERALS = re.compile(r"\b(?:true|false|null)\b")


@lru_cache(maxsize=1)
def _frame_validator():
    import jsonschema

    return jsonschema.Draft202012Validator({"$ref": "#/$defs/frame", "$defs": seq_schema()["$defs"]})


def _check_frames(frames: list, path: Path, first: int = 0) -> None:
    """Schema-check frame by frame, stopping at the first bad one (the error path of the reader)."""
    import jsonschema

    for t, frame in enumerate(frames, start=first):
        errors = list(_frame_validator().iter_errors(frame))
        if errors:  # the first bad point, not jsonschema's "most relevant" one
            first_path = min(tuple(e.absolute_path) for e in errors)
            error = jsonschema.exceptions.best_match(e for e in errors if tuple(e.absolute_path) == first_path)
            raise InputError(f"{_where(['frames', t, *error.absolute_path])}: {error.message}", path)


def _track_from_doc(doc: dict, path: Path, text_has_literals: bool) -> PoseTrack:
    """A validated signgen JSON track.

    The schema checks everything but the frames; numpy then checks all frames at once.
    (Schema validation costs ~10 ms per 553-point frame, too slow for long tracks, so it runs
    frame by frame only to locate an error numpy cannot name, or when the file holds
    true/false/null, which numpy would quietly turn into numbers.)
    """
    frames = doc.get("frames")
    if isinstance(frames, list) and not frames:
        raise InputError("has zero frames", path)
    header = dict(doc)
    if isinstance(frames, list):
        header["frames"] = [[[0.0, 0.0, 1.0]]]
    _schema_check(header, path)
    for t, frame in enumerate(frames):
        if not isinstance(frame, list):
            _check_frames(frames[t : t + 1], path, first=t)
        if len(frame) != len(frames[0]):
            raise InputError(f"frame {t} has {len(frame)} points, frame 0 has {len(frames[0])}", path)
    try:  # no dtype given: numpy would parse "1.5" strings as numbers
        arr = np.asarray(frames)
    except (ValueError, TypeError):
        arr = None
    if arr is not None and arr.dtype.kind not in "iuf":
        arr = None
    if arr is None or arr.ndim != 3 or text_has_literals:
        _check_frames(frames, path)
    if arr is None or arr.ndim != 3:  # every frame is schema-valid, so points mix [x, y] and [x, y, conf]
        n0 = len(frames[0][0])
        for t, frame in enumerate(frames):
            for k, p in enumerate(frame):
                if len(p) != n0:
                    raise InputError(
                        f"frame {t}, point {k} has {len(p)} values, frame 0, point 0 has {n0}; "
                        "use [x, y] or [x, y, conf] throughout", path,
                    )
        raise InputError("frames are not a [frames][points][x, y(, conf)] array", path)
    arr = arr.astype(np.float64, copy=False)
    layout = _layout_for(arr.shape[1], skeleton.get_layout(doc.get("layout", "canonical")).name, path)
    if not np.isfinite(arr).all():
        t, k, d = np.argwhere(~np.isfinite(arr))[0]
        raise InputError(f"frame {t}, point {k}: {('x', 'y', 'conf')[d]} is {arr[t, k, d]} (not a finite number)", path)
    xy = arr[..., :2]
    conf = arr[..., 2] if arr.shape[-1] == 3 else np.ones(arr.shape[:2])
    return _arrays_to_track(
        xy, conf, path, layout=layout, fps=doc["fps"], width=int(doc["width"]), height=int(doc["height"]),
    )


def _glosses_from_doc(doc: dict, path: Path) -> GlossSequence:
    if "frames" in doc:
        raise InputError('has both "glosses" and "frames"; a sequence is one or the other', path)
    _schema_check(doc, path)
    g = doc["glosses"]
    glosses = tuple(g.split()) if isinstance(g, str) else tuple(s.strip() for s in g)
    lexicon = doc.get("lexicon", "fingerspelling")
    local = path.parent / lexicon
    if not Path(lexicon).is_absolute() and ("/" in lexicon or os.sep in lexicon or lexicon.startswith(".")):
        lexicon = str(local)  # a folder path in a file is relative to that file
    elif not Path(lexicon).is_absolute() and local.is_dir():
        lexicon = str(local)
    return GlossSequence(glosses=glosses, lexicon=lexicon, language=doc.get("language"))


def read_json(path: str | Path) -> PoseTrack | GlossSequence:
    """Read a signgen JSON sequence: a keypoint track or a gloss sequence (see seq.schema.json).

    A single OpenPose `*_keypoints.json` frame is read too, as a one-frame track.
    """
    path = _existing(path)
    text = _read_json_text(path)
    doc = _parse_json(text, path)
    if not isinstance(doc, dict):
        _schema_check(doc, path)
    if "glosses" in doc:
        return _glosses_from_doc(doc, path)
    if "people" in doc and "frames" not in doc:
        return _openpose_frames([(path, doc)], path, fps=None, width=None, height=None)
    if "frames" not in doc:
        raise InputError(
            'neither a keypoint track (needs "frames") nor a gloss sequence (needs "glosses")', path
        )
    return _track_from_doc(doc, path, bool(_LITERALS.search(text)))


def _json_number(v: float) -> float | int:
    return int(v) if float(v).is_integer() else float(v)


def write_json_track(track: PoseTrack, path: str | Path) -> None:
    """Write the track form of seq.json (atomically), one frame per line.

    Coordinates are rounded to 0.01 px and confidences to 0.001 (a present point never rounds
    to 0); missing points are written as [0, 0, 0]. `meta` (e.g. z) is not stored.
    """
    conf = np.asarray(track.conf, dtype=np.float64)
    xy = np.asarray(track.xy, dtype=np.float64)
    present = (conf > 0) & np.isfinite(xy).all(axis=-1) & np.isfinite(conf)
    xy = np.where(present[..., None], np.round(xy, 2), 0.0)
    conf = np.where(present, np.maximum(np.round(conf, 3), 0.001), 0.0)
    frames = np.concatenate([xy, conf[..., None]], axis=-1) + 0.0  # +0.0 turns -0.0 into 0.0
    head = {
        "fps": _json_number(track.fps), "width": int(track.width), "height": int(track.height),
        "layout": track.layout,
    }
    lines = [json.dumps(f, separators=(",", ":")) for f in frames.tolist()]
    text = json.dumps(head)[:-1] + ', "frames": [\n' + ",\n".join(lines) + "\n]}\n"
    atomic_write_bytes(path, text.encode("utf-8"))


def write_gloss_sequence(seq: GlossSequence, path: str | Path) -> None:
    """Write the gloss form of seq.json (atomically)."""
    doc = {"glosses": list(seq.glosses), "lexicon": seq.lexicon, "language": seq.language}
    atomic_write_bytes(path, (json.dumps(doc, ensure_ascii=False, indent=1) + "\n").encode("utf-8"))


# --------------------------------------------------------------------------- OpenPose JSON

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


def _openpose_frames(
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
    return _arrays_to_track(
        out[..., :2], out[..., 2], path, layout=layout, fps=fps, width=width, height=height,
        meta={"format": "openpose"},
    )


def read_openpose(
    folder: str | Path, fps: float | None = None, width: int | None = None, height: int | None = None
) -> PoseTrack:
    """Read an OpenPose output folder (`*_keypoints.json`, one per frame) as one track.

    Files are ordered by the frame number before `_keypoints.json`; a gap in the numbering
    becomes frames with every point missing (with a warning), so timing is kept. The first
    person of each frame is taken. Bodies of 18 points with no face/hands give layout
    `openpose18`, anything else `openpose` (BODY_25 + face 70 + hands 21+21). fps defaults to
    25 and the frame size to the largest coordinate when not given.
    """
    folder = _existing(folder)
    _check_args(None, fps, width, height)
    files = sorted(folder.glob("*_keypoints.json"))
    if not files:
        raise InputError("no OpenPose *_keypoints.json files in the folder", folder)
    numbered: dict[int, Path] = {}
    for f in files:
        m = _OPENPOSE_FILE.search(f.name)
        if m is None:
            raise InputError("no frame number before _keypoints.json; cannot order the frames", f)
        n = int(m.group(1))
        if n in numbered:
            raise InputError(f"two files for frame {n}: {numbered[n].name} and {f.name}", folder)
        numbered[n] = f
    first, last = min(numbered), max(numbered)
    gaps = (last - first + 1) - len(numbered)
    if gaps:
        warnings.warn(f"{folder}: {gaps} frame file(s) missing in the numbering; those frames are empty", stacklevel=2)
    docs = [
        (numbered[n], _load_json(numbered[n])) if n in numbered else (None, None)
        for n in range(first, last + 1)
    ]
    track = _openpose_frames(docs, folder, fps=fps, width=width, height=height)
    track.meta["first_frame"] = first
    return track


# --------------------------------------------------------------------------- numpy arrays


_PICKLE_REFUSED = "holds pickled Python objects; refusing to load it (only plain arrays)"


def _np_load(path: Path):
    """np.load with allow_pickle=False, after checking the magic bytes (np.load would take any
    other file for a pickle)."""
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except OSError as e:
        raise InputError(f"cannot read file ({e.strerror})", path) from None
    if magic != b"\x93NUMPY" and not magic.startswith(b"PK\x03\x04"):
        raise InputError("not a readable numpy file (no .npy or .npz header)", path)
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise InputError(_PICKLE_REFUSED, path) from None
        raise InputError(f"not a readable numpy file ({e})", path) from None
    except Exception as e:  # zipfile / format errors on corrupt files
        raise InputError(f"not a readable numpy file ({type(e).__name__}: {e})", path) from None


def _numeric(arr: np.ndarray, what: str, path: Path) -> np.ndarray:
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise InputError(f"{what} has dtype {arr.dtype}; expected numbers", path)
    return arr


def read_npy(
    path: str | Path, layout: str | None = None, fps: float | None = None,
    width: int | None = None, height: int | None = None,
) -> PoseTrack:
    """Read a `.npy` array [T, K, 2] (x, y) or [T, K, 3] (x, y, conf).

    The layout is `layout`, or the only layout with K points; NaN coordinates mean missing.
    fps defaults to 25 and the frame size to the largest coordinate.
    """
    path = _existing(path)
    layout = _check_args(layout, fps, width, height)
    arr = _np_load(path)
    if not isinstance(arr, np.ndarray):
        raise InputError("is an .npz archive; name it .npz", path)
    _numeric(arr, "the array", path)
    if arr.ndim != 3 or arr.shape[-1] not in (2, 3):
        raise InputError(f"array has shape {arr.shape}; expected [T, K, 2] or [T, K, 3]", path)
    conf = arr[..., 2] if arr.shape[-1] == 3 else np.ones(arr.shape[:2])
    return _arrays_to_track(arr[..., :2], conf, path, layout=layout, fps=fps, width=width, height=height)


def _npz_scalar(z, key: str, path: Path):
    arr = z[key]
    if arr.ndim != 0 and arr.size != 1:
        raise InputError(f"key {key!r} must be a single value, has shape {arr.shape}", path)
    value = arr.reshape(()).item()
    if key == "layout":
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        if not isinstance(value, str):
            raise InputError(f"key 'layout' must be a string, got {value!r}", path)
        return value
    if isinstance(value, (bool, str, bytes)) or not isinstance(value, (int, float)):
        raise InputError(f"key {key!r} must be a number, got {value!r}", path)
    return value


def read_npz(
    path: str | Path, layout: str | None = None, fps: float | None = None,
    width: int | None = None, height: int | None = None,
) -> PoseTrack:
    """Read a `.npz` with `xy` [T, K, 2] and optional `conf` [T, K], `fps`, `width`, `height`,
    `layout` (a string) and `z` [T, K]. Arguments given here override the stored values,
    except `layout`, which must agree with the file's."""
    path = _existing(path)
    layout = _check_args(layout, fps, width, height)
    z = _np_load(path)
    if isinstance(z, np.ndarray):
        raise InputError("is a plain .npy array; name it .npy", path)
    try:
        with z:
            return _npz_track(z, path, layout, fps, width, height)
    except InputError:
        raise
    except ValueError as e:  # members load lazily: a pickled member fails here
        if "allow_pickle" in str(e):
            raise InputError(_PICKLE_REFUSED, path) from None
        raise InputError(f"not a readable .npz file ({e})", path) from None


def _npz_track(
    z, path: Path, layout: str | None, fps: float | None, width: int | None, height: int | None
) -> PoseTrack:
    keys = set(z.files)
    if "xy" not in keys:
        raise InputError(f"no 'xy' array (keys: {', '.join(sorted(keys)) or 'none'})", path)
    xy = _numeric(z["xy"], "'xy'", path)
    if xy.ndim != 3 or xy.shape[-1] != 2:
        raise InputError(f"'xy' has shape {xy.shape}; expected [T, K, 2]", path)
    conf = _numeric(z["conf"], "'conf'", path) if "conf" in keys else np.ones(xy.shape[:2])
    if conf.shape != xy.shape[:2]:
        raise InputError(f"'conf' has shape {conf.shape}; expected {xy.shape[:2]} to match 'xy'", path)
    stored = {k: _npz_scalar(z, k, path) for k in ("fps", "width", "height", "layout") if k in keys}
    depth = _numeric(z["z"], "'z'", path) if "z" in keys else None
    if "layout" in stored:
        file_layout = _check_args(stored["layout"], None, None, None, path)
        if layout is not None and layout != file_layout:
            raise InputError(f"the file's layout is {file_layout}, but layout {layout} was given", path)
        layout = file_layout
    if "fps" in stored and fps is None:
        fps = float(stored["fps"])
        _check_args(None, fps, None, None, path)
    for key in ("width", "height"):
        if key in stored:
            v = stored[key]
            if v != int(v) or not 1 <= v <= MAX_SIZE:
                raise InputError(f"key {key!r} must be an integer in 1..{MAX_SIZE}, got {v}", path)
    width = width if width is not None else (int(stored["width"]) if "width" in stored else None)
    height = height if height is not None else (int(stored["height"]) if "height" in stored else None)
    track = _arrays_to_track(xy, conf, path, layout=layout, fps=fps, width=width, height=height)
    if depth is not None:
        if depth.shape != xy.shape[:2] or track.num_keypoints != xy.shape[1]:
            raise InputError(f"'z' has shape {depth.shape}; expected {xy.shape[:2]} to match 'xy'", path)
        track.meta["z"] = np.asarray(depth, np.float32)
    return track


def _npy_bytes(save, *args, **kw) -> bytes:
    buf = _io.BytesIO()
    save(buf, *args, **kw)
    return buf.getvalue()


def write_npy(track: PoseTrack, path: str | Path) -> None:
    """Write [T, K, 3] float32 (x, y, conf), atomically; fps/size/layout are not stored (use .npz)."""
    arr = np.concatenate([track.xy, track.conf[..., None]], axis=-1).astype(np.float32)
    atomic_write_bytes(path, _npy_bytes(np.save, arr, allow_pickle=False))


def write_npz(track: PoseTrack, path: str | Path) -> None:
    """Write a compressed .npz with xy, conf, fps, width, height, layout (and z when known), atomically."""
    arrays = dict(
        xy=track.xy.astype(np.float32), conf=track.conf.astype(np.float32), fps=np.float64(track.fps),
        width=np.int64(track.width), height=np.int64(track.height), layout=np.str_(track.layout),
    )
    if track.meta.get("z") is not None:
        arrays["z"] = np.asarray(track.meta["z"], np.float32)
    atomic_write_bytes(path, _npy_bytes(np.savez_compressed, **arrays))


# --------------------------------------------------------------------------- dispatch


def read_track(
    path: str | Path, layout: str | None = None, fps: float | None = None,
    width: int | None = None, height: int | None = None,
) -> PoseTrack:
    """Read a keypoint track in any supported format, chosen by extension (or a folder: OpenPose).

    `layout` names the layout of the stored points; it is needed only when the file does not
    say and the point count does not tell, and must agree with a file that does say. `fps`,
    `width`, `height` override what the file stores (and fill in what it lacks).
    """
    path = _existing(path)
    layout = _check_args(layout, fps, width, height)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return read_npy(path, layout=layout, fps=fps, width=width, height=height)
    if suffix == ".npz":
        return read_npz(path, layout=layout, fps=fps, width=width, height=height)
    if path.is_dir():
        track = read_openpose(path, fps=fps, width=width, height=height)
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
        raise InputError(f"unknown track format {suffix or '(no extension)'!r}; supported: {_SUPPORTED}", path)
    if layout is not None and layout != track.layout:
        raise InputError(
            f"the file holds layout {track.layout}, but layout {layout} was given "
            "(to convert, read it and call track.to_layout)", path,
        )
    changes = {k: v for k, v in (("fps", fps), ("width", width), ("height", height)) if v is not None}
    return track.copy(**changes) if changes else track


def read_sequence(path: str | Path, **kw: Any) -> PoseTrack | GlossSequence:
    """A motion as a user hands it in: a gloss sequence (JSON with "glosses") or any keypoint
    track (keyword arguments as for `read_track`)."""
    path = _existing(path)
    if path.is_file() and path.suffix.lower() == ".json":
        seq = read_json(path)
        if isinstance(seq, GlossSequence):
            return seq
    return read_track(path, **kw)


_WRITERS = {".pose": write_pose, ".json": write_json_track, ".npy": write_npy, ".npz": write_npz}


def write_track(track: PoseTrack, path: str | Path) -> None:
    """Write a track in the format its extension names (.pose, .json, .npy, .npz), atomically."""
    path = check_output_path(path)
    _WRITERS[path.suffix.lower()](track, path)
