"""Track formats: signgen JSON (track + gloss forms), .npy/.npz, dispatch, real .pose round trips."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from signgen.errors import InputError
from signgen.pose import LAYOUTS, PoseTrack
from signgen.pose import io
from signgen.pose.layouts import holistic
from signgen.pose.skeleton import ALIASES

XY_TOL = 0.005 + 1e-3  # JSON keeps 0.01 px (plus float32 noise at a few hundred px)


def small_track(layout: str = "canonical", T: int = 3, seed: int = 0) -> PoseTrack:
    rng = np.random.default_rng(seed)
    K = LAYOUTS[layout].num_keypoints
    conf = rng.uniform(0.2, 1.0, (T, K)).astype(np.float32)
    conf[0, :3] = 0.0
    return PoseTrack(
        xy=rng.uniform(0, 200, (T, K, 2)), conf=conf, fps=12.5, width=210, height=260, layout=layout
    )


def write_doc(path: Path, doc) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def track_doc(K: int = 128, T: int = 2, layout: str = "canonical", **header) -> dict:
    frames = [[[10.0 + k, 20.0 + t, 1.0] for k in range(K)] for t in range(T)]
    return {"fps": 25, "width": 210, "height": 260, "layout": layout, "frames": frames, **header}


def error_of(fn, *args, **kw) -> str:
    with pytest.raises(InputError) as e:
        fn(*args, **kw)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


# ------------------------------------------------------------------ real .pose round trips


def assert_same(a: PoseTrack, b: PoseTrack, xy_tol: float = 0.0, conf_tol: float = 0.0) -> None:
    assert (a.layout, a.width, a.height, a.num_frames) == (b.layout, b.width, b.height, b.num_frames)
    assert math.isclose(a.fps, b.fps)
    np.testing.assert_array_equal(a.conf > 0, b.conf > 0)
    np.testing.assert_allclose(a.conf, b.conf, atol=conf_tol)
    present = a.conf > 0
    np.testing.assert_allclose(a.xy[present], b.xy[present], atol=xy_tol)


def test_real_pose_json_pose_round_trip(real_pose_file, tmp_path):
    track = io.read_track(real_pose_file)
    assert track.layout == "holistic" and track.num_keypoints == 553 and track.num_frames > 5
    io.write_track(track, tmp_path / "seq.json")
    back = io.read_track(tmp_path / "seq.json")
    assert_same(track, back, XY_TOL, 0.001)
    io.write_track(back, tmp_path / "again.pose")
    assert_same(back, io.read_track(tmp_path / "again.pose"))
    # the JSON is the documented form, one frame per line
    doc = json.loads((tmp_path / "seq.json").read_text())
    assert doc["layout"] == "holistic" and len(doc["frames"]) == track.num_frames
    assert len(doc["frames"][0]) == 553 and len(doc["frames"][0][0]) == 3
    assert (tmp_path / "seq.json").read_text().count("\n") == track.num_frames + 2


def test_real_pose_npz_round_trip_is_exact_with_depth(real_pose_file, tmp_path):
    track = io.read_track(real_pose_file)
    io.write_track(track, tmp_path / "a.npz")
    back = io.read_track(tmp_path / "a.npz")
    assert_same(track, back)
    np.testing.assert_array_equal(track.meta["z"], back.meta["z"])


def test_real_pose_npy_keeps_points_and_needs_fps(real_pose_file, tmp_path):
    track = io.read_track(real_pose_file)
    io.write_track(track, tmp_path / "a.npy")
    arr = np.load(tmp_path / "a.npy")
    assert arr.shape == (track.num_frames, 553, 3) and arr.dtype == np.float32
    back = io.read_track(tmp_path / "a.npy", fps=track.fps, width=track.width, height=track.height)
    assert_same(track, back)


def test_visibility_above_one_is_clipped_so_json_round_trips(fingerspelling_dir, tmp_path):
    """MediaPipe's raw visibility strays past 1 (1.02 here); it was kept, and the JSON written
    from it was refused on reading ("confidence 1.02 is outside [0, 1])."""
    from pose_format import Pose

    path = fingerspelling_dir / "bzs" / "fs-sts51c4cdd553f9811a50ea68ddb197e15e.pose"
    raw = Pose.read(path.read_bytes())
    assert np.asarray(raw.body.confidence)[:, 0, :33].max() > 1.0  # the file really has it
    track = io.read_track(path)
    assert 0.0 <= track.conf.min() and track.conf.max() == 1.0
    io.write_track(track, tmp_path / "a.json")
    assert_same(track, io.read_track(tmp_path / "a.json"), XY_TOL, 0.001)


def test_fingerspelling_tracks_convert_to_json_and_back(fingerspelling_dir, tmp_path):
    for i, f in enumerate(sorted(fingerspelling_dir.rglob("*.pose"))[::150]):
        track = io.read_track(f).to_layout("canonical")
        io.write_track(track, tmp_path / f"{i}.json")
        assert_same(track, io.read_track(tmp_path / f"{i}.json"), XY_TOL, 0.001)


# ------------------------------------------------------------------ signgen JSON: track form


def test_json_layouts_and_two_value_points(tmp_path):
    for layout in LAYOUTS:
        t = small_track(layout, T=2)
        io.write_json_track(t, tmp_path / f"{layout}.json")
        assert_same(t, io.read_track(tmp_path / f"{layout}.json"), XY_TOL, 0.001)
    doc = track_doc()
    doc["frames"] = [[p[:2] for p in f] for f in doc["frames"]]
    del doc["layout"]  # canonical by default
    t = io.read_track(write_doc(tmp_path / "xy.json", doc))
    assert t.layout == "canonical" and (t.conf == 1).all() and t.xy[1, 5].tolist() == [15.0, 21.0]


def test_json_holistic_543_points_pads_iris_as_missing(tmp_path):
    doc = track_doc(K=543, layout="holistic")
    t = io.read_track(write_doc(tmp_path / "h.json", doc))
    assert t.num_keypoints == 553
    iris = slice(holistic.FACE_START + 468, holistic.FACE_START + 478)
    assert (t.conf[:, iris] == 0).all()
    assert (t.conf[:, : holistic.FACE_START + 468] == 1).all() and (t.conf[:, holistic.LEFT_HAND_START:] == 1).all()
    # the left hand's wrist was point 501 of the 543
    assert t.xy[0, holistic.LEFT_HAND_START].tolist() == [10.0 + 501, 20.0]


def test_json_rounding_never_drops_a_present_point(tmp_path):
    t = small_track()
    t.conf[1, 7] = 1e-5
    io.write_json_track(t, tmp_path / "a.json")
    back = io.read_track(tmp_path / "a.json")
    assert back.conf[1, 7] == pytest.approx(0.001) and back.conf[0, 0] == 0


def test_json_writer_turns_nan_into_missing(tmp_path):
    t = small_track()
    t.xy[2, 4] = np.nan
    io.write_json_track(t, tmp_path / "a.json")
    json.loads((tmp_path / "a.json").read_text(), parse_constant=lambda c: pytest.fail(f"wrote {c}"))
    assert io.read_track(tmp_path / "a.json").conf[2, 4] == 0


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda d: d["frames"][1].__setitem__(3, [float("nan"), 1.0, 1.0]), "frame 1, point 3: x is nan"),
        (lambda d: d["frames"][1].__setitem__(4, [1.0, float("inf"), 1.0]), "frame 1, point 4: y is inf"),
        (lambda d: d["frames"][1].__setitem__(5, [1.0, 2.0, 1.5]), "frame 1, point 5: confidence 1.5 is outside [0, 1]"),
        (lambda d: d["frames"][0].__setitem__(0, [1.0, 2.0, -0.5]), "frame 0, point 0: confidence -0.5 is outside [0, 1]"),
        (lambda d: d.__setitem__("frames", []), "has zero frames"),
        (lambda d: d.__setitem__("fps", 0), "fps: 0 is less than or equal to the minimum of 0"),
        (lambda d: d.__setitem__("fps", -3), "fps: -3 is less than or equal to the minimum of 0"),
        (lambda d: d.__setitem__("fps", 1e300), "fps: 1e+300 is greater than the maximum of 1000"),
        (lambda d: d.__setitem__("width", 0), "width: 0 is less than the minimum of 1"),
        (lambda d: d.__setitem__("height", 20000), "height: 20000 is greater than the maximum of 16384"),
        (lambda d: d.__setitem__("width", "wide"), "width: 'wide' is not of type 'integer'"),
        (lambda d: d.pop("fps"), "top level: 'fps' is a required property"),
        (lambda d: d.__setitem__("layout", "smpl"), "layout: 'smpl' is not one of"),
        (lambda d: d["frames"][1].__setitem__(2, ["a", 1.0, 1.0]), "frame 1, point 2, value 0: 'a' is not of type 'number'"),
        (lambda d: d["frames"][1].__setitem__(2, [1.0, "12.5", 1.0]), "frame 1, point 2, value 1: '12.5' is not of type 'number'"),
        (lambda d: d["frames"][1].__setitem__(2, [True, 1.0, 1.0]), "frame 1, point 2, value 0: True is not of type 'number'"),
        (lambda d: d["frames"][1].__setitem__(2, [1.0, 2.0, 1.0, 4.0]), "frame 1, point 2: [1.0, 2.0, 1.0, 4.0] is too long"),
        (lambda d: d["frames"][1].__setitem__(2, [1.0, 2.0]), "frame 1, point 2 has 2 values, frame 0, point 0 has 3"),
        (lambda d: d["frames"].__setitem__(1, "oops"), "frame 1: 'oops' is not of type 'array'"),
        (lambda d: d.__setitem__("frames", [[1.0, 2.0, 1.0]]), "frame 0, point 0: 1.0 is not of type 'array'"),
        (lambda d: d["frames"][1].__setitem__(2, [1.0, None, 1.0]), "frame 1, point 2, value 1: None is not of type 'number'"),
        (lambda d: d["frames"][1].__setitem__(2, []), "frame 1, point 2: [] is too short"),
        (lambda d: d.__setitem__("frames", {"0": []}), "frames: {'0': []} is not of type 'array'"),
    ],
)
def test_json_track_errors_name_file_frame_and_problem(tmp_path, mutate, expected):
    doc = track_doc()
    mutate(doc)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc, allow_nan=True), encoding="utf-8")
    msg = error_of(io.read_track, path)
    assert msg.startswith(f"{path}: ") and expected in msg


