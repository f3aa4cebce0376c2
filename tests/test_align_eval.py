"""The lexicon benchmark's measures: DTW joint error and boundary errors against ground truth."""

from __future__ import annotations

import json

import numpy as np
import pytest

from signgen.prep.lexicon_eval import boundary_errors, dtw_mean_error, track_error
from signgen.pose.layouts import canonical as C
from signgen.pose.track import PoseTrack


def _walk(T: int, J: int = 3) -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(0, 1, T)
    xy = np.stack([np.stack([100 * t + 10 * j, 50 * np.sin(3 * t) + j], axis=-1) for j in range(J)], axis=1)
    return xy, np.ones((T, J))


def test_dtw_is_zero_for_a_time_stretched_copy_and_sees_offsets():
    a, ca = _walk(20)
    assert dtw_mean_error(a, ca, a, ca) == 0.0
    b = np.repeat(a, 2, axis=0)  # the same motion at half speed
    assert dtw_mean_error(a, ca, b, np.ones(b.shape[:2])) == pytest.approx(0.0)
    flat = a.copy()
    flat[..., 1] = 0.0  # moving along x only: a y offset cannot be warped away
    assert dtw_mean_error(flat, ca, flat + np.array([0.0, 5.0]), ca) == pytest.approx(5.0)


def test_dtw_ignores_points_missing_on_either_side():
    a, ca = _walk(10)
    b = a.copy()
    b[:, 0] += 100.0  # a wildly wrong joint ...
    cb = ca.copy()
    cb[:, 0] = 0.0  # ... that is marked missing
    assert dtw_mean_error(a, ca, b, cb) == pytest.approx(0.0)


def test_track_error_is_framing_free():
    T = 12
    xy = np.zeros((T, C.NUM_KEYPOINTS, 2), np.float32)
    conf = np.zeros((T, C.NUM_KEYPOINTS), np.float32)
    xy[:, 2], xy[:, 5] = (80, 100), (130, 100)
    xy[:, 1] = (105, 100)
    xy[:, 4] = np.stack([np.linspace(70, 120, T), np.full(T, 150)], axis=1)
    conf[:, [1, 2, 4, 5]] = 1
    a = PoseTrack(xy=xy, conf=conf, fps=25, width=210, height=260)
    b = a.copy(xy=a.xy * 2 + 7, width=500, height=600)  # same motion, other framing
    assert track_error(a, b) == pytest.approx(0.0, abs=1e-3)
    c = a.copy()
    c.xy[:, 4, 1] += 25  # wrist half a shoulder width lower: 0.5 * 84.48 px in the common frame
    assert track_error(a, c) == pytest.approx(0.5 * 0.33 * 256 / 4, rel=1e-3)  # 1 of 4 present joints


def test_boundary_errors_read_alignment_json(tmp_path):
    lex, gt = tmp_path / "lex", tmp_path / "gt" / "phoenix" / "train"
    lex.mkdir()
    gt.mkdir(parents=True)
    (lex / "alignment.json").write_text(json.dumps({"segments": {"c1": [["A", 2, 10], ["B", 12, 20]]}}))
    (gt / "c1.json").write_text(json.dumps({"glosses": [{"gloss": "A", "start": 3, "end": 10},
                                                        {"gloss": "B", "start": 12, "end": 16}]}))
    assert boundary_errors(lex, tmp_path / "gt") == pytest.approx((1 + 0 + 0 + 4) / 4)


def test_evaluate_lexicon_alignment_end_to_end(tmp_path):
    """The benchmark's function on a tiny synthetic release (4-gloss vocabulary so that the
    held-out sentences' glosses all occur in training)."""
    from signgen.prep.lexicon_eval import evaluate_lexicon_alignment

    r = evaluate_lexicon_alignment(tmp_path, num_signers=3, sentences_per_signer=4, vocabulary_size=4, iterations=3)
    assert r["train_sentences"] == 4 and r["test_sentences"] >= 1
    assert r["true_boundaries"]["boundary_error_frames"] == 0.0
    assert 0 < r["learned"]["boundary_error_frames"] < r["uniform"]["boundary_error_frames"]
    for method in ("uniform", "learned", "true_boundaries"):
        assert r[method]["glosses"] == 4 and r[method]["dtw_joint_error_px"] > 0
        assert (tmp_path / f"lexicon-{method}" / "index.csv").is_file()
    assert json.loads((tmp_path / "lexicon-learned" / "alignment.json").read_text())["method"] == "learned"
