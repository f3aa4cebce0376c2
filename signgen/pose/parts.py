"""Boxes around the parts that carry a sign (the two hands, the face), from a canonical pose.

One home for "where are the hands and the face in this frame": the VAE's and stage 2's
region-weighted losses, `signgen eval`'s hand and face crops, and the legibility classifier's
crops all take their boxes from here, so what is trained on, scored and recognised is the
same pixels. The changed region (`region_from_poses`: the arms and hands of a source and a
target pose, dilated) is here for the same reason: `signgen eval` scores it and the renderer's
`keep_static` generates only it. Boxes are squares (x0, y0, x1, y1), integer pixels, end
exclusive, clipped to the frame; a part with too few visible points has no box (None).
"""

from __future__ import annotations

from typing import Iterable

import cv2
import numpy as np

from ..errors import InputError
from .layouts import canonical as C

__all__ = ["PARTS", "part_points", "part_boxes", "part_box", "box_mask", "crop",
           "region_from_poses", "region_size", "dilate_mask"]

PARTS = ("left_hand", "right_hand", "face")
_SLICES = {
    "left_hand": slice(C.LEFT_HAND_START, C.LEFT_HAND_START + len(C.HAND)),
    "right_hand": slice(C.RIGHT_HAND_START, C.RIGHT_HAND_START + len(C.HAND)),
    "face": slice(C.FACE_START, C.FACE_START + len(C.FACE68)),
}
_MIN_POINTS = {"left_hand": 5, "right_hand": 5, "face": 10}
_PAD = {"left_hand": 1.35, "right_hand": 1.35, "face": 1.2}  # box side / extent of the points
_SHOULDERS = (2, 5)


def _scale(xy: np.ndarray, ok: np.ndarray, width: int, height: int) -> float:
    """Shoulder width when both shoulders are visible, else a fifth of the short side."""
    a, b = _SHOULDERS
    if ok[a] and ok[b]:
        d = float(np.linalg.norm(xy[a] - xy[b]))
        if d > 1.0:
            return d
    return 0.2 * min(width, height) / 0.45


def part_points(part: str) -> slice:
    """The canonical keypoints of one part (`PARTS`), as a slice."""
    return _SLICES[part]


def part_box(xy: np.ndarray, conf: np.ndarray, part: str, width: int, height: int
             ) -> tuple[int, int, int, int] | None:
    """The square box around one part: at least 0.45 shoulder widths (hands) or 0.5 (face)
    on a side, so a fist and an open hand of one signer get comparable crops."""
    xy = np.asarray(xy, np.float64)
    conf = np.asarray(conf, np.float32)
    ok = (conf > 0) & np.isfinite(xy).all(axis=1)
    sl = _SLICES[part]
    pts = xy[sl][ok[sl]]
    if len(pts) < _MIN_POINTS[part]:
        return None
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    centre = (lo + hi) / 2
    minimum = (0.5 if part == "face" else 0.45) * _scale(xy, ok, width, height)
    side = max(float((hi - lo).max()) * _PAD[part], minimum, 4.0)
    x0, y0 = np.floor(centre - side / 2).astype(int)
    s = int(np.ceil(side))
    box = (max(0, x0), max(0, y0), min(width, x0 + s), min(height, y0 + s))
    if box[2] - box[0] < 2 or box[3] - box[1] < 2:
        return None  # the part is outside the frame
    return tuple(int(v) for v in box)  # type: ignore[return-value]


def part_boxes(xy: np.ndarray, conf: np.ndarray, width: int, height: int
               ) -> dict[str, tuple[int, int, int, int] | None]:
    """{part: box or None} for the left hand, right hand and face of one canonical pose."""
    return {p: part_box(xy, conf, p, width, height) for p in PARTS}


def box_mask(boxes, width: int, height: int) -> np.ndarray:
    """bool [height, width]: the union of the given boxes (None entries skipped)."""
    mask = np.zeros((height, width), bool)
    for b in boxes:
        if b is not None:
            x0, y0, x1, y1 = b
            mask[y0:y1, x0:x1] = True
    return mask


def crop(image: np.ndarray, box: tuple[int, int, int, int], size: int | None = None) -> np.ndarray:
    """The box's pixels of an [H, W, C] image, resized to size x size when given (area
    interpolation when shrinking, nearest when growing: no invented detail)."""
    x0, y0, x1, y1 = box
    out = image[y0:y1, x0:x1]
    if size is not None and out.shape[:2] != (size, size):
        grow = size > max(out.shape[:2])
        out = cv2.resize(np.ascontiguousarray(out), (size, size),
                         interpolation=cv2.INTER_NEAREST if grow else cv2.INTER_AREA)
    return out


# ---- the changed region -----------------------------------------------------------------------

ARM_LIMBS = ((2, 3), (3, 4), (5, 6), (6, 7))  # canonical shoulder-elbow-wrist, both sides
HANDS = (C.LEFT_HAND_START, C.RIGHT_HAND_START)


def region_size(width: int, height: int) -> tuple[int, int]:
    """(limb thickness, dilation radius) in pixels for a frame: about 4% and 3% of its short side."""
    short = min(width, height)
    return max(2, round(0.04 * short)), max(1, round(0.03 * short))


def dilate_mask(mask: np.ndarray, radius: int) -> np.ndarray:
    """bool: `mask` grown by a disc of `radius` pixels."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)


def _draw_arms_hands(canvas: np.ndarray, xy: np.ndarray, conf: np.ndarray, thickness: int) -> None:
    ok = (conf > 0) & np.isfinite(xy).all(axis=1)
    pts = np.round(np.nan_to_num(xy)).astype(np.int32)
    for a, b in ARM_LIMBS:
        if ok[a] and ok[b]:
            cv2.line(canvas, tuple(pts[a]), tuple(pts[b]), 1, thickness)
    for start in HANDS:
        idx = [k for k in range(start, start + len(C.HAND)) if ok[k]]
        if len(idx) >= 3:
            cv2.fillConvexPoly(canvas, cv2.convexHull(pts[idx]), 1)
        for k in idx:
            cv2.circle(canvas, tuple(pts[k]), max(1, thickness // 2), 1, -1)
    for wrist in (4, 7):  # a hand without hand points: a disc at the wrist
        if ok[wrist]:
            cv2.circle(canvas, tuple(pts[wrist]), thickness, 1, -1)


def region_from_poses(
    poses: Iterable[tuple[np.ndarray, np.ndarray]], width: int, height: int,
    *, thickness: int | None = None, dilate: int | None = None,
) -> np.ndarray:
    """bool [height, width]: the union of the given canonical poses' arms and hands, dilated.

    Each pose is (xy [128, 2] pixels, conf [128]). Pass the source pose and a target pose to get
    the region where copying the source must fail.
    """
    t_default, d_default = region_size(width, height)
    thickness = t_default if thickness is None else int(thickness)
    dilate = d_default if dilate is None else int(dilate)
    canvas = np.zeros((height, width), np.uint8)
    for xy, conf in poses:
        xy, conf = np.asarray(xy, np.float64), np.asarray(conf, np.float32)
        if xy.shape != (C.NUM_KEYPOINTS, 2) or conf.shape != (C.NUM_KEYPOINTS,):
            raise InputError(f"region poses must be canonical [{C.NUM_KEYPOINTS}, 2], got {xy.shape}")
        _draw_arms_hands(canvas, xy, conf, thickness)
    return dilate_mask(canvas, dilate) if dilate > 0 else canvas.astype(bool)
