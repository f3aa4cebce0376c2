"""Handshapes as finger joint angles, and the 21 hand keypoints they put in the image.

A handshape is a small vector of angles (flexion of each finger joint, finger spread,
thumb direction and flexion), so two handshapes interpolate smoothly for co-articulation.
The hand is a plane seen from the front: flexing a joint tilts the rest of the finger
toward the camera, which shortens its projection (cos of the accumulated flexion), so a
fist folds its fingers back over the palm and the articulation stays visible in 2D.
"""

from __future__ import annotations

import numpy as np

# Vector layout: 4 fingers x (mcp, pip, dip) flexion, 4 finger spreads, thumb angle, thumb flexion.
# Angles in degrees. Finger order: index, middle, ring, pinky.
NUM_PARAMS = 12 + 4 + 2


def _shape(fingers, spread=(4, 0, -4, -9), thumb=(35.0, 10.0)) -> np.ndarray:
    flex = []
    for f in fingers:
        flex.extend(f)
    return np.asarray(flex + list(spread) + list(thumb), dtype=np.float32)


STRAIGHT = (0, 0, 0)
CURLED = (85, 100, 60)
HALF = (35, 45, 25)

HANDSHAPES: dict[str, np.ndarray] = {
    "flat": _shape([STRAIGHT] * 4, spread=(2, 0, -2, -4), thumb=(12.0, 5.0)),
    "open": _shape([STRAIGHT] * 4, spread=(12, 0, -12, -24), thumb=(65.0, 0.0)),
    "fist": _shape([CURLED] * 4, thumb=(20.0, 20.0)),
    "index": _shape([STRAIGHT, CURLED, CURLED, CURLED], thumb=(-25.0, 50.0)),
    "V": _shape([STRAIGHT, STRAIGHT, CURLED, CURLED], spread=(14, -10, -4, -9), thumb=(-25.0, 50.0)),
    "C": _shape([HALF] * 4, spread=(3, 0, -3, -6), thumb=(55.0, 25.0)),
    "O": _shape([(50, 65, 40)] * 4, spread=(2, 0, -2, -5), thumb=(25.0, 55.0)),
    "thumb_up": _shape([CURLED] * 4, thumb=(5.0, 0.0)),
    "Y": _shape([CURLED, CURLED, CURLED, STRAIGHT], spread=(4, 0, -4, -25), thumb=(75.0, 0.0)),
    "L": _shape([STRAIGHT, CURLED, CURLED, CURLED], thumb=(85.0, 0.0)),
    "bent": _shape([(80, 5, 0)] * 4, spread=(2, 0, -2, -4), thumb=(15.0, 10.0)),
}

# Hand geometry in units of hand length (wrist to middle fingertip).
# MCP position (across toward the thumb side, along toward the fingers), then the three
# phalanx lengths, per finger.
_MCP = np.asarray([(0.16, 0.44), (0.05, 0.46), (-0.06, 0.44), (-0.15, 0.40)], dtype=np.float32)
_PHALANX = np.asarray([(0.23, 0.15, 0.12), (0.25, 0.17, 0.12), (0.23, 0.16, 0.12), (0.18, 0.12, 0.10)],
                      dtype=np.float32)
_THUMB_CMC = np.asarray((0.10, 0.10), dtype=np.float32)
_THUMB = np.asarray((0.20, 0.15, 0.13), dtype=np.float32)


def handshape(name: str) -> np.ndarray:
    """The parameter vector of a named handshape (a copy)."""
    if name not in HANDSHAPES:
        raise KeyError(f"unknown handshape {name!r}; known: {', '.join(HANDSHAPES)}")
    return HANDSHAPES[name].copy()


def hand_points(wrist: np.ndarray, angle_deg: float, params: np.ndarray, length: float,
                thumb_side: float) -> np.ndarray:
    """The 21 canonical hand keypoints (wrist, thumb cmc..tip, index..pinky mcp..tip), [21, 2].

    wrist: pixel position; angle_deg: image direction from the wrist to the fingers
    (0 = up, 90 = image right, 180 = down); length: wrist to middle fingertip in pixels;
    thumb_side: +1 if the thumb is on the image-right side of the hand when it points up,
    -1 otherwise (which side depends on the hand and on whether the palm faces the camera).
    """
    params = np.asarray(params, dtype=np.float32)
    a = np.deg2rad(angle_deg)
    up = np.asarray((np.sin(a), -np.cos(a)), dtype=np.float32)           # toward the fingers
    across = np.asarray((np.cos(a), np.sin(a)), dtype=np.float32) * thumb_side  # toward the thumb
    out = np.zeros((21, 2), dtype=np.float32)
    wrist = np.asarray(wrist, dtype=np.float32)
    out[0] = wrist

    def to_image(local: np.ndarray) -> np.ndarray:
        return wrist + length * (local[0] * across + local[1] * up)

    flex = np.deg2rad(params[:12].reshape(4, 3))
    spread = np.deg2rad(params[12:16])
    for f in range(4):
        base = _MCP[f]
        d = np.asarray((np.sin(spread[f]), np.cos(spread[f])), dtype=np.float32)  # local direction
        pos = base.copy()
        out[5 + 4 * f] = to_image(pos)
        cum = 0.0
        for j in range(3):
            cum += flex[f, j]
            # foreshortened along the finger, plus a little sideways drift so folded
            # segments do not land exactly on top of each other
            step = _PHALANX[f, j] * (np.cos(cum) * d + 0.12 * np.sin(cum) * np.asarray((d[1], -d[0])))
            pos = pos + step
            out[5 + 4 * f + j + 1] = to_image(pos)
    t_angle, t_flex = np.deg2rad(params[16]), np.deg2rad(params[17])
    pos = _THUMB_CMC.copy()
    out[1] = to_image(pos)
    cum = 0.0
    for j in range(3):
        # the thumb leans toward the thumb side by t_angle and curls across the palm when flexed
        cum += t_flex * (0.5 if j == 0 else 1.0)
        direction = t_angle - cum
        step = _THUMB[j] * np.asarray((np.sin(direction), np.cos(direction)), dtype=np.float32)
        pos = pos + step * (0.6 + 0.4 * np.cos(cum))
        out[2 + j] = to_image(pos)
    return out