def test_json_ragged_frames_message(tmp_path):
    doc = track_doc(K=553, T=8, layout="holistic")
    doc["frames"][7] = doc["frames"][7][:40]
    msg = error_of(io.read_track, write_doc(tmp_path / "r.json", doc))
    assert msg.endswith("frame 7 has 40 points, frame 0 has 553")


def test_json_wrong_count_for_layout(tmp_path):
    msg = error_of(io.read_track, write_doc(tmp_path / "k.json", track_doc(K=40, layout="holistic")))
    assert "layout holistic has 553 points (or 543 without iris), but the frames have 40" in msg


def test_invalid_json_names_line_and_column(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"fps": 25,\n  "width": 210,,\n}', encoding="utf-8")
    msg = error_of(io.read_track, path)
    assert msg.startswith(str(path)) and "invalid JSON at line 2, column 16" in msg


def test_json_other_shapes_are_refused(tmp_path):
    assert "top level: [1, 2] is not of type 'object'" in error_of(io.read_track, write_doc(tmp_path / "l.json", [1, 2]))
    msg = error_of(io.read_track, write_doc(tmp_path / "o.json", {"fps": 25}))
    assert 'neither a keypoint track (needs "frames") nor a gloss sequence' in msg
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    assert "nested too deeply" in error_of(io.read_track, tmp_path / "deep.json")
    (tmp_path / "huge.json").write_text('{"fps": ' + "9" * 5000 + "}")
    assert "invalid JSON" in error_of(io.read_track, tmp_path / "huge.json")
    (tmp_path / "latin1.json").write_bytes(b'{"glosses": "\xe4"}')
    assert "not UTF-8 text" in error_of(io.read_track, tmp_path / "latin1.json")


