import numpy as np
import pytest

from signgen.pose import PoseTrack, get_layout
from signgen.pose.layouts import canonical as C
from signgen.pose.skeleton import LAYOUTS, convert


def random_track(layout: str, T: int = 4, seed: int = 0) -> PoseTrack:
    rng = np.random.default_rng(seed)
    K = get_layout(layout).num_keypoints
    xy = rng.uniform(0, 200, size=(T, K, 2)).astype(np.float32)
    conf = rng.uniform(0.5, 1.0, size=(T, K)).astype(np.float32)
    return PoseTrack(xy=xy, conf=conf, fps=25, width=210, height=260, layout=layout)


def test_canonical_layout_shape():
    assert C.NUM_KEYPOINTS == 128 == len(set(C.NAMES))
    assert C.NAMES[C.LEFT_HAND_START] == "left_hand_wrist"
    assert C.NAMES[C.RIGHT_HAND_START + 20] == "right_hand_pinky_tip"
    assert C.NAMES[C.FACE_START] == "face_jaw_0"
    assert len(C.HAND_BONES) == 20


def test_flip_is_an_involution_that_swaps_sides():
    perm = np.asarray(C.FLIP)
    assert sorted(perm) == list(range(C.NUM_KEYPOINTS))
    assert (perm[perm] == np.arange(C.NUM_KEYPOINTS)).all()
    assert C.NAMES[perm[C.NAMES.index("left_wrist")]] == "right_wrist"
    assert perm[C.LEFT_HAND_START + 4] == C.RIGHT_HAND_START + 4
    assert perm[C.FACE_START + 36] == C.FACE_START + 45  # right eye outer <-> left eye outer


@pytest.mark.parametrize("name", ["openpose18", "openpose", "coco_wholebody", "holistic"])
def test_tables_are_in_range_and_unique(name):
    layout = get_layout(name)
    used = [i for src in layout.to_canonical for i in src]
    assert all(0 <= i < layout.num_keypoints for i in used)
    singles = [src[0] for src in layout.to_canonical if len(src) == 1]
    assert len(singles) == len(set(singles)), "two canonical points read the same foreign point"


@pytest.mark.parametrize("name", ["openpose18", "openpose", "coco_wholebody", "holistic"])
def test_canonical_round_trip_keeps_every_mapped_point(name):
    canon = random_track("canonical")
    layout = get_layout(name)
    fx, fc = convert(canon.xy, canon.conf, "canonical", name)
    bx, bc = convert(fx, fc, name, "canonical")
    mapped = np.array([len(s) > 0 for s in layout.to_canonical])
    single = np.array([len(s) == 1 for s in layout.to_canonical])
    np.testing.assert_allclose(bx[:, single], canon.xy[:, single])
    assert (bc[:, ~mapped] == 0).all()


def test_openpose18_is_the_canonical_body_exactly():
    t = random_track("openpose18")
    c = t.to_layout("canonical")
    np.testing.assert_array_equal(c.xy[:, :18], t.xy)
    assert (c.conf[:, 18:] == 0).all()
    back = c.to_layout("openpose18")
    np.testing.assert_array_equal(back.xy, t.xy)


def test_coco_neck_is_shoulder_mean_and_missing_if_a_shoulder_is():
    t = random_track("coco_wholebody")
    t.conf[1, 5] = 0  # left shoulder missing in frame 1
    c = t.canonical()
    np.testing.assert_allclose(c.xy[0, 1], (t.xy[0, 5] + t.xy[0, 6]) / 2)
    assert c.conf[1, 1] == 0 and c.conf[0, 1] > 0
    np.testing.assert_allclose(c.xy[:, C.FACE_START:], t.xy[:, 23:91])


def test_holistic_face_and_hands_land_in_place():
    t = random_track("holistic")
    c = t.canonical()
    np.testing.assert_array_equal(c.xy[:, C.LEFT_HAND_START:C.LEFT_HAND_START + 21], t.xy[:, 511:532])
    np.testing.assert_array_equal(c.xy[:, C.FACE_START + 30], t.xy[:, 33 + 4])  # nose tip = mesh 4
    np.testing.assert_array_equal(c.xy[:, 2], t.xy[:, 12])  # right shoulder = pose 12


def test_track_validation_messages():
    with pytest.raises(ValueError, match="has 128 keypoints, track has 5"):
        PoseTrack(xy=np.zeros((2, 5, 2)), conf=np.zeros((2, 5)), fps=25, width=10, height=10)
    with pytest.raises(ValueError, match="fps must be > 0"):
        PoseTrack(xy=np.zeros((2, 128, 2)), conf=np.zeros((2, 128)), fps=0, width=10, height=10)
    with pytest.raises(KeyError, match="unknown layout 'nope'"):
        get_layout("nope")
    assert set(LAYOUTS) == {"canonical", "holistic", "coco_wholebody", "openpose18", "openpose"}


def test_flipped_track_mirrors_x_and_swaps_hands():
    t = random_track("canonical")
    f = t.flipped()
    np.testing.assert_allclose(f.xy[:, C.RIGHT_HAND_START, 0], 210 - t.xy[:, C.LEFT_HAND_START, 0])
    np.testing.assert_allclose(f.flipped().xy, t.xy, atol=1e-4)
