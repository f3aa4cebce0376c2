"""`.pose` files (pose-format): MediaPipe Holistic and OpenPose files from other tools, and our own.

Holistic components are placed into the 553-point `holistic` layout by point name, so files
that keep a subset of the points (spoken-to-signed's `reduce_holistic`: 8 body points, 128
face-contour points) land on the right keypoints; OpenPose components (pose-format's
`pose_keypoints_2d`, `face_keypoints_2d`, `hand_left/right_keypoints_2d`) likewise into the
137-point `openpose` layout.

What we write is what the ecosystem reads: by default a track goes into a `.pose` file as
MediaPipe Holistic (or OpenPose, when its points came from OpenPose), the points the track
does not have marked missing, so pose-format's `detect_known_pose_format`, `reduce_holistic`
and normalisation and spoken-to-signed's lookup and concatenation accept it. Any other layout
(e.g. `canonical`) is written only when asked for, as one `SIGNGEN_<LAYOUT>` component, and
comes back as it was.
"""

from __future__ import annotations

import io as _io
import struct
import warnings
from pathlib import Path

import numpy as np

from ...errors import InputError
from .. import skeleton
from ..layouts import holistic, openpose
from ..track import PoseTrack
from .checks import check_fps, check_size, clean_points, infer_size
from ...limits import check_limit
from .files import atomic_write_bytes, read_checked

# Our non-holistic layouts go into a .pose file as one component named like this.
_COMPONENT_PREFIX = "SIGNGEN_"

# pose-format's point names (MediaPipe's enum names; the face mesh by vertex number).
_HAND_NAMES = (
    "WRIST", "THUMB_CMC", "THUMB_MCP", "THUMB_IP", "THUMB_TIP",
    "INDEX_FINGER_MCP", "INDEX_FINGER_PIP", "INDEX_FINGER_DIP", "INDEX_FINGER_TIP",
    "MIDDLE_FINGER_MCP", "MIDDLE_FINGER_PIP", "MIDDLE_FINGER_DIP", "MIDDLE_FINGER_TIP",
    "RING_FINGER_MCP", "RING_FINGER_PIP", "RING_FINGER_DIP", "RING_FINGER_TIP",
    "PINKY_MCP", "PINKY_PIP", "PINKY_DIP", "PINKY_TIP",
)
_COMPONENT_NAMES = {  # component -> (first index in the holistic layout, its point names in order)
    "POSE_LANDMARKS": (holistic.POSE_START, tuple(n.upper() for n in holistic.POSE33)),
    "FACE_LANDMARKS": (holistic.FACE_START, tuple(str(i) for i in range(holistic.FACE_POINTS))),
    "LEFT_HAND_LANDMARKS": (holistic.LEFT_HAND_START, _HAND_NAMES),
    "RIGHT_HAND_LANDMARKS": (holistic.RIGHT_HAND_START, _HAND_NAMES),
}
_FACE_MESH_ONLY = 468  # a face without the 10 iris points, as older tools write it
_OPENPOSE_COMPONENTS = ("pose_keypoints_2d", "face_keypoints_2d", "hand_left_keypoints_2d", "hand_right_keypoints_2d")


def default_pose_layout(layout: str) -> str:
    """The layout a track of `layout` is written in to a `.pose` file unless another is asked
    for: OpenPose for OpenPose points (nothing is lost), MediaPipe Holistic for everything else."""
    return "openpose" if skeleton.get_layout(layout).name in ("openpose", "openpose18") else "holistic"


def _openpose_names() -> dict[str, tuple[int, tuple[str, ...]]]:
    """pose-format's OpenPose components -> (first index in our `openpose` layout, point names)."""
    from pose_format.utils.openpose import BODY_POINTS, FACE_POINTS, HAND_POINTS

    up = lambda names: tuple(n.upper() for n in names)  # noqa: E731
    return dict(zip(_OPENPOSE_COMPONENTS, (
        (0, up(BODY_POINTS)), (openpose.FACE_START, up(FACE_POINTS)),
        (openpose.LEFT_HAND_START, up(HAND_POINTS)), (openpose.RIGHT_HAND_START, up(HAND_POINTS)),
    )))


