"""Glosses -> one continuous track, on the real fingerspelling lexicon."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from signgen.errors import InputError
from signgen.pose.filters import resample
from signgen.pose.layouts import canonical as C
from signgen.pose.lexicon import Lexicon, LexiconEntry, write_lexicon
from signgen.pose.stitch import (
    ANCHOR, SHOULDER_WIDTH, cut_at_seams, glosses_to_track, prepare_clip, spell, transition, trim_idle,
    wrist_steps,
)
from signgen.pose.track import PoseTrack

LETTERS = list("HALLO")


@pytest.fixture(scope="module")
def fs() -> Lexicon:
    return Lexicon.open("fingerspelling")


@pytest.fixture(scope="module")
def hallo(fs: Lexicon) -> PoseTrack:
    return glosses_to_track("H A L L O", fs, "gsg", fps=25.0)


def test_hallo_is_one_canonical_track_of_trimmed_clips_plus_transitions(fs: Lexicon, hallo: PoseTrack) -> None:
    assert (hallo.layout, hallo.fps, hallo.width, hallo.height) == ("canonical", 25.0, 512, 512)
    assert np.isfinite(hallo.xy).all()
    clips = cut_at_seams([prepare_clip(fs.lookup(g, "gsg"), 25.0, 512, 512) for g in LETTERS])
    assert all(c.fps == 25.0 for c in clips)
    assert hallo.num_frames == sum(c.num_frames for c in clips) + 4 * 6
    assert [e - s for _, s, e in hallo.meta["clips"]] == [c.num_frames for c in clips]
    # every clip lost its raise/lower at the inner seams, but each letter still holds a while
    raw = [resample(fs.lookup(g, "gsg"), 25.0).num_frames for g in LETTERS]
    assert all(5 <= c.num_frames < r for c, r in zip(clips, raw))
    # the right wrist (the signing hand here) stays inside the frame
    w = hallo.xy[hallo.conf[:, 4] > 0, 4]
    assert (w >= 0).all() and (w[:, 0] <= 512).all() and (w[:, 1] <= 512).all()


def test_segments_tile_the_track_in_order(hallo: PoseTrack) -> None:
    segs = hallo.meta["segments"]
    assert [g for g, _, _ in segs] == LETTERS
    assert segs[0][1] == 0 and segs[-1][2] == hallo.num_frames
    assert all(a[2] == b[1] for a, b in zip(segs, segs[1:]))
    assert all(s < e for _, s, e in segs)
    # each segment contains its own clip; boundaries sit inside the transitions
    for (_, s, e), (_, cs, ce) in zip(segs, hallo.meta["clips"]):
        assert s <= cs < ce <= e


def _naive(fs: Lexicon, letters: list[str]) -> tuple[PoseTrack, list[int]]:
    clips = [resample(fs.lookup(g, "gsg").canonical(), 25.0).copy(meta={}) for g in letters]
    return PoseTrack.concatenate(clips), list(np.cumsum([c.num_frames for c in clips])[:-1])


def test_no_jump_at_seams(fs: Lexicon, hallo: PoseTrack) -> None:
    """Wrist speed across a seam (last clip frame -> transition -> first frame of the next
    clip), in shoulder widths per frame, must stay below the 95th percentile of the speeds
    inside the clips: a seam may be as fast as real signing, but no faster. A naive
    concatenation breaks this by far (the hand drops to rest and jumps up again)."""
    steps = wrist_steps(hallo)
    clips = hallo.meta["clips"]
    seam = np.concatenate([steps[a[2] - 1 : b[1] + 1] for a, b in zip(clips, clips[1:])])
    inside = np.concatenate([steps[s : e - 1] for _, s, e in clips])
    limit = np.nanpercentile(inside, 95)
    assert np.nanmax(seam) <= limit
    naive, cuts = _naive(fs, LETTERS)
    naive_seam = wrist_steps(naive)[np.asarray(cuts) - 1]
    assert np.nanmax(naive_seam) > 3 * np.nanmax(seam)


def test_single_string_and_list_give_the_same_track(fs: Lexicon) -> None:
    a = glosses_to_track("L O", fs, "gsg", transition_frames=4)
    b = glosses_to_track(["L", "O"], "fingerspelling", "gsg", transition_frames=4)
    np.testing.assert_array_equal(a.xy, b.xy)
    c = glosses_to_track(["L", "O"], fs, "gsg", transition_frames=10)
    assert c.num_frames == a.num_frames + 6


def test_clips_with_other_framing_line_up(fs: Lexicon) -> None:
    """A clip filmed smaller and off-centre, in a bigger frame, normalises to the same pose."""
    clip = fs.lookup("B", "gsg").canonical()
    moved = clip.copy(xy=np.where(clip.conf[..., None] > 0, clip.xy * 0.5 + [300.0, 40.0], 0.0), width=1000, height=700)
    a, b = prepare_clip(clip, 25.0, 256, 256), prepare_clip(moved, 25.0, 256, 256)
    np.testing.assert_allclose(a.xy, b.xy, atol=1e-2)
    sw = np.median(np.linalg.norm(a.xy[:, 2] - a.xy[:, 5], axis=-1))
    neck = np.median((a.xy[:, 2] + a.xy[:, 5]) / 2, axis=0)
    assert sw == pytest.approx(SHOULDER_WIDTH * 256, rel=0.01)  # median after resampling to 25 fps
    np.testing.assert_allclose(neck, [ANCHOR[0] * 256, ANCHOR[1] * 256], atol=1.0)


def _arm_track(wrist_up: np.ndarray) -> PoseTrack:
    T = len(wrist_up)
    xy = np.zeros((T, C.NUM_KEYPOINTS, 2), np.float32)
    conf = np.zeros((T, C.NUM_KEYPOINTS), np.float32)
    xy[:, 2], xy[:, 5] = (80, 100), (120, 100)  # shoulders
    xy[:, 3], xy[:, 6] = (75, 140), (125, 140)  # elbows
    xy[:, 4] = np.where(wrist_up[:, None], (90, 110), (75, 180))
    xy[:, 7] = (125, 180)  # left hand hangs the whole time
    conf[:, [2, 3, 4, 5, 6, 7]] = 1
    return PoseTrack(xy=xy, conf=conf, fps=25, width=200, height=200)


def test_trim_idle_keeps_the_active_span_plus_margin() -> None:
    up = np.zeros(40, bool)
    up[12:25] = True
    t = trim_idle(_arm_track(up), margin_s=0.2)  # 5 frames at 25 fps
    assert t.num_frames == (25 + 5) - (12 - 5)
    np.testing.assert_array_equal(t.xy, _arm_track(up).xy[7:30])
    # a missing wrist (at 0,0) does not count as raised; no active frame keeps the whole clip
    idle = _arm_track(np.zeros(10, bool))
    idle.conf[:, 4] = 0
    idle.xy[:, 4] = 0
    assert trim_idle(idle).num_frames == 10


def test_transition_joins_without_overshoot_and_handles_missing_points() -> None:
    a = _arm_track(np.zeros(3, bool))
    b = _arm_track(np.ones(3, bool))
    a.conf[:, 1] = 1  # the neck is only in a
    xy, conf = transition(a, b, 6)
    assert xy.shape == (6, C.NUM_KEYPOINTS, 2) and conf.shape == (6, C.NUM_KEYPOINTS)
    y = xy[:, 4, 1]  # right wrist rises from 180 to 110, monotonically, never beyond
    assert np.all(np.diff(y) < 0) and y.min() > 110 and y.max() < 180
    assert (conf[:, 4] == 1).all()
    np.testing.assert_array_equal(xy[:3, 1], np.repeat(a.xy[-1:, 1], 3, axis=0))
    assert (conf[:3, 1] > 0).all() and (conf[3:, 1] == 0).all()  # held, then gone
    assert (conf[:, 10] == 0).all()  # missing on both sides stays missing


def test_unknown_gloss_lists_close_matches(tmp_path: Path, real_pose_file: Path) -> None:
    shutil.copy(real_pose_file, tmp_path / "haus.pose")
    write_lexicon([LexiconEntry("haus.pose", "de", "gsg", glosses="HAUS"),
                   LexiconEntry("haus.pose", "de", "gsg", glosses="MAUS")], tmp_path)
    with pytest.raises(InputError, match="'HAUSE' is not in the gsg lexicon; close matches: HAUS, MAUS"):
        glosses_to_track("HAUS HAUSE", str(tmp_path), "gsg")
    with pytest.raises(InputError, match="no glosses"):
        glosses_to_track("   ", str(tmp_path), "gsg")


def test_fingerspell_fallback_spells_unknown_words(tmp_path: Path, real_pose_file: Path, fs: Lexicon) -> None:
    shutil.copy(real_pose_file, tmp_path / "haus.pose")
    write_lexicon([LexiconEntry("haus.pose", "de", "gsg", glosses="HAUS")], tmp_path)
    track = glosses_to_track(["HAUS", "Oma"], Lexicon.open(tmp_path), "gsg", fingerspell_unknown=True)
    assert [g for g, _, _ in track.meta["segments"]] == ["HAUS", "Oma"]
    assert [g for g, _, _ in track.meta["clips"]] == ["HAUS", "O", "M", "A"]
    clips = track.meta["clips"]
    gaps = [b[1] - a[2] for a, b in zip(clips, clips[1:])]
    assert gaps == [6, 3, 3]  # letters are joined with half the transition
    assert track.meta["segments"][1][2] == track.num_frames
    with pytest.raises(InputError, match="'Oma' is not in the gsg lexicon"):
        glosses_to_track(["HAUS", "Oma"], Lexicon.open(tmp_path), "gsg")


def test_spell_uses_the_alphabet_case_insensitively(fs: Lexicon) -> None:
    assert spell("Bär", "gsg", fs) == ["B", "ä", "R"]
    assert spell("STRAßE", "gsg", fs) == ["S", "T", "R", "A", "ß", "E"]
    # a real double s stays two letters (casefold turned "ß" into "ss", spelling WASSER with ß)
    assert spell("WASSER", "gsg", fs) == ["W", "A", "S", "S", "E", "R"]
    assert spell("GRU\u0308SSE", "gsg", fs) == ["G", "R", "ü", "S", "S", "E"]  # decomposed umlaut
    assert spell("STRAẞE", "gsg", fs) == ["S", "T", "R", "A", "ß", "E"]  # capital sharp s
    with pytest.raises(InputError, match="no sign for '2'"):
        spell("R2D2", "gsg", fs)
    with pytest.raises(InputError, match="no fingerspelling alphabet for 'xx'"):
        spell("A", "xx", fs)
