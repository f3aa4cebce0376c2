"""Reading and writing keypoint tracks.

`.pose` (pose-format) lives here; the other formats (signgen JSON, OpenPose JSON folders,
.npy/.npz) are added beside it. Every reader returns a `PoseTrack` and raises `InputError`
naming the file on bad input.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from ..errors import InputError
from . import skeleton
from .layouts import holistic
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
    import io as _io

    buf = _io.BytesIO()
    Pose(header, body).write(buf)
    atomic_write_bytes(path, buf.getvalue())