def test_json_size_limit(tmp_path, monkeypatch):
    path = write_doc(tmp_path / "big.json", track_doc(T=3))
    monkeypatch.setenv("SIGNGEN_MAX_FILE_BYTES", "1024")
    msg = error_of(io.read_track, path)
    assert "exceed the limit of 1024 (SIGNGEN_MAX_FILE_BYTES; set SIGNGEN_MAX_FILE_BYTES=... to raise it)" in msg


# ------------------------------------------------------------------ signgen JSON: gloss form


def test_gloss_sequence_list_and_string_forms(tmp_path):
    a = io.read_sequence(write_doc(tmp_path / "a.json", {"glosses": ["MORGEN", "REGEN"], "lexicon": "fingerspelling", "language": "gsg"}))
    b = io.read_sequence(write_doc(tmp_path / "b.json", {"glosses": " MORGEN  REGEN ", "language": "gsg"}))
    assert a == b == io.GlossSequence(("MORGEN", "REGEN"), "fingerspelling", "gsg")
    with pytest.raises(AttributeError):
        a.glosses = ()  # frozen
    c = io.read_sequence(write_doc(tmp_path / "c.json", {"glosses": "H A L L O"}))
    assert c.glosses == ("H", "A", "L", "L", "O") and c.language is None


def test_gloss_sequence_lexicon_folder_is_relative_to_the_file(tmp_path):
    (tmp_path / "mylex").mkdir()
    seq = io.read_sequence(write_doc(tmp_path / "s.json", {"glosses": "A", "lexicon": "mylex"}))
    assert seq.lexicon == str(tmp_path / "mylex")
    seq = io.read_sequence(write_doc(tmp_path / "s.json", {"glosses": "A", "lexicon": "./other/lex"}))
    assert Path(seq.lexicon) == tmp_path / "other" / "lex"


