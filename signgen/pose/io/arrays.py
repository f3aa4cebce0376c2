"""NumPy arrays: `.npy` ([T, K, 2|3], nothing else stored) and `.npz` (named arrays with the
frame rate, size, layout, depth and gloss segments). Always loaded with allow_pickle=False:
a file a user hands in is never unpickled.
"""

from __future__ import annotations

import io as _io
import json
import math
import os
import zipfile
from pathlib import Path

import numpy as np

from ...errors import InputError
from ..track import PoseTrack
from .checks import MAX_SIZE, arrays_to_track, check_args
from ...limits import check_limit
from .files import atomic_write_bytes, existing, open_checked, parse_json
from .segments import check_segments, segments_to_store

_PICKLE_REFUSED = "holds pickled Python objects; refusing to load it (only plain arrays)"
# What a corrupt .npy/.npz raises inside numpy and zipfile (BadZipFile, zlib.error, EOFError,
# ValueError, tokenize.TokenError from a mangled header, ...): all mean "not a readable file",
# so every reading step of an untrusted array file maps any Exception to an InputError.
_CORRUPT = Exception


def _npy_header(f, path: Path, name: str | None = None) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of the .npy stream at `f`'s position, read from its header only, checked
    against the limits before numpy allocates anything."""
    where = "" if name is None else f"member {name!r}: "
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = fmt.read_array_header_2_0(f)
        else:
            shape, _, dtype = fmt._read_array_header(f, version)  # 3.0: a UTF-8 header
    except _CORRUPT as e:
        raise InputError(f"{where}not a readable .npy header ({type(e).__name__}: {e})", path) from None
    if dtype.hasobject:
        raise InputError(where + _PICKLE_REFUSED, path)
    count = math.prod(shape)
    check_limit("max_array_bytes", count * max(dtype.itemsize, 1), path, f"{where}array of shape {shape}")
    return shape, dtype


def _check_track_shape(shape: tuple[int, ...], what: str, path: Path) -> None:
    """Frames and keypoints of a [T, K, ...] array within the limits."""
    if len(shape) >= 1:
        check_limit("max_frames", shape[0], path, f"{what} frames")
    if len(shape) >= 2:
        check_limit("max_keypoints", shape[1], path, f"{what} keypoints per frame")


def _np_load(path: Path, f):
    """np.load of the checked file object `f`, with allow_pickle=False, after checking the magic
    bytes (np.load would take any other file for a pickle) and every array header: a .npy
    whose data is shorter than its header declares, or a member declaring a huge shape, is
    refused before anything is allocated."""
    magic = f.read(6)
    f.seek(0)
    if magic == b"\x93NUMPY":
        shape, dtype = _npy_header(f, path)
        _check_track_shape(shape, "the array's", path)
        declared, have = math.prod(shape) * dtype.itemsize, os.fstat(f.fileno()).st_size - f.tell()
        if have < declared:
            raise InputError(f"truncated: the header declares {declared} bytes of data, the file holds {have}", path)
    elif magic.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(f) as zf:
                for info in zf.infolist():
                    check_limit("max_array_bytes", info.file_size, path, f"member {info.filename!r} size")
                    if info.filename.endswith(".npy"):
                        with zf.open(info) as member:
                            shape, _ = _npy_header(member, path, info.filename)
                        if info.filename[:-4] in ("xy", "conf", "z"):
                            _check_track_shape(shape, f"{info.filename[:-4]!r}", path)
        except InputError:
            raise
        except _CORRUPT as e:
            raise InputError(f"not a readable .npz archive ({type(e).__name__}: {e})", path) from None
    else:
        raise InputError("not a readable numpy file (no .npy or .npz header)", path)
    f.seek(0)
    try:
        return np.load(f, allow_pickle=False)
    except _CORRUPT as e:
        if "allow_pickle" in str(e):
            raise InputError(_PICKLE_REFUSED, path) from None
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
    path = existing(path)
    layout = check_args(layout, fps, width, height)
    with open_checked(path) as f:
        arr = _np_load(path, f)
    if not isinstance(arr, np.ndarray):
        raise InputError("is an .npz archive; name it .npz", path)
    _numeric(arr, "the array", path)
    if arr.ndim != 3 or arr.shape[-1] not in (2, 3):
        raise InputError(f"array has shape {arr.shape}; expected [T, K, 2] or [T, K, 3]", path)
    conf = arr[..., 2] if arr.shape[-1] == 3 else np.ones(arr.shape[:2])
    return arrays_to_track(arr[..., :2], conf, path, layout=layout, fps=fps, width=width, height=height)


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
    if isinstance(value, (bool, str, bytes)) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"key {key!r} must be a finite number, got {value!r}", path)
    return value


def read_npz(
    path: str | Path, layout: str | None = None, fps: float | None = None,
    width: int | None = None, height: int | None = None,
) -> PoseTrack:
    """Read a `.npz` with `xy` [T, K, 2] and optional `conf` [T, K], `fps`, `width`, `height`,
    `layout` (a string), `z` [T, K] and `segments` (a JSON string, into `meta["segments"]`).
    Arguments given here override the stored values, except `layout`, which must agree with
    the file's."""
    path = existing(path)
    layout = check_args(layout, fps, width, height)
    with open_checked(path) as f:
        z = _np_load(path, f)
        if isinstance(z, np.ndarray):
            raise InputError("is a plain .npy array; name it .npy", path)
        try:
            with z:
                return _npz_track(z, path, layout, fps, width, height)
        except InputError:
            raise
        except _CORRUPT as e:  # members load lazily: a corrupt or pickled member fails here
            if "allow_pickle" in str(e):
                raise InputError(_PICKLE_REFUSED, path) from None
            raise InputError(f"not a readable .npz file ({type(e).__name__}: {e})", path) from None


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
        file_layout = check_args(stored["layout"], None, None, None, path)
        if layout is not None and layout != file_layout:
            raise InputError(f"the file's layout is {file_layout}, but layout {layout} was given", path)
        layout = file_layout
    if "fps" in stored and fps is None:
        fps = float(stored["fps"])
        check_args(None, fps, None, None, path)
    for key in ("width", "height"):
        if key in stored:
            v = stored[key]
            if v != int(v) or not 1 <= v <= MAX_SIZE:
                raise InputError(f"key {key!r} must be an integer in 1..{MAX_SIZE}, got {v}", path)
    width = width if width is not None else (int(stored["width"]) if "width" in stored else None)
    height = height if height is not None else (int(stored["height"]) if "height" in stored else None)
    track = arrays_to_track(xy, conf, path, layout=layout, fps=fps, width=width, height=height)
    if depth is not None:
        if depth.shape != xy.shape[:2] or track.num_keypoints != xy.shape[1]:
            raise InputError(f"'z' has shape {depth.shape}; expected {xy.shape[:2]} to match 'xy'", path)
        track.meta["z"] = np.asarray(depth, np.float32)
    if "segments" in keys:
        track.meta["segments"] = _npz_segments(z["segments"], track.num_frames, path)
    return track


