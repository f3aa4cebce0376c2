"""Gloss alignment (signgen.pose.align) and `signgen prep lexicon` on a constructed corpus whose
glosses have very different durations, so uniform segmentation is visibly wrong."""

from __future__ import annotations

import json

import numpy as np
import pytest

from signgen.data.prepared import Clip, PreparedDataset
from signgen.errors import InputError
from signgen.pose.align import (AlignConfig, Segment, align_corpus, arm_features, boundary_error, resample_frames,
                                segment_sentence, uniform_segments)
from signgen.pose.layouts import canonical as C
from signgen.pose.track import PoseTrack

W, H = 210, 260
R_SH, L_SH = np.array([80.0, 100.0]), np.array([130.0, 100.0])
REST = np.array([[75.0, 190.0], [135.0, 190.0]])  # right, left wrist hanging
# gloss -> (frames, right-wrist keyframes); durations differ four-fold
GLOSSES = {
    "KURZ": (6, [(60, 80), (40, 60)]),
    "LANG": (24, [(90, 70), (150, 60), (160, 120), (100, 130)]),
    "MITTEL": (12, [(70, 40), (110, 40)]),
    "BREIT": (16, [(30, 120), (60, 150), (30, 150)]),
}
TRANSITION = 4
REST_FRAMES = 6


def _path(keys: list, n: int) -> np.ndarray:
    keys = np.asarray(keys, dtype=float)
    return resample_frames(keys, n) if len(keys) > 1 else np.repeat(keys, n, axis=0)


def make_sentence(glosses: list[str], rng: np.random.Generator) -> tuple[PoseTrack, list[Segment]]:
    """A canonical track: rest, each gloss's right-wrist path with linear transitions, rest."""
    wrist = [np.repeat(REST[:1], REST_FRAMES, axis=0)]
    segs, t = [], REST_FRAMES
    for g in glosses:
        n, keys = GLOSSES[g]
        path = _path(keys, n)
        start = wrist[-1][-1]
        k = TRANSITION + 1
        wrist.append(start + (path[0] - start) * (np.arange(1, k) / k)[:, None])
        t += TRANSITION
        wrist.append(path)
        segs.append(Segment(g, t, t + n))
        t += n
    k = TRANSITION + 1
    wrist.append(wrist[-1][-1] + (REST[0] - wrist[-1][-1]) * (np.arange(1, k) / k)[:, None])
    wrist.append(np.repeat(REST[:1], REST_FRAMES, axis=0))
    rw = np.concatenate(wrist) + rng.normal(0, 0.5, (sum(len(w) for w in wrist), 2))
    T = len(rw)
    xy = np.zeros((T, C.NUM_KEYPOINTS, 2), np.float32)
    conf = np.zeros((T, C.NUM_KEYPOINTS), np.float32)
    xy[:, 2], xy[:, 5], xy[:, 1] = R_SH, L_SH, (R_SH + L_SH) / 2
    xy[:, 4], xy[:, 7] = rw, REST[1]
    xy[:, 3], xy[:, 6] = (R_SH + rw) / 2, (L_SH + REST[1]) / 2
    for start, wr in ((C.RIGHT_HAND_START, xy[:, 4]), (C.LEFT_HAND_START, xy[:, 7])):
        xy[:, start : start + 21] = wr[:, None] + np.linspace(0, 12, 21)[None, :, None]
    conf[:, : C.FACE_START] = 1.0
    conf[:, 8:14] = 0.0  # no legs, as in upper-body video
    return PoseTrack(xy=xy, conf=conf, fps=25, width=W, height=H), segs


def corpus(n: int, seed: int = 0) -> list[tuple[PoseTrack, list[Segment]]]:
    rng = np.random.default_rng(seed)
    names = list(GLOSSES)
    return [make_sentence(list(rng.choice(names, size=int(rng.integers(2, 4)), replace=False)), rng) for _ in range(n)]


def mean_error(found, truth) -> float:
    return float(np.mean([boundary_error(f, t) for f, t in zip(found, truth)]))


