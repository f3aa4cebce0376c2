"""`signgen prep phoenix|deepfashion|synthetic`: a tiny synthetic release through the real preparers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from signgen.prep.common import every_frame_pairs, numbering_gap, training_pairs
from signgen.prep.keypoints import read_coco_wholebody_json
from signgen.data.prepared import Clip, PreparedDataset
from signgen.pose.io import read_npz
from signgen.pose.layouts import canonical as C

WRISTS_AND_HANDS = [2, 3, 4, 5, 6, 7] + list(range(C.LEFT_HAND_START, C.FACE_START))


@pytest.fixture(scope="session")
def release(tmp_path_factory) -> Path:
    from signgen.synth import write_synthetic_release

    root = tmp_path_factory.mktemp("release")
    write_synthetic_release(root, num_signers=3, sentences_per_signer=2, seed=0, fashion_poses=2,
                            min_glosses=2, max_glosses=2, progress=False)
    return root


def _gt_files(release: Path) -> list[Path]:
    return sorted((release / "groundtruth" / "phoenix").glob("*/*.npz"))


@pytest.fixture(scope="session")
def coco_dir(release, tmp_path_factory) -> Path:
    """Provided keypoints as COCO-WholeBody JSON, made from the ground truth; half the clips in
    the plain [T][133][3] shape, half in mmpose's {"instance_info": [{"instances": ...}]} shape."""
    out = tmp_path_factory.mktemp("coco")
    for i, f in enumerate(_gt_files(release)):
        coco = read_npz(f).to_layout("coco_wholebody")
        pts = np.concatenate([coco.xy, coco.conf[..., None]], axis=-1).round(3).tolist()
        if i % 2:
            doc = {"instance_info": [{"frame_id": t, "instances": [
                {"keypoints": [p[:2] for p in fr], "keypoint_scores": [p[2] for p in fr]}]} for t, fr in enumerate(pts)]}
        else:
            doc = pts
        (out / f"{f.stem}.json").write_text(json.dumps(doc))
    return out


@pytest.fixture(scope="session")
def prepared(release, coco_dir, tmp_path_factory) -> Path:
    from signgen.prep.phoenix import prepare_phoenix

    out = tmp_path_factory.mktemp("prepared") / "p"
    prepare_phoenix(release / "PHOENIX-2014-T", out, keypoints=coco_dir, num_pairs=300, seed=1, progress=False)
    return out


def _corpus(release: Path, split: str) -> list[list[str]]:
    path = release / "PHOENIX-2014-T" / "annotations" / "manual" / f"PHOENIX-2014-T.{split}.corpus.csv"
    return [line.split("|") for line in path.read_text().splitlines()[1:]]


def test_phoenix_from_coco_wholebody_json(release, prepared):
    ds = PreparedDataset.open(prepared)
    for split in ("train", "dev", "test"):
        rows = _corpus(release, split)
        clips = ds.split(split)
        assert sorted(c.id for c in clips) == sorted(r[0] for r in rows)
        for row in rows:
            clip = ds.clips[row[0]]
            assert clip.glosses == row[5].split() and clip.signer == row[4]
            gt = read_npz(release / "groundtruth" / "phoenix" / split / f"{row[0]}.npz")
            pose = ds.pose(clip.id)
            assert clip.num_frames == gt.num_frames == pose.num_frames == len(ds.frame_paths(clip.id))
            # arms and hands survive canonical -> COCO-WholeBody JSON -> canonical (3-decimal rounding)
            ok = gt.conf[:, WRISTS_AND_HANDS] > 0
            assert np.array_equal(pose.conf[:, WRISTS_AND_HANDS] > 0, ok)
            diff = np.abs(pose.xy[:, WRISTS_AND_HANDS] - gt.xy[:, WRISTS_AND_HANDS])[ok]
            assert diff.max() < 1e-2
    assert json.loads((prepared / "skipped.json").read_text()) == {}


