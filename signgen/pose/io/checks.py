"""Checks every array-based reader shares (JSON, OpenPose, .npy/.npz): caller overrides, the
layout from the point count, confidences and coordinates, and the frame size when a format
does not store it. One place, so every format refuses the same things with the same words.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ...errors import InputError
from .. import skeleton
from ..layouts import holistic
from ..track import PoseTrack

MAX_SIZE = 16384
"""Largest frame width/height accepted; beyond it a size is a unit mix-up, not a video."""
MAX_FPS = 1000.0
"""Highest frame rate accepted. No signing video is filmed faster; beyond it an fps is a unit
mix-up (frames per millisecond, a frame count), and resampling to it would fill memory."""
MAX_COORD = 1e6
HOLISTIC_NO_IRIS = len(holistic.NAMES) - 10  # 543: a 468-point face mesh, as older tools write it


def check_fps(fps: float, name: str = "fps", path: Path | None = None) -> float:
    """`fps` as a float, or an InputError unless it is a finite number in (0, MAX_FPS]."""
    if not (math.isfinite(fps) and 0 < fps <= MAX_FPS):
        raise InputError(f"{name} must be > 0 and <= {MAX_FPS:g}, got {fps:g}", path)
    return float(fps)


def check_size(value: int, name: str, path: Path | None = None) -> int:
    """A frame width/height, or an InputError unless it is in 1..MAX_SIZE."""
    if not 1 <= value <= MAX_SIZE:
        raise InputError(f"{name} must be in 1..{MAX_SIZE}, got {value}", path)
    return int(value)


def parse_frame_size(text: str, flag: str) -> tuple[int, int]:
    """'210x260' (a command-line WxH) -> (210, 260), each side checked by `check_size`."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise InputError(f"{flag} must look like 210x260, got {text!r}") from None
    return check_size(w, f"{flag} width"), check_size(h, f"{flag} height")


def check_args(
    layout: str | None, fps: float | None, width: int | None, height: int | None, path: Path | None = None
) -> str | None:
    """Validate the optional overrides a caller passes to a reader; return the layout's real name."""
    if fps is not None:
        check_fps(fps, "fps", path)
    for name, v in (("width", width), ("height", height)):
        if v is not None:
            check_size(v, name, path)
    if layout is None:
        return None
    try:
        return skeleton.get_layout(layout).name
    except KeyError as e:
        raise InputError(str(e.args[0]), path) from None


def pad_iris(xy: np.ndarray, conf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """543-point holistic (468-point face) -> 553 points, the 10 iris points missing."""
    at = holistic.FACE_START + 468
    T = xy.shape[0]
    xy = np.concatenate([xy[:, :at], np.zeros((T, 10, 2), xy.dtype), xy[:, at:]], axis=1)
    conf = np.concatenate([conf[:, :at], np.zeros((T, 10), conf.dtype), conf[:, at:]], axis=1)
    return xy, conf


def layout_for(k: int, layout: str | None, path: Path) -> str:
    """The layout of K-point frames: the declared one (checked), or the only one with K points."""
    if layout is not None:
        want = skeleton.get_layout(layout).num_keypoints
        if k == want or (layout == "holistic" and k == HOLISTIC_NO_IRIS):
            return layout
        extra = f" (or {HOLISTIC_NO_IRIS} without iris)" if layout == "holistic" else ""
        raise InputError(f"layout {layout} has {want} points{extra}, but the frames have {k}", path)
    if k == HOLISTIC_NO_IRIS:
        return "holistic"
    matches = [name for name, lay in skeleton.LAYOUTS.items() if lay.num_keypoints == k]
    if len(matches) != 1:
        known = ", ".join(f"{n} ({lay.num_keypoints})" for n, lay in skeleton.LAYOUTS.items())
        what = "matches several layouts" if matches else "matches no layout"
        raise InputError(f"{k} points per frame {what}; give the layout (known: {known})", path)
    return matches[0]


def infer_size(xy: np.ndarray, conf: np.ndarray, axis: int, name: str, path: Path) -> int:
    """Frame width/height from the largest present coordinate (for formats that do not store it)."""
    vals = xy[..., axis][conf > 0]
    top = float(vals.max()) if vals.size else 0.0
    size = max(1, int(math.ceil(top)))
    if size > MAX_SIZE:
        raise InputError(f"cannot infer the frame {name}: coordinates reach {top:g}; give the {name}", path)
    return size


def clean_points(
    xy: np.ndarray, conf: np.ndarray, path: Path, *, clip_conf: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Checked float64 copies of [T, K, 2] points and [T, K] confidences: NaN/inf coordinates
    become missing points, absurd coordinates and (unless `clip_conf`) confidences outside
    [0, 1] are refused. `clip_conf` is for .pose files, where MediaPipe's raw visibility
    strays a little outside [0, 1] (-0.02..1.06 in the spoken-to-signed lexicon)."""
    xy = np.asarray(xy, dtype=np.float64)
    conf = np.asarray(conf, dtype=np.float64)
    if xy.shape[0] == 0:
        raise InputError("has zero frames", path)
    if clip_conf:
        conf = np.clip(np.nan_to_num(conf, nan=0.0, posinf=0.0, neginf=0.0), 0.0, 1.0)
    if not np.isfinite(conf).all():
        t, k = np.argwhere(~np.isfinite(conf))[0]
        raise InputError(f"frame {t}, point {k}: confidence is {conf[t, k]}", path)
    bad = (conf < 0) | (conf > 1)
    if bad.any():
        t, k = np.argwhere(bad)[0]
        raise InputError(f"frame {t}, point {k}: confidence {conf[t, k]:g} is outside [0, 1]", path)
    finite = np.isfinite(xy).all(axis=-1)
    conf = np.where(finite, conf, 0.0)  # NaN/inf coordinates mean "missing"
    xy = np.where(finite[..., None], xy, 0.0)
    big = (np.abs(xy) > MAX_COORD).any(axis=-1) & (conf > 0)
    if big.any():
        t, k = np.argwhere(big)[0]
        raise InputError(f"frame {t}, point {k}: coordinate {xy[t, k].tolist()} is absurdly large", path)
    return xy, conf


def arrays_to_track(
    xy: np.ndarray, conf: np.ndarray, path: Path, *, layout: str | None, fps: float | None,
    width: int | None, height: int | None, meta: dict | None = None,
) -> PoseTrack:
    """Shared tail of the array readers: checks, layout, missing points, size inference."""
    xy, conf = clean_points(xy, conf, path)
    fps = 25.0 if fps is None else check_fps(fps, "fps", path)
    name = layout_for(xy.shape[1], layout, path)
    xy, conf = xy.astype(np.float32), conf.astype(np.float32)
    if name == "holistic" and xy.shape[1] == HOLISTIC_NO_IRIS:
        xy, conf = pad_iris(xy, conf)
    width = width if width is not None else infer_size(xy, conf, 0, "width", path)
    height = height if height is not None else infer_size(xy, conf, 1, "height", path)
    meta = {"source": str(path), **(meta or {})}
    return PoseTrack(xy=xy, conf=conf, fps=fps, width=width, height=height, layout=name, meta=meta)