def _component_targets(name: str, points: list, path: Path, family: dict) -> list[int]:
    """Layout index of each point of one holistic / OpenPose component, matched by point name.

    Names that are not pose-format's (another tool's naming) are placed by position when the
    component has the standard count, with a warning; otherwise the file is refused."""
    start, names = family[name]
    index = {n: i for i, n in enumerate(names)}
    given = [str(p).upper() for p in points]
    unknown = [str(p) for p, g in zip(points, given) if g not in index]
    if not unknown:
        seen: set[str] = set()
        for p in given:
            if p in seen:
                raise InputError(f"component {name} lists point {p} twice", path)
            seen.add(p)
        return [start + index[p] for p in given]
    if len(given) in (len(names), _FACE_MESH_ONLY if name == "FACE_LANDMARKS" else -1):
        warnings.warn(
            f"{path}: {name} point names are not MediaPipe's (e.g. {unknown[0]!r}); placed by position",
            stacklevel=4,
        )
        return [start + i for i in range(len(given))]
    more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
    raise InputError(
        f"component {name} has points MediaPipe Holistic does not name ({', '.join(unknown[:3])}{more}); "
        "cannot place them", path,
    )


def _layout_targets(header, family: dict, num_points: int, path: Path) -> np.ndarray:
    """For every point of the file (all components in order): its index in the layout of
    `family` (holistic or OpenPose component names), or -1 to drop it."""
    targets: list[int] = []
    for comp in header.components:
        if comp.name in family:
            targets += _component_targets(comp.name, list(comp.points), path, family)
        else:  # e.g. POSE_WORLD_LANDMARKS: metric 3D, not image space
            targets += [-1] * len(comp.points)
    if len(targets) != num_points:
        raise InputError(f"the header lists {len(targets)} points but the body holds {num_points}", path)
    return np.asarray(targets, dtype=np.int64)


def _place(values: np.ndarray, targets: np.ndarray, size: int) -> np.ndarray:
    """[T, P, ...] file values -> [T, size, ...] layout values (zeros where the file has none)."""
    out = np.zeros((values.shape[0], size, *values.shape[2:]), dtype=np.float32)
    keep = targets >= 0
    out[:, targets[keep]] = values[:, keep]
    return out


def read_pose(path: str | Path) -> PoseTrack:
    """Read a pose-format `.pose` file.

    Holistic files (any of POSE/FACE/LEFT_HAND/RIGHT_HAND_LANDMARKS) become the `holistic`
    layout, each point placed by its name (points a file leaves out are missing); files we
    wrote ourselves come back in their own layout. Masked values get confidence 0. When a
    file holds several people, the first is taken, with a warning. The z coordinate, when
    present, is kept in `meta["z"]` ([T, K]).
    """
    path = Path(path)
    return pose_from_bytes(read_checked(path, what=".pose file size"), path)


