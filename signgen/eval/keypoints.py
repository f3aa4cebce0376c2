"""Keypoint consistency, for real data where no labels exist: MediaPipe Holistic on the frames
against the target pose (as pose-guided video peers report it).

Per clip: the hand detection rate (of the hands the target pose has, the share MediaPipe
finds), and the mean pixel error of the detected arm joints (shoulders, elbows, wrists) and
hand joints against the target, in the frames' pixels. Run it on ground-truth frames first:
that is the ceiling, and says whether MediaPipe can see these hands at all at this size.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from ..pose.layouts import canonical as C

__all__ = ["ARM_JOINTS", "keypoint_consistency"]

ARM_JOINTS = (2, 3, 4, 5, 6, 7)  # canonical shoulders, elbows, wrists
_HANDS = {"right": C.RIGHT_HAND_START, "left": C.LEFT_HAND_START}
_MIN_HAND_POINTS = 5


def keypoint_consistency(frames: Iterable[np.ndarray], xy: np.ndarray, conf: np.ndarray) -> dict[str, float]:
    """MediaPipe Holistic on `frames` (RGB, one size) against target canonical poses xy [T, 128, 2],
    conf [T, 128]: {"hand_detection", "arm_error_px", "hand_error_px", "hands_expected"}."""
    from ..pose.extract import extract_images

    found = extract_images(frames).to_layout("canonical")
    if found.num_frames != len(xy):
        raise ValueError(f"{found.num_frames} frames but {len(xy)} target poses")
    expected = detected = 0
    arm_err, hand_err = [], []
    for t in range(len(xy)):
        for start in _HANDS.values():
            sl = slice(start, start + len(C.HAND))
            if (conf[t, sl] > 0).sum() < _MIN_HAND_POINTS:
                continue
            expected += 1
            both = (conf[t, sl] > 0) & (found.conf[t, sl] > 0)
            if (found.conf[t, sl] > 0).sum() >= _MIN_HAND_POINTS:
                detected += 1
                if both.any():
                    hand_err.append(float(np.linalg.norm(found.xy[t, sl][both] - xy[t, sl][both], axis=1).mean()))
        j = np.asarray(ARM_JOINTS)
        ok = (conf[t, j] > 0) & (found.conf[t, j] > 0)
        if ok.any():
            arm_err.append(float(np.linalg.norm(found.xy[t, j][ok] - xy[t, j][ok], axis=1).mean()))
    nan = float("nan")
    return {
        "hand_detection": detected / expected if expected else nan,
        "hands_expected": float(expected),
        "arm_error_px": float(np.mean(arm_err)) if arm_err else nan,
        "hand_error_px": float(np.mean(hand_err)) if hand_err else nan,
    }
