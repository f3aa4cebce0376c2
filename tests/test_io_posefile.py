""".pose reading by point name: reduced holistic files (spoken-to-signed's reduce_holistic) and
hand-made headers with subsets, reordered and unknown point names."""

from __future__ import annotations

import io as _io
import warnings
from pathlib import Path

import numpy as np
import pytest
from pose_format import Pose
from pose_format.numpy import NumPyPoseBody
from pose_format.pose_header import PoseHeader, PoseHeaderComponent, PoseHeaderDimensions
from pose_format.utils.generic import reduce_holistic

from signgen.errors import InputError
from signgen.pose import io
from signgen.pose.layouts import canonical as C
from signgen.pose.layouts import holistic as H

L_SHOULDER, R_SHOULDER = H.POSE33.index("left_shoulder"), H.POSE33.index("right_shoulder")


def save(pose: Pose, path: Path) -> Path:
    buf = _io.BytesIO()
    pose.write(buf)
    path.write_bytes(buf.getvalue())
    return path


def made_pose(components: dict[str, list[str]], T: int = 2) -> Pose:
    """A pose whose point i (over all components) sits at x = 10 + i, y = 100 + t, z = i / 10."""
    comps = [
        PoseHeaderComponent(name=n, points=pts, limbs=[], colors=[(255, 255, 255)], point_format="XYZC")
        for n, pts in components.items()
    ]
    header = PoseHeader(version=0.2, dimensions=PoseHeaderDimensions(width=640, height=480, depth=0), components=comps)
    P = sum(len(p) for p in components.values())
    data = np.zeros((T, 1, P, 3), np.float32)
    data[..., 0] = 10 + np.arange(P)
    data[..., 1] = 100 + np.arange(T)[:, None, None]
    data[..., 2] = np.arange(P) / 10
    return Pose(header, NumPyPoseBody(fps=30, data=data, confidence=np.ones((T, 1, P), np.float32)))


def test_reduced_holistic_lands_on_the_right_points(real_pose_file, tmp_path):
    full = io.read_pose(real_pose_file)
    reduced = reduce_holistic(Pose.read(real_pose_file.read_bytes()))
    body = next(c for c in reduced.header.components if c.name == "POSE_LANDMARKS")
    assert len(body.points) == 8 and body.points[0] == "LEFT_SHOULDER"  # what made position-placement wrong
    track = io.read_pose(save(reduced, tmp_path / "reduced.pose"))
    assert track.layout == "holistic" and track.num_keypoints == 553
    for k in (L_SHOULDER, R_SHOULDER):
        np.testing.assert_array_equal(track.xy[:, k], full.xy[:, k])
        np.testing.assert_array_equal(track.conf[:, k], full.conf[:, k])
        np.testing.assert_array_equal(track.meta["z"][:, k], full.meta["z"][:, k])
    assert (track.conf[:, H.POSE33.index("nose")] == 0).all()  # dropped by the reduction: missing
    # face contour point "10" at mesh vertex 10; a vertex the reduction dropped (1) is missing
    np.testing.assert_array_equal(track.xy[:, H.FACE_START + 10], full.xy[:, H.FACE_START + 10])
    assert (track.conf[:, H.FACE_START + 1] == 0).all()
    # hands keep all 21 points
    np.testing.assert_array_equal(track.xy[:, H.LEFT_HAND_START :], full.xy[:, H.LEFT_HAND_START :])
    # so the canonical shoulders are the real shoulders
    a, b = track.canonical(), full.canonical()
    for name in ("left_shoulder", "right_shoulder", "left_elbow", "right_wrist"):
        k = C.NAMES.index(name)
        np.testing.assert_array_equal(a.xy[:, k], b.xy[:, k])
        assert (a.conf[:, k] > 0).any()