def test_gloss_sequence_round_trip(tmp_path):
    seq = io.GlossSequence(("MORGEN", "ÄHNLICH"), "fingerspelling", "gsg")
    io.write_gloss_sequence(seq, tmp_path / "g.json")
    assert io.read_sequence(tmp_path / "g.json") == seq


@pytest.mark.parametrize(
    "doc, expected",
    [
        ({"glosses": []}, "glosses: [] should be non-empty"),
        ({"glosses": "   "}, "glosses"),
        ({"glosses": ["A", 3]}, "glosses"),
        ({"glosses": "A", "language": 5}, "language: 5 is not of type 'string', 'null'"),
        ({"glosses": "A", "frames": [[[1, 2]]]}, 'has both "glosses" and "frames"'),
    ],
)
def test_gloss_sequence_errors(tmp_path, doc, expected):
    path = write_doc(tmp_path / "g.json", doc)
    msg = error_of(io.read_sequence, path)
    assert msg.startswith(str(path)) and expected in msg


def test_read_track_refuses_a_gloss_sequence(tmp_path):
    path = write_doc(tmp_path / "g.json", {"glosses": ["MORGEN"]})
    assert "is a gloss sequence, not a keypoint track" in error_of(io.read_track, path)


def test_read_sequence_returns_tracks_too(real_pose_file):
    assert isinstance(io.read_sequence(real_pose_file), PoseTrack)


def test_schema_is_valid_and_lists_every_layout():
    import jsonschema

    schema = io.seq_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    enum = schema["$defs"]["track"]["properties"]["layout"]["enum"]
    assert sorted(enum) == sorted([*LAYOUTS, *ALIASES])