def test_phoenix_pairs_follow_fpdm_protocol(prepared):
    ds = PreparedDataset.open(prepared)
    train = list(ds.pairs("train"))
    assert len(train) == 300
    frames = {c.id: c.num_frames for c in ds.split("train")}
    for p in train:
        assert p.source[0] == p.target[0] in frames
        assert 0 <= p.source[1] < frames[p.source[0]] and 0 <= p.target[1] < frames[p.source[0]]
        assert p.source[1] != p.target[1]
    for split in ("dev", "test"):
        pairs = list(ds.pairs(split))
        clips = ds.split(split)
        assert len(pairs) == sum(c.num_frames for c in clips)  # every frame once
        for c in clips:
            mine = [p for p in pairs if p.target[0] == c.id]
            assert [p.target[1] for p in mine] == list(range(c.num_frames))
            assert all(p.source == (c.id, 0) for p in mine)


def test_phoenix_rerun_skips_finished_clips(release, coco_dir, prepared):
    from signgen.prep.phoenix import prepare_phoenix

    poses = sorted((prepared / "poses").glob("*.npz"))
    before = {p: p.stat().st_mtime_ns for p in poses}
    train_pairs = (prepared / "pairs" / "train.jsonl").read_bytes()
    s = prepare_phoenix(release / "PHOENIX-2014-T", prepared, keypoints=coco_dir, num_pairs=300, seed=1,
                        progress=False)
    assert s.prepared == 0 and s.reused == len(poses) == 6
    assert {p: p.stat().st_mtime_ns for p in poses} == before
    assert (prepared / "pairs" / "train.jsonl").read_bytes() == train_pairs  # same seed, same draw


def _copy_release(release: Path, dest: Path) -> Path:
    raw = dest / "PHOENIX-2014-T"
    shutil.copytree(release / "PHOENIX-2014-T", raw)
    return raw


def test_broken_clips_are_reported_and_skipped(release, coco_dir, tmp_path, cli):
    raw = _copy_release(release, tmp_path)
    kp = tmp_path / "kp"
    shutil.copytree(coco_dir, kp)
    frames = raw / "features" / "fullFrame-210x260px"
    train = sorted(r[0] for r in _corpus(release, "train"))
    dev = sorted(r[0] for r in _corpus(release, "dev"))
    (frames / "train" / train[0] / "images0005.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")  # corrupt
    (frames / "train" / train[1] / "images0003.png").unlink()  # a missing frame
    doc = json.loads((kp / f"{dev[0]}.json").read_text())  # keypoints one frame short
    if isinstance(doc, dict):
        doc["instance_info"] = doc["instance_info"][:-1]
    else:
        doc = doc[:-1]
    (kp / f"{dev[0]}.json").write_text(json.dumps(doc))
    test = sorted(r[0] for r in _corpus(release, "test"))
    (kp / f"{test[0]}.json").unlink()  # no keypoints at all

    out = tmp_path / "prepared"
    code, stdout, stderr = cli("prep", "phoenix", raw, "-o", out, "--keypoints", kp, "--pairs", "10",
                                    "--workers", "2", "--no-progress")
    assert code == 0
    skipped = json.loads((out / "skipped.json").read_text())
    assert set(skipped) == {train[0], train[1], dev[0], test[0]}
    assert "images0005.png" in skipped[train[0]] and "not a readable image" in skipped[train[0]]
    assert "missing frame(s) 3" in skipped[train[1]]
    assert "keypoints have" in skipped[dev[0]] and "images" in skipped[dev[0]]
    assert f"no keypoint file {test[0]}." in skipped[test[0]]
    assert "skipped 4" in stderr and train[0] in stderr
    assert "prepared 2 clip(s)" in stdout
    ds = PreparedDataset.open(out)
    assert sorted(ds.clips) == sorted(set(train + dev + test) - set(skipped))
    assert len(list(ds.pairs("train"))) == 0  # both train clips were broken: nothing to draw from


def test_not_a_release_is_exit_2_one_line(tmp_path, cli):
    (tmp_path / "raw").mkdir()
    code, _, err = cli("prep", "phoenix", tmp_path / "raw", "-o", tmp_path / "out")
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "not a PHOENIX-2014-T release" in err and "raw" in err
    code, _, err = cli("prep", "deepfashion", tmp_path / "raw", "-o", tmp_path / "out")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "not a DeepFashion release" in err


