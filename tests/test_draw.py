import inspect

import numpy as np

from signgen.pose import PoseTrack
from signgen.pose.draw import (
    BODY_COLOURS, FACE_COLOUR, LEFT_FINGER_COLOURS, RIGHT_FINGER_COLOURS, default_thickness,
    draw_pose, draw_track,
)
from signgen.pose.io import read_pose
from signgen.pose.layouts import canonical as C


def empty() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((C.NUM_KEYPOINTS, 2), np.float32), np.zeros(C.NUM_KEYPOINTS, np.float32)


def with_points(**points) -> tuple[np.ndarray, np.ndarray]:
    xy, conf = empty()
    for name, p in points.items():
        k = C.NAMES.index(name)
        xy[k], conf[k] = p, 1.0
    return xy, conf


def colour_at(img: np.ndarray, x: int, y: int) -> tuple[int, ...]:
    return tuple(int(v) for v in img[y, x])


def test_same_input_gives_identical_bytes(real_pose_file):
    frame = read_pose(real_pose_file).canonical().frame(5)
    a = draw_pose(frame.xy[0], frame.conf[0], 128, 128, scale_from=(frame.width, frame.height))
    b = draw_pose(frame.xy[0].copy(), frame.conf[0].copy(), 128, 128, scale_from=(frame.width, frame.height))
    assert a.tobytes() == b.tobytes()
    assert a.any()


def test_left_and_right_wrists_differ_in_colour():
    xy, conf = with_points(right_wrist=(20, 32), left_wrist=(44, 32))
    img = draw_pose(xy, conf, 64, 64)
    right, left = colour_at(img, 20, 32), colour_at(img, 44, 32)
    assert right != (0, 0, 0) and left != (0, 0, 0)
    assert right != left
    assert right[0] > right[2] and left[2] > left[0]  # warm right, cool left


def test_limb_colours_follow_the_signers_side():
    xy, conf = with_points(right_elbow=(30, 100), right_wrist=(30, 200), left_elbow=(170, 100), left_wrist=(170, 200))
    img = draw_pose(xy, conf, 200, 256)
    right_forearm = BODY_COLOURS[C.BODY_LIMBS.index((3, 4))]
    left_forearm = BODY_COLOURS[C.BODY_LIMBS.index((6, 7))]
    assert colour_at(img, 30, 150) == right_forearm
    assert colour_at(img, 170, 150) == left_forearm


def test_each_finger_of_each_hand_has_its_own_colour():
    assert len(set(RIGHT_FINGER_COLOURS + LEFT_FINGER_COLOURS)) == 10
    xy, conf = empty()
    for side, start in (("right", C.RIGHT_HAND_START), ("left", C.LEFT_HAND_START)):
        x0 = 40 if side == "right" else 160
        xy[start], conf[start] = (x0, 200), 1
        for f in range(5):  # five straight vertical fingers, 20 px apart
            for j in range(4):
                k = start + 1 + 4 * f + j
                xy[k], conf[k] = (x0 - 40 + 20 * f, 150 - 20 * j), 1
    img = draw_pose(xy, conf, 256, 256, thickness=4)
    for f in range(5):
        assert colour_at(img, 40 - 40 + 20 * f, 120) == RIGHT_FINGER_COLOURS[f]
        assert colour_at(img, 160 - 40 + 20 * f, 120) == LEFT_FINGER_COLOURS[f]


def test_face_contour_in_its_colour():
    xy, conf = empty()
    for i in range(17):  # jaw line as a horizontal segment
        xy[C.FACE_START + i], conf[C.FACE_START + i] = (20 + 5 * i, 50), 1
    img = draw_pose(xy, conf, 128, 128, thickness=4)
    assert colour_at(img, 60, 50) == FACE_COLOUR


def test_missing_points_draw_nothing():
    xy, conf = empty()
    assert not draw_pose(xy, conf, 64, 64).any()
    xy, conf = with_points(right_elbow=(10, 10), right_wrist=(50, 50))
    drawn = draw_pose(xy, conf, 64, 64)
    assert drawn[30, 30].any()
    conf[C.NAMES.index("right_wrist")] = 0.0  # the wrist goes missing: no forearm, no wrist dot
    img = draw_pose(xy, conf, 64, 64)
    assert not img[20:, 20:].any()
    assert img[10, 10].any()  # the elbow is still there
    conf[C.NAMES.index("right_wrist")] = 0.3
    assert not draw_pose(xy, conf, 64, 64, threshold=0.5)[20:, 20:].any()


def test_tiny_draw_shape_and_type(real_pose_file):
    track = read_pose(real_pose_file)  # holistic layout: converted inside
    frame = track.frame(0)
    img = draw_pose(frame.xy[0], frame.conf[0], 64, 48, layout="holistic", scale_from=(track.width, track.height))
    assert img.shape == (48, 64, 3) and img.dtype == np.uint8
    assert img.any()
    assert default_thickness(64, 64) == 1 and default_thickness(512, 512) == 5


def test_rescaling_matches_drawing_in_the_target_coordinates():
    xy, conf = with_points(right_shoulder=(40, 40), right_elbow=(40, 160))
    small = draw_pose(xy, conf, 100, 100, scale_from=(200, 200), thickness=2)
    direct = draw_pose(xy / 2, conf, 100, 100, thickness=2)
    assert small.tobytes() == direct.tobytes()
    assert small[20:80, 20].any() and not small[20:80, 60].any()


def test_draw_track_is_a_generator_of_frames(real_pose_file):
    track = read_pose(real_pose_file)
    frames = draw_track(track, 96, 80)
    assert inspect.isgenerator(frames)
    first = next(frames)
    rest = list(frames)
    assert first.shape == (80, 96, 3)
    assert 1 + len(rest) == track.num_frames
    default = next(draw_track(track))
    assert default.shape == (track.height, track.width, 3)


def test_draw_track_of_a_blank_track():
    track = PoseTrack(xy=np.zeros((3, 128, 2)), conf=np.zeros((3, 128)), fps=25, width=32, height=32)
    assert all(not f.any() for f in draw_track(track))


def test_thickness_scales_with_size():
    widths = {}
    for size in (64, 256, 512):
        xy, conf = with_points(right_shoulder=(0.25 * size, 0.5 * size), left_shoulder=(0.75 * size, 0.5 * size))
        xy[1], conf[1] = (0.5 * size, 0.5 * size), 1
        column = draw_pose(xy, conf, size, size)[:, int(0.4 * size)].max(axis=-1)
        widths[size] = int((column > 127).sum())  # solid pixels across the horizontal limb
        assert default_thickness(size, size) <= widths[size] <= default_thickness(size, size) + 3
    assert widths[64] == 1 and widths[64] < widths[256] < widths[512]


def test_draw_track_threshold_and_the_default_keeps_low_visibility_points():
    """The default draws every present point: MediaPipe's visibility on a signing elbow is
    often below 0.5 (docs/pose-ops.md), and a threshold there would make the arm flicker."""
    xy, conf = with_points(right_elbow=(10, 10), right_wrist=(50, 50))
    conf[C.NAMES.index("right_wrist")] = 0.3
    track = PoseTrack(xy=xy[None], conf=conf[None], fps=25, width=64, height=64)
    assert next(draw_track(track))[30, 30].any()
    high = next(draw_track(track, threshold=0.5))
    assert not high[20:, 20:].any() and high[10, 10].any()
