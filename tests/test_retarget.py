import numpy as np
import pytest

from signgen.errors import InputError
from signgen.pose import PoseTrack
from signgen.pose.io import read_pose
from signgen.pose.layouts import canonical as C
from signgen.pose.retarget import TORSO_PER_SHOULDER, body_frame, retarget

R_HAND = list(range(C.RIGHT_HAND_START, C.FACE_START))


def person(cx: float, cy: float, sw: float, torso: float | None, hand_dx: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A canonical pose: shoulders `sw` apart around (cx, cy), hips `torso` below (None: no hips),
    and a right hand (21 points) hanging near the right wrist, moved by hand_dx."""
    xy = np.zeros((C.NUM_KEYPOINTS, 2), np.float32)
    conf = np.zeros(C.NUM_KEYPOINTS, np.float32)

    def put(k, x, y):
        xy[k] = (x, y)
        conf[k] = 1.0

    put(1, cx, cy)
    put(2, cx - sw / 2, cy)  # signer's right shoulder on image left
    put(5, cx + sw / 2, cy)
    put(0, cx, cy - 0.6 * sw)
    put(3, cx - sw / 2 - 0.1 * sw, cy + 0.6 * sw)
    put(4, cx - sw / 2 + hand_dx, cy + 0.2 * sw)
    if torso is not None:
        put(8, cx - 0.3 * sw, cy + torso)
        put(11, cx + 0.3 * sw, cy + torso)
    for j, k in enumerate(R_HAND):
        put(k, xy[4, 0] + 0.02 * sw * (j % 5), xy[4, 1] - 0.02 * sw * (j // 5))
    return xy, conf


def track_of(poses, width=600, height=600, fps=25.0) -> PoseTrack:
    xy = np.stack([p[0] for p in poses])
    conf = np.stack([p[1] for p in poses])
    return PoseTrack(xy=xy, conf=conf, fps=fps, width=width, height=height)


def test_body_frame_measures_shoulders_and_torso():
    anchor, sw, torso = body_frame(person(300, 200, 100, 150))
    np.testing.assert_allclose(anchor, [300, 200])
    assert sw == pytest.approx(100)
    assert torso == pytest.approx(150)
    _, sw, torso = body_frame(track_of([person(300, 200, 80, None)]))  # upper body only
    assert torso == pytest.approx(TORSO_PER_SHOULDER * 80)


def test_body_frame_on_a_real_holistic_track(real_pose_file):
    track = read_pose(real_pose_file)
    anchor, sw, torso = body_frame(track.frame(0))  # holistic layout, converted inside
    assert 0 < anchor[0] < track.width and 0 < anchor[1] < track.height
    assert 0.1 * track.width < sw < 0.8 * track.width
    assert 1.0 < torso / sw < 2.0


def test_body_frame_without_shoulders_is_an_input_error():
    xy, conf = person(300, 200, 100, 150)
    conf[5] = 0
    with pytest.raises(InputError, match="no shoulders"):
        body_frame((xy, conf))


def test_retarget_scales_and_anchors_and_keeps_the_motion():
    # motion: a big signer (shoulders 100 px, torso 150) swaying 20 px sideways
    motion = track_of([person(300 + dx, 250, 100, 150) for dx in (-20, -10, 0, 10, 20)])
    motion.conf[2, 9] = 0  # a missing knee stays missing
    reference = track_of([person(100, 90, 50, 75)], width=200, height=260)
    out = retarget(motion, reference)
    assert (out.width, out.height, out.layout, out.fps) == (200, 260, "canonical", 25.0)
    assert out.meta["retarget"]["scale"] == pytest.approx(0.5)
    mid = (out.xy[:, 2] + out.xy[:, 5]) / 2
    np.testing.assert_allclose(np.median(mid, axis=0), [100, 90], atol=1e-4)
    np.testing.assert_allclose(mid[:, 0] - 100, [-10, -5, 0, 5, 10], atol=1e-4)  # still sways, scaled
    sw = np.linalg.norm(out.xy[:, 2] - out.xy[:, 5], axis=-1)
    np.testing.assert_allclose(sw, 50, atol=1e-4)
    assert out.conf[2, 9] == 0 and (out.xy[2, 9] == 0).all()
    np.testing.assert_array_equal(out.conf, motion.conf)


def test_retarget_combines_shoulder_and_torso_ratios():
    motion = track_of([person(300, 250, 100, 150)])
    reference = track_of([person(100, 90, 50, 100)], width=200, height=260)  # narrow, long torso
    out = retarget(motion, reference)
    assert out.meta["retarget"]["scale"] == pytest.approx(np.sqrt(0.5 * 100 / 150))
    # a torso of 4 shoulder widths is a hallucinated hip: the shoulder ratio alone decides
    reference = track_of([person(100, 90, 50, 200)], width=200, height=260)
    motion = track_of([person(300, 250, 100, None)])
    assert retarget(motion, reference).meta["retarget"]["scale"] == pytest.approx(0.5)


def test_retarget_to_another_output_size():
    motion = track_of([person(300, 250, 100, 150)])
    reference = track_of([person(100, 90, 50, 75)], width=200, height=260)
    out = retarget(motion, reference, width=400, height=520)
    assert (out.width, out.height) == (400, 520)
    np.testing.assert_allclose((out.xy[0, 2] + out.xy[0, 5]) / 2, [200, 180], atol=1e-4)


def test_retarget_keeps_hands_inside_the_frame():
    # the hand swings far to the image left; the source signer stands near the left edge
    motion = track_of([person(300, 250, 100, 150, hand_dx=dx) for dx in (0, -100, -200, -300)])
    reference = track_of([person(60, 90, 50, 75)], width=200, height=260)
    out = retarget(motion, reference)
    hand = out.xy[:, [4] + R_HAND]
    assert (hand[..., 0] >= 0).all() and (hand[..., 0] < 200).all()
    # unretargeted-for-edges, the last hand would be at x < -100: it was eased to the border band
    assert 0 <= hand[-1, :, 0].min() < 0.04 * 200
    # a hand well inside the frame is not touched: frame 0's wrist is where scaling puts it
    assert out.xy[0, 4, 0] == pytest.approx(60 - 25, abs=1e-3)
    # the hand moves rigidly: its shape is kept
    np.testing.assert_allclose(
        out.xy[-1, R_HAND] - out.xy[-1, 4], 0.5 * (motion.xy[-1, R_HAND] - motion.xy[-1, 4]), atol=1e-3
    )
    # and the motion stays monotonic (eased, not frozen or reversed)
    assert np.all(np.diff(out.xy[:, 4, 0]) < 0)


def test_retarget_without_a_person_in_the_source_image():
    motion = track_of([person(300, 250, 100, 150)])
    xy, conf = person(100, 90, 50, 75)
    conf[:18] = 0
    reference = PoseTrack(xy=xy[None], conf=conf[None], fps=25, width=200, height=260,
                          meta={"source": "signer.png"})
    with pytest.raises(InputError, match=r"signer.png: no person found in the source image.*--no-retarget"):
        retarget(motion, reference)


def test_retarget_real_motion_onto_a_real_reference(fingerspelling_dir, real_pose_file):
    motion = read_pose(real_pose_file)
    other = read_pose(sorted(fingerspelling_dir.rglob("*.pose"))[7])
    reference = other.frame(0)
    out = retarget(motion, reference, width=256, height=256)
    ref_anchor, ref_sw, _ = body_frame(reference)
    got = (out.xy[:, 2] + out.xy[:, 5]) / 2
    scale = 256 / reference.width
    np.testing.assert_allclose(np.median(got, axis=0), ref_anchor * scale, atol=0.5)
    present = out.conf > 0
    assert present.any()
    inside = (out.xy[..., 0] >= 0) & (out.xy[..., 0] < 256) & (out.xy[..., 1] >= 0) & (out.xy[..., 1] < 256)
    hands = np.zeros(C.NUM_KEYPOINTS, bool)
    hands[C.LEFT_HAND_START:C.FACE_START] = True
    assert inside[present & hands].all()