def test_phoenix_with_mediapipe_extraction(release, tmp_path):
    """MediaPipe on a one-clip, three-frame release: the signer's shoulders land near the truth."""
    from signgen.prep.phoenix import prepare_phoenix

    row = _corpus(release, "train")[0]
    name = row[0]
    raw = tmp_path / "raw"
    manual = raw / "annotations" / "manual"
    manual.mkdir(parents=True)
    (manual / "PHOENIX-2014-T.train.corpus.csv").write_text(
        "name|video|start|end|speaker|orth|translation\n" + "|".join(row) + "\n")
    src = release / "PHOENIX-2014-T" / "features" / "fullFrame-210x260px" / "train" / name
    dst = raw / "features" / "fullFrame-210x260px" / "train" / name
    dst.mkdir(parents=True)
    for i in range(1, 4):
        shutil.copy(src / f"images{i:04d}.png", dst)
    s = prepare_phoenix(raw, tmp_path / "out", keypoints="extract", num_pairs=5, progress=False)
    assert s.prepared == 1 and s.clips == {"train": 1, "dev": 0, "test": 0} and s.pairs == {"train": 5}
    pose = PreparedDataset.open(tmp_path / "out").pose(name)
    gt = read_npz(release / "groundtruth" / "phoenix" / "train" / f"{name}.npz").slice(0, 3)
    assert pose.xy.shape == (3, 128, 2)
    shoulders = [2, 5]
    assert (pose.conf[:, shoulders] > 0.5).all()
    assert np.linalg.norm(pose.xy[:, shoulders] - gt.xy[:, shoulders], axis=-1).max() < 15
    # one Holistic graph per clip gives what extract_image gives frame by frame (the face mesh
    # differs by a pixel or so: its refinement keeps some state between frames)
    from signgen.pose.extract import extract_image

    single = extract_image(dst / "images0003.png").canonical()
    assert np.array_equal(single.conf[0], pose.conf[2])
    assert np.allclose(single.xy[0, : C.FACE_START], pose.xy[2, : C.FACE_START], atol=1e-3)
    assert np.abs(single.xy[0] - pose.xy[2]).max() < 3


def test_deepfashion_release(release, tmp_path, cli):
    raw = release / "fashion"
    out = tmp_path / "df"
    code, stdout, _ = cli("prep", "deepfashion", raw, "-o", out, "--no-progress")
    assert code == 0
    ds = PreparedDataset.open(out)
    for split in ("train", "test"):
        rows = (raw / f"fasion-resize-pairs-{split}.csv").read_text().splitlines()[1:]
        pairs = list(ds.pairs(split))
        assert len(pairs) == len(rows) > 0
        assert [(p.source[0] + ".png", p.target[0] + ".png") for p in pairs] == [tuple(r.split(",")) for r in rows]
        names = [line.split(":")[0] for line in (raw / f"fasion-resize-annotation-{split}.csv").read_text().splitlines()[1:]]
        assert sorted(c.id + ".png" for c in ds.split(split)) == sorted(names)
    clip = ds.split("train")[0]
    gt = np.load(release / "groundtruth" / "fashion" / f"{clip.id}.npz")
    pose = ds.pose(clip.id)
    assert pose.num_frames == 1 and ds.frame_paths(clip.id)[0].is_file()
    seen = pose.conf[0, :18] > 0  # points the annotation has (-1 where outside the image)
    assert seen.sum() >= 12 and (gt["conf"][:18][seen] > 0).all()
    assert np.abs(pose.xy[0, :18][seen] - gt["xy"][:18][seen]).max() <= 0.5 + 1e-6  # integer pixels
    assert (pose.conf[0, 18:] == 0).all()  # OpenPose-18 has no hands or face
    before = {p: p.stat().st_mtime_ns for p in (out / "poses").glob("*.npz")}
    code, stdout, _ = cli("prep", "deepfashion", raw, "-o", out, "--no-progress")
    assert code == 0 and f"prepared 0 clip(s), {len(before)} already done" in stdout
    assert {p: p.stat().st_mtime_ns for p in (out / "poses").glob("*.npz")} == before


def test_output_of_another_kind_is_refused(release, prepared, cli):
    code, _, err = cli("prep", "deepfashion", release / "fashion", "-o", prepared)
    assert code == 2 and "holds a prepared 'phoenix-2014t' dataset" in err


