"""Pose -> conditioning image: the skeleton the video model sees for each target frame.

The colours carry meaning the model has to learn, so they are fixed and side-aware:
the signer's right side in warm hues (reds to yellows), the left side in cool hues
(cyans to violets), the centre line (neck-nose) in green, each finger of each hand its own
hue within its side's family, and the face in light grey. Drawing is plain OpenCV with
sub-pixel coordinates and anti-aliasing on every primitive, deterministic byte for byte.
"""

from __future__ import annotations

import colorsys
from collections.abc import Iterator

import cv2
import numpy as np

from ..errors import InputError
from . import skeleton
from .layouts import canonical as C
from .track import PoseTrack

_SHIFT = 4  # cv2 fixed-point bits: coordinates are drawn at 1/16 pixel
_ONE = 1 << _SHIFT


def _hsv(hue_deg: float, sat: float = 1.0, val: float = 1.0) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb((hue_deg % 360) / 360.0, sat, val)
    return int(round(r * 255)), int(round(g * 255)), int(round(b * 255))


def _side(name: str) -> str:
    return "right" if "right" in name else "left" if "left" in name else "centre"


def _body_colours() -> tuple[tuple[int, int, int], ...]:
    """One RGB colour per canonical body limb, hue stepping along each side's limbs."""
    warm = iter([0, 15, 30, 45, 350, 335, 20, 40])  # right: reds, oranges, yellows
    cool = iter([220, 205, 190, 235, 250, 265, 180, 200])  # left: blues, cyans, violets
    colours = []
    for a, b in C.BODY_LIMBS:
        sides = {_side(C.NAMES[a]), _side(C.NAMES[b])} - {"centre"}
        if sides == {"right"}:
            colours.append(_hsv(next(warm)))
        elif sides == {"left"}:
            colours.append(_hsv(next(cool)))
        else:
            colours.append(_hsv(120))
    return tuple(colours)


BODY_COLOURS = _body_colours()
# Per finger (thumb, index, middle, ring, pinky); HAND_BONES go finger by finger, 4 bones each.
RIGHT_FINGER_COLOURS = tuple(_hsv(h) for h in (0, 25, 50, 75, 100))
LEFT_FINGER_COLOURS = tuple(_hsv(h) for h in (180, 205, 230, 255, 280))
FACE_COLOUR = (220, 220, 220)


def _dot_colours() -> tuple[tuple[int, int, int], ...]:
    """Each body point's dot takes the colour of the limb ending at it (the neck: centre green)."""
    colours = [_hsv(120)] * C.LEFT_HAND_START
    for (_, b), colour in zip(C.BODY_LIMBS, BODY_COLOURS):
        colours[b] = colour
    return tuple(colours)


BODY_DOT_COLOURS = _dot_colours()


def default_thickness(width: int, height: int) -> int:
    """Body line width in pixels: 1 at 64x64, 3 at 256, 5 at 512, so limbs stay legible."""
    return max(1, int(round(min(width, height) / 100)))


def _fixed(p: np.ndarray) -> tuple[int, int]:
    return int(round(float(p[0]) * _ONE)), int(round(float(p[1]) * _ONE))


def _line(img: np.ndarray, p: np.ndarray, q: np.ndarray, colour, thickness: int) -> None:
    cv2.line(img, _fixed(p), _fixed(q), colour, thickness, cv2.LINE_AA, _SHIFT)


def _dot(img: np.ndarray, p: np.ndarray, radius: float, colour) -> None:
    r = max(1, int(round(radius * _ONE)))
    cv2.circle(img, _fixed(p), r, colour, -1, cv2.LINE_AA, _SHIFT)


def draw_pose(
    xy: np.ndarray,
    conf: np.ndarray,
    width: int,
    height: int,
    *,
    layout: str = "canonical",
    scale_from: tuple[int, int] | None = None,
    threshold: float = 0.0,
    thickness: int | None = None,
) -> np.ndarray:
    """Draw one pose as an RGB uint8 [height, width, 3] image on black.

    `xy` [K, 2] pixels and `conf` [K] in `layout` (converted to canonical first). Points with
    conf <= `threshold` are missing: neither they nor limbs touching them are drawn.
    `scale_from=(w, h)` is the frame size the coordinates refer to, when it differs from
    the output size. `thickness` is the body line width (default `default_thickness`);
    hands and face are drawn at about half of it.
    """
    xy = np.asarray(xy, dtype=np.float64)
    conf = np.asarray(conf, dtype=np.float32)
    if skeleton.get_layout(layout).name != "canonical":
        cxy, cconf = skeleton.convert(xy[None], conf[None], layout, "canonical")
        xy, conf = cxy[0].astype(np.float64), cconf[0]
    if xy.shape != (C.NUM_KEYPOINTS, 2) or conf.shape != (C.NUM_KEYPOINTS,):
        raise InputError(f"expected [{C.NUM_KEYPOINTS}, 2] and [{C.NUM_KEYPOINTS}] arrays, got {xy.shape}, {conf.shape}")
    if scale_from is not None and tuple(scale_from) != (width, height):
        xy = xy * np.array([width / scale_from[0], height / scale_from[1]])
    ok = (conf > threshold) & np.isfinite(xy).all(axis=1)

    body_t = thickness if thickness is not None else default_thickness(width, height)
    fine_t = max(1, int(round(body_t / 2)))
    img = np.zeros((height, width, 3), dtype=np.uint8)

    for face_part in C.FACE_CONTOURS:
        idx = [C.FACE_START + i for i in face_part]
        for a, b in zip(idx[:-1], idx[1:]):
            if ok[a] and ok[b]:
                _line(img, xy[a], xy[b], FACE_COLOUR, fine_t)
    for (a, b), colour in zip(C.BODY_LIMBS, BODY_COLOURS):
        if ok[a] and ok[b]:
            _line(img, xy[a], xy[b], colour, body_t)
    for k in range(C.LEFT_HAND_START):
        if ok[k]:
            _dot(img, xy[k], body_t * 0.9, BODY_DOT_COLOURS[k])
    for start, colours in ((C.RIGHT_HAND_START, RIGHT_FINGER_COLOURS), (C.LEFT_HAND_START, LEFT_FINGER_COLOURS)):
        for bone, (a, b) in enumerate(C.HAND_BONES):
            a, b = start + a, start + b
            if ok[a] and ok[b]:
                _line(img, xy[a], xy[b], colours[bone // 4], fine_t)
        for j in range(len(C.HAND)):
            k = start + j
            if ok[k]:
                _dot(img, xy[k], fine_t * 0.8, colours[max(0, j - 1) // 4])
    return img


def draw_track(
    track: PoseTrack, width: int | None = None, height: int | None = None, *, threshold: float = 0.0
) -> Iterator[np.ndarray]:
    """Draw a track frame by frame (a generator: one image in memory at a time).

    Output size defaults to the track's frame size; other sizes rescale the coordinates.
    `threshold` is `draw_pose`'s: points with conf <= it are not drawn.
    """
    t = track.canonical()
    w = int(width) if width is not None else t.width
    h = int(height) if height is not None else t.height
    for i in range(t.num_frames):
        yield draw_pose(t.xy[i], t.conf[i], w, h, scale_from=(t.width, t.height), threshold=threshold)
