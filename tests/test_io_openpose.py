"""OpenPose JSON folders (one *_keypoints.json per frame), written from real tracks by a helper."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from signgen.errors import InputError
from signgen.pose import PoseTrack
from signgen.pose import io
from signgen.pose.layouts import openpose as OP


def flat(xy: np.ndarray, conf: np.ndarray) -> list[float]:
    """OpenPose's flat [x0, y0, c0, ...] with (0, 0, 0) for a missing point."""
    arr = np.concatenate([np.where(conf[:, None] > 0, xy, 0.0), conf[:, None]], axis=1)
    return [float(v) for v in arr.ravel()]


def write_openpose_folder(track: PoseTrack, folder: Path, *, empty: tuple[int, ...] = (), start: int = 0,
                          skip: tuple[int, ...] = ()) -> Path:
    """What OpenPose writes for `track` (layout openpose or openpose18): one file per frame."""
    folder.mkdir(parents=True, exist_ok=True)
    for t in range(track.num_frames):
        if t in skip:
            continue
        xy, c = track.xy[t], track.conf[t]
        if track.layout == "openpose18":
            person = {"pose_keypoints_2d": flat(xy, c), "face_keypoints_2d": [],
                      "hand_left_keypoints_2d": [], "hand_right_keypoints_2d": []}
        else:
            parts = ((0, 25), (OP.FACE_START, 70), (OP.LEFT_HAND_START, 21), (OP.RIGHT_HAND_START, 21))
            keys = ("pose_keypoints_2d", "face_keypoints_2d", "hand_left_keypoints_2d", "hand_right_keypoints_2d")
            person = {k: flat(xy[s : s + n], c[s : s + n]) for k, (s, n) in zip(keys, parts)}
        people = [] if t in empty else [{"person_id": [-1], **person}]
        doc = {"version": 1.3, "people": people}
        (folder / f"clip_{start + t}_keypoints.json").write_text(json.dumps(doc))  # unpadded: 2 < 10
    return folder


@pytest.fixture(scope="module")
def real_openpose_track(real_pose_file) -> PoseTrack:
    """A real fingerspelling track (holistic) in the OpenPose layout."""
    return io.read_track(real_pose_file).to_layout("openpose")


def test_openpose_folder_round_trip_from_a_real_track(real_openpose_track, tmp_path):
    t = real_openpose_track
    folder = write_openpose_folder(t, tmp_path / "op", empty=(1,))
    back = io.read_track(folder, fps=t.fps, width=t.width, height=t.height)
    assert back.layout == "openpose" and back.num_frames == t.num_frames
    assert back.meta["format"] == "openpose" and back.meta["first_frame"] == 0
    assert (back.conf[1] == 0).all()  # a frame with no people: every point missing
    keep = np.ones(t.num_frames, bool)
    keep[1] = False
    np.testing.assert_array_equal(back.conf[keep] > 0, t.conf[keep] > 0)
    present = (t.conf > 0) & keep[:, None]
    np.testing.assert_allclose(back.xy[present], t.xy[present], atol=1e-3)
    np.testing.assert_allclose(back.conf[keep], t.conf[keep], atol=1e-3)
    # and on to the other formats
    io.write_track(back, tmp_path / "op.json")
    assert io.read_track(tmp_path / "op.json").layout == "openpose"


def test_openpose_frames_sorted_by_number_with_gaps_kept(real_openpose_track, tmp_path):
    t = real_openpose_track.slice(0, 12)
    folder = write_openpose_folder(t, tmp_path / "op", start=5, skip=(3,))
    with pytest.warns(UserWarning, match="1 frame file"):
        back = io.read_track(folder)
    assert back.num_frames == 12 and back.meta["first_frame"] == 5
    assert (back.conf[3] == 0).all()
    # clip_15 sorts before clip_7 by name; by number it is frame 10
    np.testing.assert_allclose(back.xy[10][t.conf[10] > 0], t.xy[10][t.conf[10] > 0], atol=1e-3)
    # defaults: 25 fps, size from the largest present coordinate
    assert back.fps == 25.0
    present = t.conf > 0
    present[3] = False
    assert back.width == int(np.ceil(t.xy[..., 0][present].max()))
    assert back.height == int(np.ceil(t.xy[..., 1][present].max()))


def test_openpose18_bodies(tmp_path):
    rng = np.random.default_rng(1)
    t = PoseTrack(xy=rng.uniform(5, 100, (3, 18, 2)), conf=rng.uniform(0.1, 1, (3, 18)),
                  fps=10, width=128, height=128, layout="openpose18")
    back = io.read_track(write_openpose_folder(t, tmp_path / "a"), fps=10, width=128, height=128)
    assert back.layout == "openpose18"
    np.testing.assert_allclose(back.xy, t.xy, atol=1e-3)
    # an 18-point body with hands goes into the full openpose layout, body by name
    doc = json.loads((tmp_path / "a" / "clip_0_keypoints.json").read_text())
    doc["people"][0]["hand_left_keypoints_2d"] = [50.0, 60.0, 0.9] * 21
    (tmp_path / "a" / "clip_0_keypoints.json").write_text(json.dumps(doc))
    full = io.read_track(tmp_path / "a")
    assert full.layout == "openpose"
    assert full.xy[0, OP.BODY25.index("left_wrist")].tolist() == pytest.approx(t.xy[0, 7].tolist(), abs=1e-3)
    assert (full.conf[:, OP.BODY25.index("mid_hip")] == 0).all()
    assert full.conf[0, OP.LEFT_HAND_START] == pytest.approx(0.9)