def test_prep_synthetic_cli(tmp_path, cli):
    code, out, _ = cli("prep", "synthetic", "-o", tmp_path / "syn", "--signers", "2", "--sentences", "1",
                            "--fingerspelling", "1", "--no-progress")
    assert code == 0 and "train 2, dev" in out  # Signer01: 1 sentence + 1 fingerspelled word
    corpus = tmp_path / "syn" / "PHOENIX-2014-T" / "annotations" / "manual" / "PHOENIX-2014-T.train.corpus.csv"
    rows = corpus.read_text().splitlines()
    assert len(rows) == 3
    assert any(set(row.split("|")[5].split()) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÜß") and len(row.split("|")[5].split()) >= 3
               for row in rows[1:])  # the spelled word: letters separated by spaces
    assert (tmp_path / "syn" / "fashion" / "fasion-resize-pairs-train.csv").is_file()



def test_prep_synthetic_keep_out_needs_a_release(tmp_path, cli):
    code, _, err = cli("prep", "synthetic", "-o", tmp_path / "syn", "--signers", "2", "--sentences", "1",
                       "--fingerspelling", "1", "--keep-out", tmp_path, "--no-progress")
    assert code == 2 and f"{tmp_path}: is not a synthetic release" in err and "Traceback" not in err
    assert not (tmp_path / "syn").exists()

def test_prep_synthetic_size(tmp_path, cli):
    from signgen.base.images import read_image

    code, _, _ = cli("prep", "synthetic", "-o", tmp_path / "syn", "--signers", "2", "--sentences", "1",
                     "--size", "64x48", "--no-progress")
    assert code == 0
    frames = sorted((tmp_path / "syn" / "PHOENIX-2014-T" / "features" / "fullFrame-64x48px").glob("*/*/images0001.png"))
    assert frames and read_image(frames[0]).shape == (48, 64, 3)
    code, _, err = cli("prep", "synthetic", "-o", tmp_path / "bad", "--size", "64by64")
    assert code == 2 and "--size must look like 210x260, got '64by64'" in err
    code, _, err = cli("prep", "synthetic", "-o", tmp_path / "bad", "--size", "16x16")
    assert code == 2 and "too small" in err


def test_deepfashion_missing_points_and_broken_image(tmp_path):
    from PIL import Image

    from signgen.prep.deepfashion import prepare_deepfashion

    raw = tmp_path / "raw"
    (raw / "train").mkdir(parents=True)
    for n in ("a.jpg", "b.jpg"):
        Image.new("RGB", (176, 256), (200, 100, 50)).save(raw / "train" / n)
    (raw / "train" / "c.jpg").write_bytes(b"not a jpeg")
    ys = list(range(10, 190, 10))
    xs = list(range(5, 95, 5))
    ys_missing = [-1 if i in (3, 10) else y for i, y in enumerate(ys)]
    (raw / "fasion-resize-annotation-train.csv").write_text(
        "name:keypoints_y:keypoints_x\n"
        f"a.jpg: {ys}: {xs}\n" f"b.jpg: {ys_missing}: {xs}\n" f"c.jpg: {ys}: {xs}\n" "d.jpg: [1, 2]: [3, 4]\n")
    (raw / "fasion-resize-pairs-train.csv").write_text(",from,to\n0,a.jpg,b.jpg\n1,b.jpg,c.jpg\n2,b.jpg,a.jpg\n")
    s = prepare_deepfashion(raw, tmp_path / "out", progress=False)
    assert s.clips == {"train": 2} and s.pairs == {"train": 2}
    ds = PreparedDataset.open(tmp_path / "out")
    b = ds.pose("b")
    assert b.conf[0, 3] == 0 and b.conf[0, 10] == 0 and b.conf[0, 2] == 1
    assert tuple(b.xy[0, 2]) == (15.0, 30.0)  # x from keypoints_x, y from keypoints_y
    assert (ds.meta["width"], ds.meta["height"]) == (176, 256)
    skipped = json.loads((tmp_path / "out" / "skipped.json").read_text())
    assert "not a readable image" in skipped["c"]
    assert "18 each" in skipped["d"]
    assert "1 pair(s) dropped" in skipped["pairs:train"]


