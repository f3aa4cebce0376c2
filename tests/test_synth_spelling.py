"""Fingerspelled clips in the synthetic release: real recorded letters on synthetic signers."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from signgen.errors import InputError
from signgen.pose.layouts import canonical as C
from signgen.pose.lexicon import Lexicon
from signgen.synth import Identity, canonical_pose_for, write_synthetic_release
from signgen.synth.spelling import LANGUAGES, alphabet, pick_letters, spell_onto
from signgen.synth.tree import held_out_words, plan_fingerspelling

SIZE = (105, 130)
TINY = dict(num_signers=3, sentences_per_signer=1, seed=3, min_glosses=1, max_glosses=1, fashion_poses=2,
            phoenix_size=SIZE, fashion_size=(48, 64), progress=False)
SPLITS = ("train", "dev", "test")
FRAMES = f"PHOENIX-2014-T/features/fullFrame-{SIZE[0]}x{SIZE[1]}px"


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Lexicon.open("fingerspelling")


@pytest.fixture(scope="module")
def spelled_release(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("spelled")
    return root, write_synthetic_release(root, **TINY, fingerspelling_per_signer=1)


@pytest.fixture(scope="module")
def plain_release(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("plain")
    write_synthetic_release(root, **TINY)
    return root


def _rows(root: Path, split: str) -> list[dict]:
    path = root / "PHOENIX-2014-T/annotations/manual" / f"PHOENIX-2014-T.{split}.corpus.csv"
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="|"))


def _gt(root: Path, split: str, name: str) -> dict:
    return json.loads((root / "groundtruth/phoenix" / split / f"{name}.json").read_text(encoding="utf-8"))


def _spelled(root: Path):
    for split in SPLITS:
        for row in _rows(root, split):
            gt = _gt(root, split, row["name"])
            if gt.get("motion") == "fingerspelling":
                yield split, row, gt


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_spelled_clips_are_in_the_corpus_and_on_disk(spelled_release):
    root, summary = spelled_release
    assert summary["fingerspelling"] == {"train": 1, "dev": 1, "test": 1}
    assert summary["phoenix"] == {"train": 2, "dev": 2, "test": 2}  # one sentence + one spelled word each
    found = list(_spelled(root))
    assert [s for s, _, _ in found] == list(SPLITS)
    names = [r["name"] for s in SPLITS for r in _rows(root, s)]
    assert len(set(names)) == len(names) == 6
    for split, row, gt in found:
        letters = row["orth"].split(" ")
        assert 3 <= len(letters) <= 6 and all(letters) and row["orth"].isupper()
        assert row["translation"] == "".join(letters).lower() and row["video"] == f"{row['name']}/1/*.png"
        assert gt["language"] in LANGUAGES and gt["orth"] == row["orth"] and gt["speaker"] == row["speaker"]
        files = sorted(p.name for p in (root / FRAMES / split / row["name"]).iterdir())
        assert files == [f"images{i:04d}.png" for i in range(1, gt["num_frames"] + 1)]
        assert 60 <= gt["num_frames"] <= 250
        img = cv2.imread(str(root / FRAMES / split / row["name"] / files[len(files) // 2]))
        assert img.shape == (SIZE[1], SIZE[0], 3)
        with np.load(root / "groundtruth/phoenix" / split / f"{row['name']}.npz") as z:
            assert z["xy"].shape == (gt["num_frames"], C.NUM_KEYPOINTS, 2)
            assert z["conf"].shape == (gt["num_frames"], C.NUM_KEYPOINTS)
    # sentences are tagged too, so a reader can tell the two kinds apart
    kinds = {_gt(root, s, r["name"])["motion"] for s in SPLITS for r in _rows(root, s)}
    assert kinds == {"fingerspelling", "vocabulary"}
    speakers = {s: {r["speaker"] for r in _rows(root, s)} for s in SPLITS}
    assert not speakers["train"] & (speakers["dev"] | speakers["test"])
    assert json.loads((root / "groundtruth/release.json").read_text())["fingerspelling_per_signer"] == 1


def test_segments_tile_the_letters_in_order_from_rest_to_rest(spelled_release):
    root, _ = spelled_release
    for split, row, gt in _spelled(root):
        seg = gt["segments"]
        assert seg[0]["start"] == 0 and seg[-1]["end"] == gt["num_frames"]
        assert all(a["end"] == b["start"] and a["start"] < a["end"] for a, b in zip(seg, seg[1:]))
        assert [s["label"] for s in seg[:2]] == ["si", "tr"] and [s["label"] for s in seg[-2:]] == ["tr", "si"]
        letters = [s["label"] for s in seg[2:-2]]
        assert letters == row["orth"].split()
        assert gt["glosses"] == [{"gloss": s["label"], "start": s["start"], "end": s["end"]} for s in seg[2:-2]]
        ident = json.loads((root / "groundtruth/identities" / f"{row['speaker']}.json").read_text())
        rest_xy, _ = canonical_pose_for(Identity.from_dict(ident), "upper", *SIZE)
        with np.load(root / "groundtruth/phoenix" / split / f"{row['name']}.npz") as z:
            xy = z["xy"]
        np.testing.assert_allclose(xy[0], rest_xy, atol=1e-4)  # starts and ends at the signer's rest pose
        np.testing.assert_allclose(xy[-1], rest_xy, atol=1e-4)
        wrist = xy[:, 4]
        assert np.linalg.norm(wrist - rest_xy[4], axis=-1).max() > 0.1 * SIZE[1]  # the hand really moves


def test_signing_hand_stays_in_frame(spelled_release):
    root, _ = spelled_release
    w, h = SIZE
    for split, row, gt in _spelled(root):
        with np.load(root / "groundtruth/phoenix" / split / f"{row['name']}.npz") as z:
            xy, conf = z["xy"], z["conf"]
        # while spelling (the rest frames are the signer's own neutral pose, hands by the hips)
        first, stop = gt["glosses"][0]["start"], gt["glosses"][-1]["end"]
        xy, conf = xy[first:stop], conf[first:stop]
        travel = [np.abs(np.diff(xy[:, i], axis=0)).sum() for i in (4, 7)]
        start = C.RIGHT_HAND_START if travel[0] >= travel[1] else C.LEFT_HAND_START
        hand, hconf = xy[:, start:start + 21], conf[:, start:start + 21]
        assert (hconf > 0).all()  # every point of the signing hand is present in every frame
        assert (hand[..., 0] >= 0).all() and (hand[..., 0] <= w - 1).all()
        assert (hand[..., 1] >= 0).all() and (hand[..., 1] <= h - 1).all()


def test_zero_keeps_the_release_unchanged(plain_release, spelled_release, tmp_path):
    explicit = tmp_path / "explicit"
    write_synthetic_release(explicit, **TINY, fingerspelling_per_signer=0)
    assert _hashes(explicit) == _hashes(plain_release)
    assert "fingerspelling" not in (plain_release / "groundtruth/release.json").read_text()
    assert all("motion" not in json.loads(p.read_text()) for p in (plain_release / "groundtruth/phoenix").rglob("*.json"))
    # adding spelled clips leaves every sentence clip's frames and keypoints as they were
    spelled, _ = spelled_release
    plain_rows = {s: _rows(plain_release, s) for s in SPLITS}
    for split in SPLITS:
        sentences = [r for r in _rows(spelled, split) if _gt(spelled, split, r["name"])["motion"] == "vocabulary"]
        assert sentences == plain_rows[split]
        for r in sentences:
            for rel in (f"{FRAMES}/{split}/{r['name']}/images0001.png", f"groundtruth/phoenix/{split}/{r['name']}.npz"):
                assert (spelled / rel).read_bytes() == (plain_release / rel).read_bytes()


def test_rerun_skips_resumes_and_refuses_other_settings(spelled_release):
    root, _ = spelled_release
    again = write_synthetic_release(root, **TINY, fingerspelling_per_signer=1)
    assert again["rendered"] == 0
    _, row, _ = next(iter(_spelled(root)))
    marker = root / "groundtruth/phoenix/train" / f"{row['name']}.json"
    before = marker.read_bytes()
    marker.unlink()
    resumed = write_synthetic_release(root, **TINY, fingerspelling_per_signer=1)
    assert resumed["rendered"] == 1 and marker.read_bytes() == before  # deterministic redo
    with pytest.raises(InputError, match="other settings.*fingerspelling_per_signer"):
        write_synthetic_release(root, **TINY)
    with pytest.raises(InputError, match="other settings.*fingerspelling_per_signer"):
        write_synthetic_release(root, **TINY, fingerspelling_per_signer=2)
    with pytest.raises(InputError, match=">= 0"):
        write_synthetic_release(root, **TINY, fingerspelling_per_signer=-1)


def test_plan_is_seeded_and_keeps_held_out_words_out_of_train(lexicon):
    a = plan_fingerspelling(9, 3, seed=1, first_index=100, lexicon=lexicon)
    assert a == plan_fingerspelling(9, 3, seed=1, first_index=100, lexicon=lexicon)
    assert a != plan_fingerspelling(9, 3, seed=2, first_index=100, lexicon=lexicon)
    assert len(a) == 27 and all(c.motion == "fingerspelling" for c in a)
    assert len({c.language for c in a}) > 1  # several languages
    train = {(c.language, c.glosses) for c in a if c.split == "train"}
    assert not train & {(c.language, c.glosses) for c in a if c.split != "train"}
    assert all(c.name.endswith(f"-{1100 + i}") for i, c in enumerate(a))



def test_keep_out_keeps_another_worlds_held_out_words_out_of_train(lexicon):
    a = plan_fingerspelling(60, 4, seed=0, first_index=0, lexicon=lexicon)
    held = frozenset((c.language, c.glosses) for c in a if c.split != "train")
    plain = plan_fingerspelling(100, 2, seed=1, first_index=0, lexicon=lexicon)
    assert {(c.language, c.glosses) for c in plain if c.split == "train"} & held  # words do repeat across worlds
    kept = plan_fingerspelling(100, 2, seed=1, first_index=0, lexicon=lexicon, keep_out=held)
    assert not {(c.language, c.glosses) for c in kept if c.split == "train"} & held
    assert [c.name for c in kept] == [c.name for c in plain] and len(kept) == 200
    assert [c for c in kept if c.split != "train"] != []  # held-out clips are still planned
    assert plan_fingerspelling(100, 2, seed=1, first_index=0, lexicon=lexicon, keep_out=frozenset()) == plain


def test_held_out_words_of_a_release(spelled_release, tmp_path):
    root, _ = spelled_release
    expected = {(gt["language"], tuple(g["gloss"] for g in gt["glosses"]))
                for split, _, gt in _spelled(root) if split != "train"}
    assert expected and held_out_words(root) == expected
    other = tmp_path / "other"
    summary = write_synthetic_release(other, **{**TINY, "seed": 4}, fingerspelling_per_signer=1, keep_out=expected)
    assert summary["fingerspelling"]["train"] == 1
    assert not {(gt["language"], tuple(g["gloss"] for g in gt["glosses"]))
                for split, _, gt in _spelled(other) if split == "train"} & expected
    release = json.loads((other / "groundtruth/release.json").read_text())
    assert sorted((lang, tuple(letters)) for lang, letters in release["keep_out"]) == sorted(expected)
    with pytest.raises(InputError, match="other settings.*keep_out"):
        write_synthetic_release(other, **{**TINY, "seed": 4}, fingerspelling_per_signer=1)


def test_held_out_words_refuses_what_is_not_a_release(spelled_release, tmp_path):
    with pytest.raises(InputError, match="is not a synthetic release"):
        held_out_words(tmp_path)
    root, _ = spelled_release
    bad = tmp_path / "bad"
    (bad / "groundtruth/phoenix/dev").mkdir(parents=True)
    (bad / "groundtruth/release.json").write_text((root / "groundtruth/release.json").read_text())
    clip = bad / "groundtruth/phoenix/dev/x.json"
    clip.write_text(json.dumps({"motion": "fingerspelling", "glosses": ["A", "B"], "language": "gsg"}))
    with pytest.raises(InputError, match=r"x\.json: a fingerspelled clip needs a language and glosses"):
        held_out_words(bad)

def test_pick_letters_uses_the_languages_alphabet(lexicon):
    rng = np.random.default_rng(0)
    for lang in LANGUAGES:
        signs = set(lexicon.glosses(lang))
        for _ in range(20):
            letters = pick_letters(rng, lang, lexicon)
            assert 3 <= len(letters) <= 6 and set(letters) <= signs
    assert "Ä" not in alphabet("gsg", lexicon) and len(alphabet("ase", lexicon)) == 26
    with pytest.raises(InputError, match="no fingerspelling alphabet"):
        alphabet("xxx", lexicon)


def test_spell_onto_a_digraph_letter(lexicon):
    person = Identity.sample(4)
    clip = spell_onto(person, ("N", "O", "CH", "E"), "ssp", width=105, height=130, lexicon=lexicon)
    assert [g["gloss"] for g in clip.gloss_spans()] == ["N", "O", "CH", "E"]
    assert clip.track.xy.shape == (clip.num_frames, C.NUM_KEYPOINTS, 2) and clip.track.fps == 25
    again = spell_onto(person, ("N", "O", "CH", "E"), "ssp", width=105, height=130, lexicon=lexicon)
    np.testing.assert_array_equal(clip.track.xy, again.track.xy)
    # the signer keeps their own face: the head is where the rest pose has it, up to a small nod
    rest_xy, _ = canonical_pose_for(person, "upper", 105, 130)
    face = clip.track.xy[:, C.FACE_START:]
    span = np.ptp(rest_xy[C.FACE_START:], axis=0)
    np.testing.assert_allclose(np.ptp(face, axis=1), np.broadcast_to(span, (clip.num_frames, 2)), rtol=1e-3)