@pytest.mark.parametrize(
    "mutate, schema_rejects",
    [
        (lambda d: None, False),
        (lambda d: d["frames"][1][5].__setitem__(2, 2.0), True),  # conf > 1
        (lambda d: d["frames"][1].__setitem__(5, [1.0, "a"]), True),
        (lambda d: d["frames"][1].__setitem__(5, [1.0, True]), True),
        (lambda d: d.__setitem__("width", 16385), True),
        (lambda d: d.__setitem__("fps", 0), True),
        (lambda d: d.__setitem__("layout", "smpl"), True),
        (lambda d: d.pop("layout"), False),
        (lambda d: d["frames"].__setitem__(1, d["frames"][1][:40]), False),  # ragged: a semantic check
        (lambda d: d["frames"][1].__setitem__(5, [1.0, 2.0]), False),  # mixed forms: a semantic check
    ],
)
def test_published_schema_agrees_with_the_reader(tmp_path, mutate, schema_rejects):
    """The published schema accepts what the reader accepts; it rejects what it can express."""
    import jsonschema

    doc = track_doc()
    mutate(doc)
    schema_errors = list(jsonschema.Draft202012Validator(io.seq_schema()).iter_errors(doc))
    assert bool(schema_errors) == schema_rejects
    path = write_doc(tmp_path / "s.json", doc)
    if schema_rejects or doc["frames"] != track_doc()["frames"]:
        with pytest.raises(InputError):
            io.read_track(path)
    else:
        assert io.read_track(path).num_frames == 2


def test_docs_publish_the_shipped_schema():
    """docs/pose-io.md carries the schema verbatim, so the two cannot drift apart."""
    doc = (Path(__file__).parents[1] / "docs" / "pose-io.md").read_text(encoding="utf-8")
    block = doc.split("<!-- schema -->")[1].split("```json")[1].split("```")[0]
    assert json.loads(block) == io.seq_schema()


# ------------------------------------------------------------------ .npy / .npz


def test_npy_two_columns_nan_means_missing(tmp_path):
    arr = np.full((4, 18, 2), 50.0, np.float32)
    arr[1, 2] = np.nan
    arr[3, 0] = [99.2, 140.0]
    np.save(tmp_path / "a.npy", arr)
    t = io.read_track(tmp_path / "a.npy")
    assert t.layout == "openpose18" and t.fps == 25.0
    assert (t.width, t.height) == (100, 140)  # inferred from the largest coordinate
    assert t.conf[1, 2] == 0 and t.conf.sum() == 4 * 18 - 1 and np.isfinite(t.xy).all()


def test_npy_layout_rules(tmp_path):
    np.save(tmp_path / "odd.npy", np.zeros((2, 50, 3), np.float32))
    assert "50 points per frame matches no layout; give the layout" in error_of(io.read_track, tmp_path / "odd.npy")
    np.save(tmp_path / "c.npy", np.ones((2, 128, 3), np.float32))
    assert "layout openpose has 137 points" in error_of(io.read_track, tmp_path / "c.npy", layout="openpose")
    assert io.read_track(tmp_path / "c.npy", layout="canonical").layout == "canonical"
    assert "unknown layout 'smpl'" in error_of(io.read_track, tmp_path / "c.npy", layout="smpl")
    np.save(tmp_path / "h.npy", np.ones((2, 543, 3), np.float32))
    assert io.read_track(tmp_path / "h.npy").num_keypoints == 553