def test_learned_boundaries_beat_uniform_on_unequal_durations():
    data = corpus(24)
    feats = [arm_features(t) for t, _ in data]
    glosses = [[s.gloss for s in segs] for _, segs in data]
    truth = [segs for _, segs in data]
    uniform = align_corpus(feats, glosses, iterations=0)
    learned = align_corpus(feats, glosses, iterations=5)
    e_uni, e_learned = mean_error(uniform.segments, truth), mean_error(learned.segments, truth)
    assert e_uni > 3.0  # equal parts cannot fit 6- and 24-frame glosses
    assert e_learned < 1.5 and e_learned < e_uni / 3
    assert learned.costs[-1] <= learned.costs[0]  # re-estimation does not make the fit worse


def test_alignment_survives_detector_dropouts():
    """Real keypoints lose hands for a few frames and flicker; features interpolate over that."""
    rng = np.random.default_rng(0)
    data = corpus(24, seed=4)
    feats = []
    for track, _ in data:
        conf = track.conf.copy()
        for _ in range(3):  # three 6-frame losses of the right hand per sentence
            a = int(rng.integers(0, track.num_frames - 6))
            conf[a : a + 6, C.RIGHT_HAND_START : C.RIGHT_HAND_START + 21] = 0
        conf[rng.random(track.num_frames) < 0.1, 4] = 0  # the right wrist flickers
        feats.append(arm_features(track.copy(conf=conf)))
    glosses = [[s.gloss for s in segs] for _, segs in data]
    truth = [segs for _, segs in data]
    e_uni = mean_error(align_corpus(feats, glosses, iterations=0).segments, truth)
    e_learned = mean_error(align_corpus(feats, glosses, iterations=5).segments, truth)
    assert e_learned < 2.0 and e_learned < e_uni / 2


def test_exact_templates_recover_exact_boundaries():
    (track, segs), = corpus(1, seed=5)
    x = arm_features(track)
    templates = {s.gloss: resample_frames(x[s.start : s.end], 12) for s in segs}
    rest = x[:3].mean(axis=0)
    found = segment_sentence(x, [s.gloss for s in segs], templates, rest, transition_cost=0.05, config=AlignConfig())
    assert boundary_error(found, segs) <= 0.5


def test_duration_limits_are_kept():
    (track, segs), = corpus(1, seed=2)
    x = arm_features(track)
    g = [s.gloss for s in segs]
    templates = {s: np.zeros((12, x.shape[1])) for s in g}
    found = segment_sentence(x, g, templates, x[0], 1.0, AlignConfig(min_frames=5, max_frames=7))
    assert all(5 <= s.end - s.start <= 7 for s in found)
    assert [s.gloss for s in found] == g
    assert all(a.end <= b.start for a, b in zip(found, found[1:]))
    with pytest.raises(InputError, match="cannot hold"):
        segment_sentence(x[:8], g, templates, x[0], 1.0, AlignConfig(min_frames=5))


def test_features_ignore_framing():
    (track, _), = corpus(1)
    moved = track.copy(xy=track.xy * 1.7 + np.array([13.0, -4.0], np.float32), width=400, height=500)
    assert np.allclose(arm_features(track), arm_features(moved), atol=1e-4)
    f = arm_features(track)
    assert f.shape == (track.num_frames, 24)
    # right wrist at rest, from the shoulder midpoint in shoulder widths: (75-105)/50, (190-100)/50
    assert f[0, 2:4] == pytest.approx([-0.6, 1.8], abs=0.05)


def test_uniform_segments_cover_the_active_span():
    (track, segs), = corpus(1, seed=3)
    x = arm_features(track)
    found = uniform_segments(x, [s.gloss for s in segs], rest=x[0])
    lengths = [s.end - s.start for s in found]
    assert max(lengths) - min(lengths) <= 1
    assert REST_FRAMES - 1 <= found[0].start <= REST_FRAMES + TRANSITION
    with pytest.raises(InputError, match="different glosses"):
        boundary_error(found, found[::-1] if len(found) > 1 else [Segment("X", 0, 1)])


def test_resample_frames():
    x = np.arange(4, dtype=float)[:, None]
    assert resample_frames(x, 4)[:, 0] == pytest.approx([0, 1, 2, 3])
    assert resample_frames(x, 2)[:, 0] == pytest.approx([0.5, 2.5])
    assert resample_frames(x[:1], 3)[:, 0] == pytest.approx([0, 0, 0])


