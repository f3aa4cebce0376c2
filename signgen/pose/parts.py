"""Boxes around the parts that carry a sign (the two hands, the face), from a canonical pose.

One home for "where are the hands and the face in this frame": the VAE's and stage 2's
region-weighted losses, `signgen eval`'s hand and face crops, and the legibility classifier's
crops all take their boxes from here, so what is trained on, scored and recognised is the
same pixels. Boxes are squares (x0, y0, x1, y1), integer pixels, end exclusive, clipped to
the frame; a part with too few visible points has no box (None).
"""

from __future__ import annotations

import numpy as np

from .layouts import canonical as C

__all__ = ["PARTS", "part_boxes", "part_box", "box_mask", "crop"]

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
        import cv2

        grow = size > max(out.shape[:2])
        out = cv2.resize(np.ascontiguousarray(out), (size, size),
                         interpolation=cv2.INTER_NEAREST if grow else cv2.INTER_AREA)
    return out