def test_npy_errors(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert "refusing to load" in error_of(io.read_track, tmp_path / "obj.npy")
    np.save(tmp_path / "flat.npy", np.zeros((5, 3)))
    assert "expected [T, K, 2] or [T, K, 3]" in error_of(io.read_track, tmp_path / "flat.npy")
    np.save(tmp_path / "empty.npy", np.zeros((0, 18, 3)))
    assert "has zero frames" in error_of(io.read_track, tmp_path / "empty.npy")
    bad = np.ones((2, 18, 3))
    bad[1, 4, 2] = 3.0
    np.save(tmp_path / "conf.npy", bad)
    assert "frame 1, point 4: confidence 3 is outside [0, 1]" in error_of(io.read_track, tmp_path / "conf.npy")
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    assert "not a readable numpy file" in error_of(io.read_track, tmp_path / "junk.npy")
    np.save(tmp_path / "s.npy", np.array([["a", "b"]]))
    assert "expected numbers" in error_of(io.read_track, tmp_path / "s.npy")


def test_npz_stored_header_and_overrides(tmp_path):
    t = small_track("openpose")
    io.write_track(t, tmp_path / "a.npz")
    with np.load(tmp_path / "a.npz", allow_pickle=False) as z:
        assert set(z.files) == {"xy", "conf", "fps", "width", "height", "layout"}
    assert_same(t, io.read_track(tmp_path / "a.npz"))
    over = io.read_track(tmp_path / "a.npz", fps=50, width=420, height=520)
    assert (over.fps, over.width, over.height) == (50.0, 420, 520)
    assert "the file's layout is openpose, but layout canonical was given" in error_of(
        io.read_track, tmp_path / "a.npz", layout="canonical"
    )


def test_npz_minimal_and_errors(tmp_path):
    np.savez(tmp_path / "m.npz", xy=np.ones((3, 133, 2)))
    t = io.read_track(tmp_path / "m.npz")
    assert t.layout == "coco_wholebody" and (t.conf == 1).all() and (t.width, t.height) == (1, 1)
    np.savez(tmp_path / "k.npz", points=np.ones((3, 133, 2)))
    assert "no 'xy' array (keys: points)" in error_of(io.read_track, tmp_path / "k.npz")
    np.savez(tmp_path / "c.npz", xy=np.ones((3, 133, 2)), conf=np.ones((3, 5)))
    assert "'conf' has shape (3, 5)" in error_of(io.read_track, tmp_path / "c.npz")
    np.savez(tmp_path / "f.npz", xy=np.ones((3, 133, 2)), fps=np.float64(-1))
    assert "fps must be > 0" in error_of(io.read_track, tmp_path / "f.npz")
    np.savez(tmp_path / "w.npz", xy=np.ones((3, 133, 2)), width=np.float64(12.5))
    assert "'width' must be an integer" in error_of(io.read_track, tmp_path / "w.npz")
    np.savez(tmp_path / "o.npz", xy=np.array([None, 1], dtype=object))
    assert "refusing to load" in error_of(io.read_track, tmp_path / "o.npz")


# ------------------------------------------------------------------ dispatch and writing


def test_missing_and_unknown_inputs(tmp_path):
    assert error_of(io.read_track, tmp_path / "nope.pose") == f"{tmp_path / 'nope.pose'}: no such file"
    (tmp_path / "a.txt").write_text("x")
    msg = error_of(io.read_track, tmp_path / "a.txt")
    assert "unknown track format '.txt'; supported: .pose, .json, .npy, .npz, or a folder of OpenPose" in msg
    assert "no such file" in error_of(io.read_sequence, tmp_path / "nope.json")
    assert "fps must be > 0" in error_of(io.read_track, tmp_path / "a.txt", fps=0)


def test_write_track_checks_before_writing(tmp_path):
    t = small_track()
    msg = error_of(io.write_track, t, tmp_path / "a.csv")
    assert "unknown output format '.csv'; supported: .pose, .json, .npy, .npz" in msg
    msg = error_of(io.write_track, t, tmp_path / "missing" / "a.json")
    assert "output folder" in msg and "does not exist" in msg
    assert list(tmp_path.iterdir()) == []


def test_writes_are_atomic_and_leave_no_temp_files(tmp_path):
    t = small_track()
    for ext in io.TRACK_SUFFIXES:
        io.write_track(t, tmp_path / f"a{ext}")
    (tmp_path / "a.json").write_text("old")
    io.write_track(t, tmp_path / "a.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.npy", "a.npz", "a.pose"]
    assert io.read_track(tmp_path / "a.json").num_frames == 3


def test_pose_layout_declaration_must_agree(real_pose_file):
    assert io.read_track(real_pose_file, layout="mediapipe").layout == "holistic"
    assert "holds layout holistic, but layout canonical was given" in error_of(
        io.read_track, real_pose_file, layout="canonical"
    )
    assert io.read_track(real_pose_file, fps=50).fps == 50.0


def test_atomic_writes_get_ordinary_permissions(tmp_path):
    import os
    import stat

    from signgen.pose.io import atomic_write_bytes

    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "a.bin", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.bin").stat().st_mode) == 0o644