def test_prep_lexicon_cli(tmp_path, cli):
    from signgen.pose.lexicon import Lexicon
    from signgen.pose.stitch import glosses_to_track

    data = corpus(20, seed=1)
    ds = PreparedDataset.create(tmp_path / "prep", name="constructed", fps=25, width=W, height=H, image_root=tmp_path)
    truth = {}
    for i, (track, segs) in enumerate(data):
        cid = f"s{i:02d}"
        ds.add_clip(Clip(cid, "train", track.num_frames, cid, glosses=[s.gloss for s in segs]), track)
        truth[cid] = segs
    ds.save()
    errors = {}
    for its in (0, 5):
        out = tmp_path / f"lex{its}"
        code, stdout, _ = cli("prep", "lexicon", tmp_path / "prep", "-o", out, "--iterations", its, "--workers", 2,
                                   "--no-progress")
        assert code == 0 and f"{len(GLOSSES)} glosses from 20 train sentences" in stdout
        doc = json.loads((out / "alignment.json").read_text())
        found = {cid: [Segment(g, a, b) for g, a, b in segs] for cid, segs in doc["segments"].items()}
        errors[its] = mean_error([found[c] for c in truth], list(truth.values()))
    assert errors[5] < 1.5 < errors[0]
    lex = Lexicon.open(tmp_path / "lex5")
    assert sorted(lex.glosses("gsg")) == sorted(GLOSSES)
    for g, (n, _) in GLOSSES.items():
        clip = lex.lookup(g, "gsg")
        assert clip.layout == "holistic" and abs(clip.num_frames - n) <= 2
    made = glosses_to_track(["LANG", "KURZ"], lex, "gsg", trim=False)
    assert [s[0] for s in made.meta["segments"]] == ["LANG", "KURZ"]


def test_prep_lexicon_needs_glosses(tmp_path, cli):
    ds = PreparedDataset.create(tmp_path / "prep", name="x", fps=25, width=W, height=H, image_root=tmp_path)
    (track, _), = corpus(1)
    ds.add_clip(Clip("a", "train", track.num_frames, "a"), track)
    ds.save()
    code, _, err = cli("prep", "lexicon", tmp_path / "prep", "-o", tmp_path / "lex")
    assert code == 2 and "no train clips with glosses" in err and len(err.strip().splitlines()) == 1


def test_workers_give_the_same_alignment():
    data = corpus(8, seed=7)
    feats = [arm_features(t) for t, _ in data]
    glosses = [[s.gloss for s in segs] for _, segs in data]
    one = align_corpus(feats, glosses, iterations=2)
    two = align_corpus(feats, glosses, iterations=2, workers=2)
    assert one.segments == two.segments and one.costs == two.costs


def test_prep_lexicon_rerun_replaces_its_own_lexicon_only(tmp_path, cli):
    ds = PreparedDataset.create(tmp_path / "prep", name="x", fps=25, width=W, height=H, image_root=tmp_path)
    for i, (track, segs) in enumerate(corpus(6, seed=3)):
        ds.add_clip(Clip(f"c{i}", "train", track.num_frames, f"c{i}", glosses=[s.gloss for s in segs]), track)
    ds.save()
    out = tmp_path / "lex"
    assert cli("prep", "lexicon", tmp_path / "prep", "-o", out, "--no-progress")[0] == 0
    first = sorted(out.glob("*.pose"))[0]
    (out / "0099_OLD.pose").write_bytes(first.read_bytes())  # as if from an earlier run
    assert cli("prep", "lexicon", tmp_path / "prep", "-o", out, "--no-progress")[0] == 0
    assert not (out / "0099_OLD.pose").exists()
    assert len(list(out.glob("*.pose"))) == len({s.gloss for _, segs in corpus(6, seed=3) for s in segs})
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "index.csv").write_text("path,spoken_language,signed_language,start,end,words,glosses,priority\n")
    code, _, err = cli("prep", "lexicon", tmp_path / "prep", "-o", foreign)
    assert code == 2 and "did not write" in err
