"""OpenPose full output: BODY_25 + face 70 + left hand 21 + right hand 21 (137 points).

This is how an OpenPose JSON frame with hands and face is laid out once its
`pose_keypoints_2d`, `face_keypoints_2d`, `hand_left_keypoints_2d` and
`hand_right_keypoints_2d` arrays are concatenated in that order.
"""

from __future__ import annotations

from . import canonical as C

NAME = "openpose"
BODY25 = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist",
    "left_shoulder", "left_elbow", "left_wrist", "mid_hip",
    "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
    "left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel",
)
FACE_START, LEFT_HAND_START, RIGHT_HAND_START = 25, 95, 116
NAMES = (
    BODY25
    + tuple(f"face_{n}" for n in C.FACE68) + ("face_right_pupil", "face_left_pupil")
    + tuple(f"left_hand_{n}" for n in C.HAND)
    + tuple(f"right_hand_{n}" for n in C.HAND)
)

_BODY = tuple((BODY25.index(n),) for n in C.BODY)
TO_CANONICAL = (
    _BODY
    + tuple((LEFT_HAND_START + i,) for i in range(21))
    + tuple((RIGHT_HAND_START + i,) for i in range(21))
    + tuple((FACE_START + i,) for i in range(68))
)
