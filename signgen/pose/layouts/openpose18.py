"""OpenPose-18 (COCO-18 order), the DeepFashion keypoints: the canonical body, one to one."""

from __future__ import annotations

from . import canonical as C

NAME = "openpose18"
NAMES = C.BODY
# TO_CANONICAL[k] lists the points of this layout whose mean is canonical point k (empty: missing).
TO_CANONICAL = tuple((i,) for i in range(18)) + ((),) * (C.NUM_KEYPOINTS - 18)
