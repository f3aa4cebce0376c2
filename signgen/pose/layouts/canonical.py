"""The canonical signer layout every other layout converts to and from.

128 keypoints, left/right meaning the signer's own side:

- 0..17   body, in OpenPose-18 (COCO-18) order, so OpenPose-18 maps onto it one to one;
- 18..38  left hand, 21 points (wrist, thumb cmc..tip, index mcp..tip, middle, ring, pinky);
- 39..59  right hand, same order;
- 60..127 face, the 68-point iBUG layout (jaw 17, brows 5+5, nose 9, eyes 6+6, mouth 20).
"""

from __future__ import annotations

BODY = (
    "nose", "neck",
    "right_shoulder", "right_elbow", "right_wrist",
    "left_shoulder", "left_elbow", "left_wrist",
    "right_hip", "right_knee", "right_ankle",
    "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
)
HAND = (
    "wrist",
    "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip",
    "index_mcp", "index_pip", "index_dip", "index_tip",
    "middle_mcp", "middle_pip", "middle_dip", "middle_tip",
    "ring_mcp", "ring_pip", "ring_dip", "ring_tip",
    "pinky_mcp", "pinky_pip", "pinky_dip", "pinky_tip",
)
FACE68 = tuple(
    [f"jaw_{i}" for i in range(17)]
    + [f"right_brow_{i}" for i in range(5)]
    + [f"left_brow_{i}" for i in range(5)]
    + [f"nose_{i}" for i in range(9)]
    + [f"right_eye_{i}" for i in range(6)]
    + [f"left_eye_{i}" for i in range(6)]
    + [f"mouth_outer_{i}" for i in range(12)]
    + [f"mouth_inner_{i}" for i in range(8)]
)

BODY_START, LEFT_HAND_START, RIGHT_HAND_START, FACE_START = 0, 18, 39, 60
NAMES = (
    BODY
    + tuple(f"left_hand_{n}" for n in HAND)
    + tuple(f"right_hand_{n}" for n in HAND)
    + tuple(f"face_{n}" for n in FACE68)
)
NUM_KEYPOINTS = len(NAMES)  # 128

BODY_LIMBS = (
    (1, 2), (2, 3), (3, 4),        # right arm
    (1, 5), (5, 6), (6, 7),        # left arm
    (1, 8), (8, 9), (9, 10),       # right leg
    (1, 11), (11, 12), (12, 13),   # left leg
    (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),  # head
)
# Bones of one hand, indices relative to the hand's first point.
HAND_BONES = tuple(
    (0 if j == 0 else 1 + 4 * f + j - 1, 1 + 4 * f + j) for f in range(5) for j in range(4)
)
# Face contours, indices relative to the face's first point.
FACE_CONTOURS = (
    tuple(range(0, 17)), tuple(range(17, 22)), tuple(range(22, 27)),
    tuple(range(27, 31)), tuple(range(31, 36)),
    tuple(range(36, 42)) + (36,), tuple(range(42, 48)) + (42,),
    tuple(range(48, 60)) + (48,), tuple(range(60, 68)) + (60,),
)

# iBUG-68 mirror image: which face point becomes which under a horizontal flip.
_FACE_FLIP = (
    list(range(16, -1, -1))
    + list(range(26, 16, -1))
    + [27, 28, 29, 30, 35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]
    + [64, 63, 62, 61, 60, 67, 66, 65]
)


def _flip_permutation() -> tuple[int, ...]:
    perm = list(range(NUM_KEYPOINTS))
    for i, name in enumerate(NAMES):
        if name.startswith("face_"):
            continue
        if "left" in name:
            perm[i] = NAMES.index(name.replace("left", "right"))
        elif "right" in name:
            perm[i] = NAMES.index(name.replace("right", "left"))
    for i, j in enumerate(_FACE_FLIP):
        perm[FACE_START + i] = FACE_START + j
    return tuple(perm)


# FLIP[i] is the keypoint that i turns into when the image is mirrored left-right.
FLIP = _flip_permutation()
