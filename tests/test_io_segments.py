"""Gloss segments (meta["segments"]) survive signgen JSON and .npz; bad segments are refused
with one clear line; the published schema describes them."""

from __future__ import annotations

import json
import warnings

import jsonschema
import numpy as np
import pytest

from signgen.errors import InputError
from signgen.pose import LAYOUTS, PoseTrack
from signgen.pose import io
from signgen.pose.stitch import glosses_to_track

SEGS = [("MORGEN", 0, 4), ("ÄHNLICH", 4, 7), ("REGEN", 7, 10)]


def track(T: int = 10, segments=SEGS) -> PoseTrack:
    K = LAYOUTS["canonical"].num_keypoints
    rng = np.random.default_rng(1)
    meta = {} if segments is None else {"segments": list(segments)}
    return PoseTrack(xy=rng.uniform(0, 100, (T, K, 2)), conf=np.ones((T, K)), fps=25, width=100, height=100, meta=meta)


def error_of(fn, *args) -> str:
    with pytest.raises(InputError) as e:
        fn(*args)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


@pytest.mark.parametrize("ext", [".json", ".npz"])
def test_segments_round_trip(tmp_path, ext):
    io.write_track(track(), tmp_path / f"a{ext}")
    back = io.read_track(tmp_path / f"a{ext}")
    assert back.meta["segments"] == SEGS
    assert all(type(g) is str and type(a) is int and type(b) is int for g, a, b in back.meta["segments"])
    io.write_track(track(segments=None), tmp_path / f"b{ext}")
    assert "segments" not in io.read_track(tmp_path / f"b{ext}").meta


def test_stored_forms(tmp_path):
    io.write_track(track(), tmp_path / "a.json")
    doc = json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))
    assert doc["segments"] == [list(s) for s in SEGS]
    jsonschema.Draft202012Validator(io.seq_schema()).validate(doc)
    io.write_track(track(), tmp_path / "a.npz")
    with np.load(tmp_path / "a.npz", allow_pickle=False) as z:
        assert z["segments"].shape == () and json.loads(str(z["segments"])) == [list(s) for s in SEGS]


def test_stitched_track_keeps_its_segments_on_disk(tmp_path):
    stitched = glosses_to_track("L O", "fingerspelling", "gsg", fps=25.0, width=128, height=128)
    assert [g for g, _, _ in stitched.meta["segments"]] == ["L", "O"]
    for ext in (".json", ".npz"):
        io.write_track(stitched, tmp_path / f"s{ext}")
        assert io.read_track(tmp_path / f"s{ext}").meta["segments"] == list(stitched.meta["segments"])


@pytest.mark.parametrize(
    "segments, expected",
    [
        ([["A", 0, 4], ["B", 3, 6]],
         "segment 1 ['B', 3, 6] starts before segment 0 ends (4); segments must be in order"),
        ([["A", 5, 6], ["B", 0, 2]], "segment 1 ['B', 0, 2] starts before segment 0 ends (6)"),
        ([["A", 0, 11]], "segment 0 ['A', 0, 11] ends after the last frame (the track has 10 frames)"),
        ([["A", 4, 2]], "segment 0 ['A', 4, 2]: stop is before start"),
        ([["A", -1, 2]], "segment 0, start: -1 is less than the minimum of 0"),
        ([["A", 0, 2.5]], "segment 0, stop: 2.5 is not of type 'integer'"),
        ([["A", 0]], "segment 0: ['A', 0] is too short"),
        ([[" ", 0, 2]], "segment 0, gloss: ' ' does not match"),
        ([[3, 0, 2]], "segment 0, gloss: 3 is not of type 'string'"),
        ({"A": [0, 2]}, "segments: {'A': [0, 2]} is not of type 'array'"),
    ],
)
def test_bad_segments_are_refused(tmp_path, segments, expected):
    io.write_track(track(segments=None), tmp_path / "a.json")
    doc = json.loads((tmp_path / "a.json").read_text())
    doc["segments"] = segments
    (tmp_path / "a.json").write_text(json.dumps(doc))
    msg = error_of(io.read_track, tmp_path / "a.json")
    assert msg.startswith(f"{tmp_path / 'a.json'}: ") and expected in msg

    t = track(segments=None)
    np.savez(tmp_path / "a.npz", xy=t.xy, conf=t.conf, segments=np.str_(json.dumps(segments)))
    msg = error_of(io.read_track, tmp_path / "a.npz")
    assert f"key 'segments', {expected}" in msg


def test_npz_segments_must_be_one_json_string(tmp_path):
    t = track(segments=None)
    np.savez(tmp_path / "n.npz", xy=t.xy, segments=np.array([0, 4]))
    assert "key 'segments' must be one JSON string" in error_of(io.read_track, tmp_path / "n.npz")
    np.savez(tmp_path / "j.npz", xy=t.xy, segments=np.str_("[['A', 0, 4]]"))
    assert "key 'segments' is not valid JSON" in error_of(io.read_track, tmp_path / "j.npz")


def test_segments_that_no_longer_fit_are_not_written(tmp_path):
    """A writer never writes what its reader refuses: stale segments are dropped, with a warning."""
    full = track(T=10)
    stale = full.copy(xy=full.xy[:5], conf=full.conf[:5])  # meta still holds ranges up to frame 10
    for ext in (".json", ".npz"):
        with pytest.warns(UserWarning, match=r"meta\['segments'\] not written"):
            io.write_track(stale, tmp_path / f"s{ext}")
        assert "segments" not in io.read_track(tmp_path / f"s{ext}").meta


def test_pose_and_npy_have_no_place_for_segments(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and say nothing about it
        io.write_track(track(), tmp_path / "a.pose")
        io.write_track(track(), tmp_path / "a.npy")
    assert "segments" not in io.read_track(tmp_path / "a.pose").meta


def test_schema_describes_segments():
    schema = io.seq_schema()
    assert schema["$defs"]["track"]["properties"]["segments"] == {"$ref": "#/$defs/segments"}
    assert "segments" not in schema["$defs"]["track"]["required"]
