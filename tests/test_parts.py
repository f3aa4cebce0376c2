"""Hand and face boxes from a canonical pose: where they are, how big, and what is missing."""

from __future__ import annotations

import numpy as np

from signgen.pose.layouts import canonical as C
from signgen.pose.parts import box_mask, crop, part_box, part_boxes
from signgen.synth import Identity
from signgen.synth.body import canonical_pose_for


def _pose():
    return canonical_pose_for(Identity.sample(3), "upper", 128, 160)


def test_boxes_contain_their_points_and_are_square():
    xy, conf = _pose()
    boxes = part_boxes(xy, conf, 128, 160)
    for part, start, n in (("left_hand", C.LEFT_HAND_START, 21), ("right_hand", C.RIGHT_HAND_START, 21),
                           ("face", C.FACE_START, 68)):
        x0, y0, x1, y1 = boxes[part]
        pts = xy[start:start + n][conf[start:start + n] > 0]
        inside = (pts[:, 0] >= x0) & (pts[:, 0] <= x1) & (pts[:, 1] >= y0) & (pts[:, 1] <= y1)
        assert inside.mean() > 0.95, part
        if 0 < x0 and x1 < 128 and 0 < y0 and y1 < 160:  # not clipped by the frame
            assert abs((x1 - x0) - (y1 - y0)) <= 1
    # a hand box is at least 0.45 shoulder widths on a side
    shoulder = np.linalg.norm(xy[2] - xy[5])
    x0, y0, x1, y1 = boxes["right_hand"]
    assert max(x1 - x0, y1 - y0) >= 0.45 * shoulder - 1


def test_missing_part_has_no_box_and_mask_is_the_union():
    xy, conf = _pose()
    conf = conf.copy()
    conf[C.LEFT_HAND_START:C.LEFT_HAND_START + 21] = 0
    boxes = part_boxes(xy, conf, 128, 160)
    assert boxes["left_hand"] is None and boxes["right_hand"] is not None
    mask = box_mask(boxes.values(), 128, 160)
    x0, y0, x1, y1 = boxes["face"]
    assert mask.shape == (160, 128) and mask[y0:y1, x0:x1].all()
    assert mask.sum() < 0.5 * mask.size
    assert part_box(xy, np.zeros_like(conf), "face", 128, 160) is None


def test_crop_resizes_without_inventing_detail():
    img = np.arange(160 * 128 * 3, dtype=np.uint8).reshape(160, 128, 3)
    out = crop(img, (10, 20, 30, 40))
    assert out.shape == (20, 20, 3) and (out == img[20:40, 10:30]).all()
    big = crop(img, (10, 20, 20, 30), size=40)
    assert big.shape == (40, 40, 3) and set(np.unique(big)) <= set(np.unique(img[20:30, 10:20]))
