"""MediaPipe Holistic as pose-format stores it.

Components in order: POSE_LANDMARKS (33), FACE_LANDMARKS (478: the 468-point mesh
plus 10 iris points; files with 468 are padded as missing), LEFT_HAND_LANDMARKS (21),
RIGHT_HAND_LANDMARKS (21): 553 points. POSE_WORLD_LANDMARKS, when a file has them, are
metric 3D and are not part of the image-space layout.

The face mesh has no iBUG-68 points as such; `FACE_MESH_TO_68` picks, for each of the
68, the mesh vertex at the same anatomical place (jaw line, brows, nose bridge and
nostrils, eye corners and lids, outer and inner lips).
"""

from __future__ import annotations

from . import canonical as C

NAME = "holistic"
POSE33 = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer",
    "right_eye_inner", "right_eye", "right_eye_outer", "left_ear", "right_ear",
    "mouth_left", "mouth_right", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)
POSE_START, FACE_START, LEFT_HAND_START, RIGHT_HAND_START = 0, 33, 511, 532
FACE_POINTS = 478
COMPONENTS = (
    ("POSE_LANDMARKS", 33),
    ("FACE_LANDMARKS", FACE_POINTS),
    ("LEFT_HAND_LANDMARKS", 21),
    ("RIGHT_HAND_LANDMARKS", 21),
)
NAMES = (
    POSE33
    + tuple(f"face_mesh_{i}" for i in range(FACE_POINTS))
    + tuple(f"left_hand_{n}" for n in C.HAND)
    + tuple(f"right_hand_{n}" for n in C.HAND)
)

FACE_MESH_TO_68 = (
    # jaw, from the signer's right ear round the chin to the left ear
    127, 234, 93, 132, 58, 172, 136, 150, 152, 379, 365, 397, 288, 361, 323, 454, 356,
    # right brow (outer -> inner), left brow (inner -> outer)
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300,
    # nose bridge (top -> tip), nostrils (right -> left)
    168, 197, 5, 4, 75, 97, 2, 326, 305,
    # right eye (outer corner, upper lid, inner corner, lower lid)
    33, 160, 158, 133, 153, 144,
    # left eye (inner corner, upper lid, outer corner, lower lid)
    362, 385, 387, 263, 373, 380,
    # outer lips, from the right corner over the top
    61, 40, 37, 0, 267, 270, 291, 321, 314, 17, 84, 91,
    # inner lips
    78, 81, 13, 311, 308, 402, 14, 178,
)

_BODY_FROM_POSE33 = {
    "neck": ("left_shoulder", "right_shoulder"),
}
_BODY = tuple(
    tuple(POSE33.index(p) for p in _BODY_FROM_POSE33.get(n, (n,))) for n in C.BODY
)
TO_CANONICAL = (
    _BODY
    + tuple((LEFT_HAND_START + i,) for i in range(21))
    + tuple((RIGHT_HAND_START + i,) for i in range(21))
    + tuple((FACE_START + i,) for i in FACE_MESH_TO_68)
)
