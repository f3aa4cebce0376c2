"""The legibility score: a hand classifier trained on ground-truth crops of the synthetic world,
saved as safetensors, and applied by `signgen eval --legibility` to the hands of predicted frames."""

from __future__ import annotations

import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from signgen.errors import InputError
from signgen.eval.legibility import (CROP, hand_crop, legibility, load_classifier, release_crops,
                                     save_classifier, train_classifier)
from signgen.eval.report import write_poses
from signgen.synth import write_synthetic_release


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("legible")
    write_synthetic_release(root, num_signers=3, sentences_per_signer=1, seed=4, max_glosses=2, fashion_poses=2,
                            fingerspelling_per_signer=1, progress=False, phoenix_size=(64, 80))
    return root


def test_crops_labels_and_a_classifier_that_learns_them(release, tmp_path):
    train = release_crops(release, "train")
    assert train.crops.shape[1:] == (CROP, CROP, 3) and train.crops.dtype == np.uint8
    kinds = {w[3] for w in train.where}
    assert kinds == {"handshape", "letter"}
    assert all(":" in lab for lab, w in zip(train.labels, train.where) if w[3] == "letter")
    model = train_classifier(train, steps=60, batch=64, progress=False)
    fitted = legibility(model, train)
    assert fitted["legibility_crops"] == len(train)
    chance = max(train.labels.count(c) for c in set(train.labels)) / len(train)
    assert fitted["legibility"] > chance  # it learned something beyond the majority class
    save_classifier(model, tmp_path / "clf", {"note": "test"})
    again = load_classifier(tmp_path / "clf")
    assert again.classes == model.classes
    assert again.predict(train.crops[:20]) == model.predict(train.crops[:20])
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "classifier.json").write_text('{"classes": [], "width": 32}')
    with pytest.raises(InputError, match="not a legibility classifier"):
        load_classifier(tmp_path / "bad")


def test_left_hands_are_mirrored():
    frame = np.zeros((80, 64, 3), np.uint8)
    frame[:, :32] = 255
    xy = np.zeros((128, 2), np.float32)
    conf = np.zeros(128, np.float32)
    for start in (18, 39):
        xy[start:start + 21] = np.stack([np.linspace(24, 40, 21), np.full(21, 40)], 1)
        conf[start:start + 21] = 1
    left, right = hand_crop(frame, xy, conf, "left_hand"), hand_crop(frame, xy, conf, "right_hand")
    assert (left == right[:, ::-1]).all() and not (left == right).all()


def test_eval_back_recognises_the_hands_of_predicted_frames(release, tmp_path, cli):
    train = release_crops(release, "train")
    save_classifier(train_classifier(train, steps=30, batch=64, progress=False), tmp_path / "clf")
    gt_dir = release / "groundtruth" / "phoenix" / "test"
    clip = sorted(gt_dir.glob("*.labels.json"))[0].name[: -len(".labels.json")]
    with np.load(gt_dir / f"{clip}.npz") as z:
        xy, conf = z["xy"], z["conf"]
    frames_dir = next((release / "PHOENIX-2014-T" / "features").glob("fullFrame-*px")) / "test" / clip
    for name, frames in (("gt", [iio.imread(p) for p in sorted(frames_dir.glob("*.png"))]),):
        folder = tmp_path / name / clip
        folder.mkdir(parents=True)
        for t, f in enumerate(frames):
            iio.imwrite(folder / f"{t:05d}.png", f)
        write_poses(folder / "poses.npz", xy, conf, xy[0], conf[0])
    out = tmp_path / "s.json"
    code, _, err = cli("eval", tmp_path / "gt", tmp_path / "gt", "--json", out,
                       "--legibility", tmp_path / "clf", "--labels", release / "groundtruth" / "phoenix")
    assert code == 0, err
    rep = json.loads(out.read_text())
    c = rep["clips"][clip]
    assert c["legibility_crops"] > 0 and 0.0 <= c["legibility"] <= 1.0
    assert rep["overall"]["legibility"] == pytest.approx(c["legibility"])
    assert sum(t for _, t in c["legibility_counts"].values()) == c["legibility_crops"]
    assert sum(c["legibility_answers"].values()) == c["legibility_crops"]
    for key in ("legibility_balanced", "legibility_majority", "legibility_distinct", "legibility_labels"):
        assert rep["overall"][key] == pytest.approx(c[key])  # one clip: pooled equals the clip's own
    code, _, err = cli("eval", tmp_path / "gt", tmp_path / "gt", "--legibility", tmp_path / "clf")
    assert code == 2 and "--labels" in err and "Traceback" not in err


def test_malformed_labels_are_one_line_errors(tmp_path):
    from signgen.eval.legibility import read_labels

    bad = tmp_path / "c.labels.json"
    for text, message in (('{"kind": "handshape", "right_hand": [null]}', "not a hand-labels file"),
                          ('{"kind": "x", "right_hand": [], "left_hand": []}', "not a hand-labels file"),
                          ("[" * 100 + "]" * 100, "nested too deeply"), ("{", "invalid JSON")):
        bad.write_text(text)
        with pytest.raises(InputError, match=message):
            read_labels(bad)


def test_class_balance_exposes_a_constant_answer():
    """A classifier that answers "fist" to every hand scores the share of fists in plain accuracy;
    the balanced score, the majority share and the count of answers show it reads nothing."""
    from signgen.eval.legibility import class_balance, pool_counts

    clip_a = {"legibility_counts": {"fist": [6, 6], "flat": [0, 2]}, "legibility_answers": {"fist": 8}}
    clip_b = {"legibility_counts": {"fist": [2, 2], "v": [0, 2]}, "legibility_answers": {"fist": 4}}
    counts, answers = pool_counts([clip_a, clip_b, {"legibility": 0.5}])
    assert counts == {"fist": [8, 8], "flat": [0, 2], "v": [0, 2]} and answers == {"fist": 12}
    scores = class_balance(counts, answers)
    assert scores["legibility_balanced"] == pytest.approx(1 / 3)  # plain accuracy would be 8/12
    assert scores["legibility_majority"] == pytest.approx(8 / 12)
    assert scores["legibility_distinct"] == 1 and scores["legibility_labels"] == 3
    reader = class_balance({"fist": [8, 8], "flat": [2, 2], "v": [1, 2]}, {"fist": 8, "flat": 2, "v": 1, "i": 1})
    assert reader["legibility_balanced"] == pytest.approx((1 + 1 + 0.5) / 3)
    assert reader["legibility_distinct"] == 4
    assert class_balance({}, {}) == {}


def test_train_legibility_cli_writes_the_classifier_and_prints_one_short_line(release, tmp_path, cli):
    code, out, err = cli("train", "legibility", "--release", release, "--out", tmp_path / "clf",
                         "--steps", "20", "--no-progress")
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert set(summary) == {"train", "dev"}
    assert 0.0 <= summary["train"]["legibility"] <= 1.0 and summary["train"]["legibility_crops"] > 0
    assert not any(isinstance(v, dict) for split in summary.values() for v in split.values())
    saved = json.loads((tmp_path / "clf" / "classifier.json").read_text())
    assert sum(t for _, t in saved["train"]["legibility_counts"].values()) == summary["train"]["legibility_crops"]
    assert load_classifier(tmp_path / "clf").classes
    code, _, err = cli("train", "legibility", "--release", tmp_path / "nowhere", "--out", tmp_path / "x")
    assert code == 2 and "nowhere" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()