def pose_from_bytes(raw: bytes, path: Path) -> PoseTrack:
    """`read_pose` of a file's bytes already read (by a caller that checked the file itself)."""
    from pose_format import Pose

    try:
        pose = Pose.read(raw)
    except struct.error:  # pose-format reads past the end of a cut-off file
        raise InputError("not a readable .pose file (truncated or corrupt)", path) from None
    except Exception as e:  # pose-format raises assorted errors on corrupt input
        raise InputError(f"not a readable .pose file ({type(e).__name__}: {e})", path) from None

    data = pose.body.data
    mask = np.ma.getmaskarray(data)
    arr = np.ma.getdata(data).astype(np.float32)  # [T, P, K, D]
    conf = np.asarray(pose.body.confidence, dtype=np.float32)  # [T, P, K]
    if arr.ndim != 4 or arr.shape[0] == 0:
        raise InputError("the .pose file has no frames", path)
    check_limit("max_frames", arr.shape[0], path, "the .pose file's frames")
    check_limit("max_keypoints", arr.shape[2], path, "the .pose file's keypoints per frame")
    if arr.shape[1] == 0:  # nobody was detected in the whole video: a track of missing points
        warnings.warn(f"{path}: no person in the file; every point is missing", stacklevel=2)
        arr = np.zeros((arr.shape[0], 1, *arr.shape[2:]), np.float32)
        conf = np.zeros(arr.shape[:3], np.float32)
        mask = np.ones(arr.shape, bool)
    if arr.shape[1] > 1:
        warnings.warn(f"{path}: {arr.shape[1]} people in the file; using the first", stacklevel=2)
    arr, conf, mask = arr[:, 0], conf[:, 0], mask[:, 0]
    conf = np.where(mask.any(axis=-1), 0.0, conf)
    xy, conf = clean_points(arr[..., :2], conf, path, clip_conf=True)
    z = None if arr.shape[-1] <= 2 else np.where(conf > 0, np.nan_to_num(arr[..., 2]), 0.0)

    names = [c.name for c in pose.header.components]
    fps = check_fps(float(pose.body.fps), "the file's fps", path) if pose.body.fps else 25.0
    family = _COMPONENT_NAMES if any(n in _COMPONENT_NAMES for n in names) else (
        _openpose_names() if any(n in _OPENPOSE_COMPONENTS for n in names) else None)
    if family is not None:
        layout = "holistic" if family is _COMPONENT_NAMES else "openpose"
        size = skeleton.get_layout(layout).num_keypoints
        targets = _layout_targets(pose.header, family, xy.shape[1], path)
        xy, conf = _place(xy, targets, size), _place(conf, targets, size)
        z = None if z is None else _place(z, targets, size)
    elif len(names) == 1 and names[0].startswith(_COMPONENT_PREFIX):
        layout = names[0][len(_COMPONENT_PREFIX):].lower()
        try:
            skeleton.get_layout(layout)
        except KeyError:
            raise InputError(f"unknown signgen layout {layout!r} in the file", path) from None
    else:
        raise InputError(
            f"unsupported .pose components {names}; expected MediaPipe Holistic or OpenPose keypoints "
            "(for other keypoints, convert them to .npz or signgen JSON)", path,
        )
    dims = pose.header.dimensions  # 0 = not recorded: inferred from the points, as for .npy
    width = check_size(int(dims.width), "the file's width", path) if dims.width else infer_size(xy, conf, 0, "width", path)
    height = check_size(int(dims.height), "the file's height", path) if dims.height else infer_size(xy, conf, 1, "height", path)
    meta = {"source": str(path)}
    if z is not None:
        meta["z"] = z.astype(np.float32)
    return PoseTrack(xy=xy, conf=conf, fps=fps, width=width, height=height, layout=layout, meta=meta)


def write_pose(track: PoseTrack, path: str | Path, layout: str | None = None) -> None:
    """Write a `.pose` file (atomically) that pose-format and spoken-to-signed read.

    `layout` None writes `default_pose_layout(track.layout)`: MediaPipe Holistic with
    pose-format's own component and point names (OpenPose's for OpenPose tracks), the points
    the track lacks masked as missing. A layout named on purpose is written as it is: holistic
    or openpose in the ecosystem's components, any other (`canonical`, ...) as one
    `SIGNGEN_<LAYOUT>` component that only signgen reads. `meta` other than z (e.g. gloss
    segments) has no place in the format and is not stored."""
    from pose_format import Pose
    from pose_format.numpy import NumPyPoseBody
    from pose_format.pose_header import PoseHeader, PoseHeaderComponent, PoseHeaderDimensions

    target = skeleton.get_layout(layout).name if layout is not None else default_pose_layout(track.layout)
    if target != track.layout:
        track = track.to_layout(target)
    z = track.meta.get("z")
    z = np.zeros(track.conf.shape, np.float32) if z is None else np.asarray(z, np.float32)
    data = np.concatenate([track.xy, z[..., None]], axis=-1)
    conf = track.conf
    if target == "holistic":
        from pose_format.utils.holistic import holistic_components

        comps = holistic_components("XYZC", additional_face_points=holistic.FACE_POINTS - 468)[:4]
    elif target == "openpose":  # pose-format's OpenPose components are 2D
        from pose_format.utils.openpose import OpenPose_Components

        comps, data = list(OpenPose_Components), data[..., :2]
    else:
        spec = skeleton.get_layout(target)
        comps = [
            PoseHeaderComponent(
                name=_COMPONENT_PREFIX + spec.name.upper(),
                points=list(spec.names), limbs=[], colors=[(255, 255, 255)], point_format="XYZC",
            )
        ]
    header = PoseHeader(
        version=0.2, dimensions=PoseHeaderDimensions(width=track.width, height=track.height, depth=0),
        components=comps,
    )
    mask = np.repeat((conf <= 0)[..., None], data.shape[-1], axis=-1)
    body = NumPyPoseBody(
        fps=track.fps,
        data=np.ma.masked_array(data[:, None], mask=mask[:, None]),
        confidence=conf[:, None],
    )
    buf = _io.BytesIO()
    Pose(header, body).write(buf)
    atomic_write_bytes(path, buf.getvalue())