def test_coco_wholebody_json_shapes(tmp_path):
    pts = np.zeros((2, 133, 3))
    pts[..., 0], pts[..., 1], pts[..., 2] = 10.0, 20.0, 0.9
    pts[1, 9, 2] = 0.0  # a missing left wrist in frame 1
    (tmp_path / "plain.json").write_text(json.dumps(pts.tolist()))
    flat = [{"keypoints": fr.reshape(-1).tolist()} for fr in pts]
    (tmp_path / "flat.json").write_text(json.dumps({"frames": flat}))
    for name in ("plain.json", "flat.json"):
        t = read_coco_wholebody_json(tmp_path / name, 210, 260)
        assert t.layout == "coco_wholebody" and t.xy.shape == (2, 133, 2)
        assert t.canonical().conf[1, 7] == 0 and t.canonical().conf[0, 7] == pytest.approx(0.9)
    (tmp_path / "bad.json").write_text(json.dumps([[[1, 2, 3]] * 17]))
    from signgen.errors import InputError

    with pytest.raises(InputError, match=r"bad\.json: frame 0: expected 133 COCO-WholeBody points"):
        read_coco_wholebody_json(tmp_path / "bad.json", 210, 260)


def test_pair_helpers():
    clips = [Clip("a", "train", 5, "x"), Clip("b", "train", 1, "y"), Clip("c", "train", 20, "z")]
    pairs = training_pairs(clips, 2000, seed=3)
    assert pairs == training_pairs(list(reversed(clips)), 2000, seed=3)  # order-independent, seeded
    counts = {k: sum(p.source[0] == k for p in pairs) for k in "abc"}
    assert counts["c"] > 3 * counts["a"] > 0  # drawn in proportion to frames
    assert all(p.source == p.target == ("b", 0) for p in pairs if p.source[0] == "b")
    assert all(p.source != p.target for p in pairs if p.source[0] != "b")
    assert [p.target[1] for p in every_frame_pairs(clips[:1])] == [0, 1, 2, 3, 4]
    # --frame-stride: only every 4th frame, all of them reachable, no frame past a clip's end
    strided = training_pairs(clips, 2000, seed=3, stride=4)
    frames = {f for p in strided for f in (p.source, p.target)}
    assert {f for c, f in frames if c == "c"} == {0, 4, 8, 12, 16} and {f for c, f in frames if c == "a"} == {0, 4}
    assert all(p.source != p.target for p in strided if p.source[0] != "b")
    assert training_pairs(clips, 50, seed=3, stride=1) == training_pairs(clips, 50, seed=3)
    from signgen.errors import InputError

    with pytest.raises(InputError, match="--frame-stride must be >= 1, got 0"):
        training_pairs(clips, 5, seed=3, stride=0)
    assert numbering_gap([Path("images0001.png"), Path("images0002.png")]) is None
    assert numbering_gap([Path("images0001.png"), Path("images0004.png")]) == "missing frame(s) 2, 3"


def test_keypoint_file_lookup_and_npy(tmp_path):
    from signgen.prep.keypoints import find_keypoint_file, read_keypoint_file

    pts = np.zeros((4, 133, 3), np.float32)
    pts[..., :2], pts[..., 2] = 50.0, 1.0
    pts[:, 10, :2] = (60.0, 70.0)  # right wrist
    (tmp_path / "train").mkdir()
    np.save(tmp_path / "train" / "clip.npy", pts)
    (tmp_path / "clip.json").write_text("[]")  # the split folder comes first
    found = find_keypoint_file(tmp_path, "train", "clip")
    assert found == tmp_path / "train" / "clip.npy"
    assert find_keypoint_file(tmp_path, "dev", "clip") == tmp_path / "clip.json"
    assert find_keypoint_file(tmp_path, "dev", "other") is None
    t = read_keypoint_file(found, 210, 260)
    assert t.layout == "canonical" and (t.width, t.height, t.num_frames) == (210, 260, 4)
    assert tuple(t.xy[0, 4]) == (60.0, 70.0)  # COCO right wrist -> canonical right wrist