def _npz_segments(arr: np.ndarray, num_frames: int, path: Path) -> list:
    """The `segments` key: one string holding the JSON list [[gloss, start, stop], ...]."""
    if arr.dtype.kind not in "US" or arr.size != 1:
        raise InputError(
            f"key 'segments' must be one JSON string, got dtype {arr.dtype} and shape {arr.shape}", path
        )
    text = arr.reshape(()).item()
    text = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else text
    check_limit("max_file_bytes", len(text), path, "key 'segments' length")
    try:
        value = parse_json(text, path)
    except InputError as e:
        raise InputError(f"key 'segments' is not valid JSON ({str(e).split(': ', 1)[-1]})", path) from None
    return check_segments(value, num_frames, path, prefix="key 'segments', ")


def npz_bytes(**arrays: np.ndarray) -> bytes:
    """`np.savez_compressed` of `arrays`, byte for byte the same for the same arrays: the zip
    entries carry a fixed date (numpy stamps them with the current time), so a rerun of a job
    rewrites identical files."""
    buf = _io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, value in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)
    return buf.getvalue()


def _npy_bytes(save, *args, **kw) -> bytes:
    buf = _io.BytesIO()
    save(buf, *args, **kw)
    return buf.getvalue()


def write_npy(track: PoseTrack, path: str | Path) -> None:
    """Write [T, K, 3] float32 (x, y, conf), atomically; fps/size/layout are not stored (use .npz)."""
    arr = np.concatenate([track.xy, track.conf[..., None]], axis=-1).astype(np.float32)
    atomic_write_bytes(path, _npy_bytes(np.save, arr, allow_pickle=False))


def write_npz(track: PoseTrack, path: str | Path) -> None:
    """Write a compressed .npz with xy, conf, fps, width, height, layout (and z and gloss segments
    when known: `segments` is one JSON string [[gloss, start, stop], ...]), atomically."""
    arrays = dict(
        xy=track.xy.astype(np.float32), conf=track.conf.astype(np.float32), fps=np.float64(track.fps),
        width=np.int64(track.width), height=np.int64(track.height), layout=np.str_(track.layout),
    )
    if track.meta.get("z") is not None:
        arrays["z"] = np.asarray(track.meta["z"], np.float32)
    segments = segments_to_store(track, Path(path))
    if segments is not None:
        arrays["segments"] = np.str_(json.dumps(segments, ensure_ascii=False))
    atomic_write_bytes(path, npz_bytes(**arrays))
