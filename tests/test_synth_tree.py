"""The synthetic release: laid out like PHOENIX-2014-T and DeepFashion, with exact ground truth."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from signgen.errors import InputError
from signgen.synth import Identity, write_synthetic_release
from signgen.synth.tree import ANNOTATION_HEADER, CORPUS_HEADER, split_signers

TINY = dict(num_signers=3, sentences_per_signer=2, seed=5, max_glosses=2, fashion_poses=2, progress=False)


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("synthetic")
    summary = write_synthetic_release(root, **TINY)
    return root, summary


def _corpus(root: Path, split: str) -> list[dict]:
    path = root / "PHOENIX-2014-T" / "annotations" / "manual" / f"PHOENIX-2014-T.{split}.corpus.csv"
    with open(path, newline="", encoding="utf-8") as f:
        assert f.readline().rstrip("\n") == CORPUS_HEADER
        f.seek(0)
        return list(csv.DictReader(f, delimiter="|"))


def test_phoenix_tree_matches_the_real_layout(release):
    root, summary = release
    assert summary["phoenix"] == {"train": 2, "dev": 2, "test": 2}
    speakers = {}
    for split in ("train", "dev", "test"):
        rows = _corpus(root, split)
        assert len(rows) == 2
        speakers[split] = {r["speaker"] for r in rows}
        for r in rows:
            assert r["video"] == f"{r['name']}/1/*.png"
            assert r["start"] == "-1" and r["end"] == "-1"
            assert r["speaker"].startswith("Signer") and r["orth"].split() and r["orth"].isupper()
            frames = root / "PHOENIX-2014-T/features/fullFrame-210x260px" / split / r["name"]
            files = sorted(p.name for p in frames.iterdir())
            gt = json.loads((root / "groundtruth/phoenix" / split / f"{r['name']}.json").read_text())
            assert files == [f"images{i:04d}.png" for i in range(1, gt["num_frames"] + 1)]
            first = cv2.imread(str(frames / files[0]))
            assert first.shape == (260, 210, 3)
            assert [g["gloss"] for g in gt["glosses"]] == r["orth"].split()
            assert gt["speaker"] == r["speaker"] and gt["fps"] == 25
    # test and dev signers never appear in train
    assert not speakers["train"] & (speakers["dev"] | speakers["test"])


def test_groundtruth_keypoints_and_boundaries(release):
    root, _ = release
    row = _corpus(root, "dev")[0]
    gt = json.loads((root / "groundtruth/phoenix/dev" / f"{row['name']}.json").read_text())
    with np.load(root / "groundtruth/phoenix/dev" / f"{row['name']}.npz") as z:
        xy, conf = z["xy"], z["conf"]
        assert int(z["width"]) == 210 and int(z["height"]) == 260 and float(z["fps"]) == 25
    assert xy.shape == (gt["num_frames"], 128, 2) and conf.shape == (gt["num_frames"], 128)
    seg = gt["segments"]
    assert seg[0]["start"] == 0 and seg[-1]["end"] == gt["num_frames"]
    assert all(a["end"] == b["start"] for a, b in zip(seg, seg[1:]))
    for g in gt["glosses"]:
        assert {"gloss": g["gloss"], "start": g["start"], "end": g["end"]} in [
            {"gloss": s["label"], "start": s["start"], "end": s["end"]} for s in seg]
    ident = json.loads((root / "groundtruth/identities" / f"{row['speaker']}.json").read_text())
    assert ident["splits"] == ["dev"] and "skin" in ident and "shoulder_width" in ident
    assert Identity.from_dict(ident) == Identity.sample(ident["seed"])  # the file fully describes the person
    assert gt["identity_seed"] == ident["seed"]
    # the frame shows that identity: its skin colour is in the picture
    img = cv2.cvtColor(cv2.imread(str(root / "PHOENIX-2014-T/features/fullFrame-210x260px/dev" / row["name"]
                                      / "images0001.png")), cv2.COLOR_BGR2RGB).astype(int)
    assert (np.abs(img - np.asarray(ident["skin"])).max(axis=-1) < 4).sum() > 200


def _annotations(root: Path, split: str) -> dict[str, tuple[list[int], list[int]]]:
    lines = (root / "fashion" / f"fasion-resize-annotation-{split}.csv").read_text().splitlines()
    assert lines[0] == ANNOTATION_HEADER
    out = {}
    for line in lines[1:]:
        name, ys, xs = line.split(":")  # as the PATN / PIDM loaders split it (pandas sep=':')
        out[name] = (json.loads(ys), json.loads(xs))
    return out


def test_fashion_tree_matches_the_real_layout(release):
    root, summary = release
    assert summary["fashion"] == {"train": 2, "test": 4}
    people = {}
    for split in ("train", "test"):
        ann = _annotations(root, split)
        assert len(ann) == summary["fashion"][split]
        for name, (ys, xs) in ann.items():
            assert name.startswith("fashion") and name.endswith(".png")
            assert len(ys) == len(xs) == 18 and all(isinstance(v, int) for v in ys + xs)
            img = cv2.imread(str(root / "fashion/img" / name))
            assert img.shape == (256, 176, 3)
            with np.load(root / "groundtruth/fashion" / (Path(name).stem + ".npz")) as z:
                body = z["xy"][:18]
            for k in range(18):
                if ys[k] != -1:
                    assert abs(ys[k] - body[k, 1]) <= 0.5 and abs(xs[k] - body[k, 0]) <= 0.5
            assert ys[10] != -1 and ys[13] != -1  # full body: ankles annotated
        lines = (root / "fashion" / f"fasion-resize-pairs-{split}.csv").read_text().splitlines()
        assert lines[0] == "from,to"
        pairs = [ln.split(",") for ln in lines[1:]]
        assert pairs and all(a in ann and b in ann and a != b for a, b in pairs)
        # pairs are two pictures of the same person
        assert all(a.split("_")[0] == b.split("_")[0] or a.rsplit("_", 1)[0] == b.rsplit("_", 1)[0]
                   for a, b in pairs)
        people[split] = {n.rsplit("_", 1)[0] for n in ann}
    assert not people["train"] & people["test"]


def test_rerun_skips_finished_work_and_resumes(release, tmp_path):
    root, _ = release
    frame = next((root / "PHOENIX-2014-T/features/fullFrame-210x260px/train").rglob("images0001.png"))
    corpus = root / "PHOENIX-2014-T/annotations/manual/PHOENIX-2014-T.train.corpus.csv"
    before = (frame.stat().st_mtime_ns, corpus.stat().st_mtime_ns)
    again = write_synthetic_release(root, **TINY)
    assert again["rendered"] == 0 and again["skipped"] == 6 + 6
    assert (frame.stat().st_mtime_ns, corpus.stat().st_mtime_ns) == before
    # an interrupted clip (no completion marker) is redone, and only that one
    marker = next(p for p in (root / "groundtruth/phoenix/test").glob("*.json") if not p.name.endswith(".labels.json"))
    marker.unlink()
    resumed = write_synthetic_release(root, **TINY)
    assert resumed["rendered"] == 1 and marker.exists()
    assert not list(root.rglob("*.tmp"))


def test_other_settings_on_an_existing_release_are_refused(release):
    root, _ = release
    with pytest.raises(InputError, match="other settings.*seed"):
        write_synthetic_release(root, **{**TINY, "seed": 6})


def test_signer_splits():
    assert split_signers(9) == {"train": list(range(7)), "dev": [7], "test": [8]}
    s = split_signers(2)
    assert s["train"] == [0] and s["dev"] == s["test"] == [1]
    with pytest.raises(InputError, match="at least 2 signers"):
        split_signers(1)


def test_two_signers_and_small_sizes(tmp_path):
    summary = write_synthetic_release(tmp_path, num_signers=2, sentences_per_signer=2, seed=1, min_glosses=1, max_glosses=1,
                                      fashion_poses=2, phoenix_size=(64, 80), fashion_size=(48, 64),
                                      progress=False)
    assert summary["phoenix"] == {"train": 2, "dev": 1, "test": 1}
    frames = tmp_path / "PHOENIX-2014-T/features/fullFrame-64x80px"
    img = cv2.imread(str(next(frames.rglob("images0001.png"))))
    assert img.shape == (80, 64, 3)
    train = {r["orth"] for r in _corpus(tmp_path, "train")}
    held = {r["orth"] for s in ("dev", "test") for r in _corpus(tmp_path, s)}
    assert not train & held  # dev/test sentences are not train sentences
    assert os.path.exists(tmp_path / "groundtruth/vocabulary.json")