def test_points_are_placed_by_name_in_any_order(tmp_path):
    pose = made_pose({
        "RIGHT_HAND_LANDMARKS": ["PINKY_TIP", "WRIST"],
        "POSE_LANDMARKS": ["right_shoulder", "NOSE", "LEFT_SHOULDER"],  # case does not matter
        "FACE_LANDMARKS": ["477", "0"],
        "POSE_WORLD_LANDMARKS": ["NOSE"],  # metric 3D: not placed
    })
    t = io.read_pose(save(pose, tmp_path / "p.pose"))
    expect = {
        H.RIGHT_HAND_START + 20: 0, H.RIGHT_HAND_START: 1, R_SHOULDER: 2, H.POSE33.index("nose"): 3,
        L_SHOULDER: 4, H.FACE_START + 477: 5, H.FACE_START: 6,
    }
    for k, i in expect.items():
        assert t.xy[1, k].tolist() == [10.0 + i, 101.0] and t.conf[1, k] == 1
        assert t.meta["z"][1, k] == pytest.approx(i / 10)
    assert int((t.conf[0] > 0).sum()) == len(expect)
    assert (t.width, t.height, t.fps) == (640, 480, 30.0)


def test_unknown_point_names(tmp_path):
    pose = made_pose({"POSE_LANDMARKS": ["LEFT_SHOULDER", "SPINE", "TAIL"]})
    with pytest.raises(InputError) as e:
        io.read_pose(save(pose, tmp_path / "u.pose"))
    msg = str(e.value)
    assert msg.startswith(str(tmp_path / "u.pose"))
    assert "POSE_LANDMARKS has points MediaPipe Holistic does not name (SPINE, TAIL)" in msg
    pose = made_pose({"POSE_LANDMARKS": ["NOSE", "NOSE"]})
    with pytest.raises(InputError, match="lists point NOSE twice"):
        io.read_pose(save(pose, tmp_path / "d.pose"))


def test_other_names_with_the_full_count_are_placed_by_position(tmp_path):
    pose = made_pose({
        "LEFT_HAND_LANDMARKS": [f"p{i}" for i in range(21)], "FACE_LANDMARKS": [f"v{i}" for i in range(468)],
    })
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = io.read_pose(save(pose, tmp_path / "o.pose"))
    assert any("placed by position" in str(w.message) for w in caught)
    assert t.xy[0, H.LEFT_HAND_START + 3, 0] == 13.0 and t.xy[0, H.FACE_START + 467, 0] == 10.0 + 21 + 467
    assert (t.conf[:, H.FACE_START + 468 : H.FACE_START + 478] == 0).all()  # no iris


def _one_point_pose(tmp_path: Path, *, fps: float = 25, size: tuple[int, int] = (200, 100), xy=(50.0, 80.0)) -> Path:
    pose = made_pose({"POSE_LANDMARKS": ["NOSE"]}, T=2)
    pose.header.dimensions = PoseHeaderDimensions(width=size[0], height=size[1], depth=0)
    pose.body.fps = fps
    pose.body.data[..., 0], pose.body.data[..., 1] = xy
    return save(pose, tmp_path / "one.pose")


def test_unrecorded_frame_size_is_inferred_from_the_points(tmp_path):
    """Width/height 0 in the header used to give a 1x1 frame with points at (50, 80)."""
    track = io.read_pose(_one_point_pose(tmp_path, size=(0, 0)))
    assert (track.width, track.height) == (50, 80)


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(fps=1e30), "the file's fps must be > 0 and <= 1000"),
        (dict(size=(60000, 100)), "the file's width must be in 1..16384, got 60000"),
        (dict(xy=(1e30, 5.0)), "frame 0, point 0: coordinate"),
    ],
)
def test_absurd_headers_and_values_are_refused(tmp_path, kw, message):
    path = _one_point_pose(tmp_path, **kw)
    with pytest.raises(InputError, match=message) as err:
        io.read_pose(path)
    assert err.value.path == str(path)


def test_truncated_file_says_so(real_pose_file, tmp_path):
    cut = tmp_path / "cut.pose"
    cut.write_bytes(real_pose_file.read_bytes()[:5000])
    with pytest.raises(InputError, match=r"cut.pose: not a readable .pose file \(truncated or corrupt\)$"):
        io.read_pose(cut)


def test_a_file_with_no_person_is_a_track_of_missing_points(tmp_path):
    """Zero people per frame (nobody detected) raised an IndexError traceback."""
    pose = made_pose({"POSE_LANDMARKS": ["NOSE", "LEFT_EYE"]}, T=3)
    pose.body.data = pose.body.data[:, :0]
    pose.body.confidence = pose.body.confidence[:, :0]
    path = save(pose, tmp_path / "nobody.pose")
    with pytest.warns(UserWarning, match="no person in the file; every point is missing"):
        track = io.read_pose(path)
    assert (track.num_frames, track.layout) == (3, "holistic") and not track.conf.any()
