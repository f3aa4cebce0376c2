"""COCO-WholeBody-133 (the HRNet keypoints published for PHOENIX-2014-T).

17 COCO body points, 6 foot points, 68 face points (iBUG order), 21 left hand, 21 right hand.
COCO has no neck: the canonical neck is the mean of the two shoulders.
"""

from __future__ import annotations

from . import canonical as C

NAME = "coco_wholebody"
BODY17 = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
FEET = (
    "left_big_toe", "left_small_toe", "left_heel",
    "right_big_toe", "right_small_toe", "right_heel",
)
FACE_START, LEFT_HAND_START, RIGHT_HAND_START = 23, 91, 112
NAMES = (
    BODY17 + FEET
    + tuple(f"face_{n}" for n in C.FACE68)
    + tuple(f"left_hand_{n}" for n in C.HAND)
    + tuple(f"right_hand_{n}" for n in C.HAND)
)

_BODY = tuple(
    (BODY17.index("left_shoulder"), BODY17.index("right_shoulder")) if n == "neck" else (BODY17.index(n),)
    for n in C.BODY
)
TO_CANONICAL = (
    _BODY
    + tuple((LEFT_HAND_START + i,) for i in range(21))
    + tuple((RIGHT_HAND_START + i,) for i in range(21))
    + tuple((FACE_START + i,) for i in range(68))
)