def test_single_openpose_file_and_several_people(tmp_path):
    person = {"pose_keypoints_2d": [10.0, 20.0, 0.5] * 25}
    path = tmp_path / "x_000000000000_keypoints.json"
    path.write_text(json.dumps({"people": [person, person]}))
    with pytest.warns(UserWarning, match="several people"):
        t = io.read_track(path)
    assert t.num_frames == 1 and t.layout == "openpose" and t.conf[0, :25].tolist() == [0.5] * 25


@pytest.mark.parametrize(
    "people, expected",
    [
        ([{"pose_keypoints_2d": [1.0] * 51}], "people[0].pose_keypoints_2d has 51 values; expected 54 (18 points) or 75 (25 points)"),
        ([{"face_keypoints_2d": [1.0] * 9}], "people[0].face_keypoints_2d has 9 values; expected 210 (70 points)"),
        ([{"pose_keypoints_2d": [1.0, 2.0, 1.5] * 25}], "confidence outside [0, 1]"),
        ([{"pose_keypoints_2d": ["a"] * 75}], "must be a list of numbers"),
        ([3], "people[0] must be an object"),
    ],
)
def test_openpose_bad_frames_name_the_file(tmp_path, people, expected):
    folder = tmp_path / "op"
    folder.mkdir()
    (folder / "v_0_keypoints.json").write_text(json.dumps({"people": []}))
    bad = folder / "v_1_keypoints.json"
    bad.write_text(json.dumps({"people": people}))
    with pytest.raises(InputError) as e:
        io.read_track(folder)
    assert str(e.value) == f"{bad}: {expected}" or (str(e.value).startswith(f"{bad}: ") and expected in str(e.value))


def test_openpose_folder_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no OpenPose \\*_keypoints.json files in the folder"):
        io.read_track(tmp_path / "empty")
    d = tmp_path / "dup"
    d.mkdir()
    for name in ("a_1_keypoints.json", "b_01_keypoints.json"):
        (d / name).write_text('{"people": []}')
    with pytest.raises(InputError, match="two files for frame 1"):
        io.read_track(d)
    m = tmp_path / "mixed"
    m.mkdir()
    (m / "a_0_keypoints.json").write_text(json.dumps({"people": [{"pose_keypoints_2d": [1.0] * 54}]}))
    (m / "a_1_keypoints.json").write_text(json.dumps({"people": [{"pose_keypoints_2d": [1.0] * 75}]}))
    with pytest.raises(InputError, match="mix 18-point and 25-point"):
        io.read_track(m)
    (m / "a_2_keypoints.json").write_text("{nope")
    with pytest.raises(InputError, match="a_2_keypoints.json: invalid JSON at line 1, column 2"):
        io.read_track(m)
    with pytest.raises(InputError, match="layout openpose, but layout canonical was given"):
        io.read_track(write_openpose_folder(
            PoseTrack(xy=np.ones((1, 137, 2)), conf=np.ones((1, 137)), fps=25, width=9, height=9, layout="openpose"),
            tmp_path / "ok"), layout="canonical")


def _zip(folder: Path, path: Path, prefix: str = "run/") -> Path:
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(folder.iterdir()):
            z.write(f, prefix + f.name)
    return path


def test_openpose_zip_reads_like_the_folder(real_openpose_track, tmp_path):
    t = real_openpose_track
    folder = write_openpose_folder(t, tmp_path / "op", skip=(2,))
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        a = io.read_track(folder, fps=t.fps)
        b = io.read_track(_zip(folder, tmp_path / "op.zip"), fps=t.fps)
    assert (a.layout, a.num_frames, a.width, a.height) == (b.layout, b.num_frames, b.width, b.height)
    np.testing.assert_array_equal(a.xy, b.xy)
    np.testing.assert_array_equal(a.conf, b.conf)


def test_bad_openpose_zips_are_one_line_errors(tmp_path):
    import zipfile

    (tmp_path / "junk.zip").write_bytes(b"not a zip at all")
    with pytest.raises(InputError, match=r"junk.zip: not a readable zip file"):
        io.read_track(tmp_path / "junk.zip")
    with zipfile.ZipFile(tmp_path / "empty.zip", "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(InputError, match=r"empty.zip: no OpenPose \*_keypoints.json files in the zip"):
        io.read_track(tmp_path / "empty.zip")
    with zipfile.ZipFile(tmp_path / "gap.zip", "w") as z:
        z.writestr("a_0_keypoints.json", '{"people": []}')
        z.writestr("a_999999999_keypoints.json", '{"people": []}')
    with pytest.raises(InputError, match=r"gap.zip: frame numbers 0..999999999 span"):
        io.read_track(tmp_path / "gap.zip")
