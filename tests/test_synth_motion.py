"""Synthetic motion: the gloss vocabulary, sentences with exact boundaries, real tracks retargeted."""

from __future__ import annotations

import numpy as np
import pytest

from signgen.errors import InputError
from signgen.pose.layouts import canonical as C
from signgen.pose.track import PoseTrack
from signgen.synth import Identity, Vocabulary, canonical_pose_for, fingerspelling_track, paint_signer
from signgen.synth.motion import body_for, controls_to_track, rest_control
from signgen.synth.vocabulary import GLOSS_NAMES, SILENCE, TRANSITION


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return Vocabulary.sample(0, size=40)


def test_vocabulary_is_deterministic_and_phoenix_like(vocab):
    again = Vocabulary.sample(0, size=40)
    assert vocab.names == again.names
    for name in vocab.names:
        np.testing.assert_array_equal(vocab[name].controls, again[name].controls)
        assert vocab[name].frames == again[name].frames
    assert len(vocab) == 40 and len(set(vocab.names)) == 40
    assert all(n.isupper() and n in GLOSS_NAMES for n in vocab.names)
    other = Vocabulary.sample(1, size=40)
    assert other.names != vocab.names
    for g in vocab.glosses.values():
        assert 2 <= len(g.times) <= 4 and g.times[0] == 0.0 and g.times[-1] == 1.0
        assert g.controls.shape[0] == len(g.times)


def test_vocabulary_size_is_checked(vocab):
    with pytest.raises(InputError, match="vocabulary size"):
        Vocabulary.sample(0, size=0)
    with pytest.raises(InputError, match="not in the vocabulary"):
        vocab["NOTAGLOSS"]


def test_sentence_boundaries_are_exact(vocab):
    ident = Identity.sample(9)
    body = body_for(ident)
    glosses = vocab.names[:3]
    s = vocab.sentence(glosses, body, rest=6, transition=4, lead=5)
    # segments tile [0, T) with no gap and no overlap
    starts = [a for _, a, _ in s.segments]
    ends = [b for _, _, b in s.segments]
    assert starts[0] == 0 and ends[-1] == s.num_frames
    assert starts[1:] == ends[:-1]
    spans = s.gloss_spans()
    assert [sp["gloss"] for sp in spans] == list(glosses)
    labels = [lab for lab, _, _ in s.segments]
    assert labels[0] == labels[-1] == SILENCE and labels.count(TRANSITION) == len(glosses) + 1
    for sp in spans:
        gloss = vocab[sp["gloss"]]
        assert sp["end"] - sp["start"] == gloss.frames
        own, _ = gloss.sample_controls()
        # the dominant hand inside the span is exactly the isolated gloss
        np.testing.assert_allclose(s.controls[sp["start"]:sp["end"], 0], own[:, 0], atol=1e-6)
    rest = rest_control(ident)
    np.testing.assert_allclose(s.controls[0], rest, atol=1e-6)
    np.testing.assert_allclose(s.controls[-1], rest, atol=1e-6)
    # co-articulation: no jumps between consecutive frames of the wrist controls
    step = np.abs(np.diff(s.controls[:, :, :2], axis=0)).max()
    assert step <= 0.4 + 1e-4


def test_sentence_track_is_canonical_and_rest_framed(vocab):
    ident = Identity.sample(12)
    body = body_for(ident)
    s = vocab.sentence(vocab.names[3:5], body)
    track = s.track(body)
    assert isinstance(track, PoseTrack)
    assert track.xy.shape == (s.num_frames, 128, 2) and track.fps == 25.0
    neutral, _ = canonical_pose_for(ident, "upper", 210, 260)
    np.testing.assert_allclose(track.xy[0], neutral, atol=1e-3)
    np.testing.assert_allclose(track.xy[-1], neutral, atol=1e-3)
    # hands move during the sentence
    wrist_path = track.xy[:, [4, 7]]
    assert np.ptp(wrist_path, axis=0).max() > 20
    with pytest.raises(InputError, match="at least one gloss"):
        vocab.sentence([], body)


def test_controls_shape_is_checked():
    body = body_for(Identity.sample(0))
    with pytest.raises(InputError, match="controls must be"):
        controls_to_track(body, np.zeros((3, 2, 5)))


def test_same_gloss_differs_between_signers_by_their_proportions(vocab):
    a, b = Identity.sample(1), Identity.sample(2)
    name = vocab.names[0]
    sa, sb = vocab.sentence([name], body_for(a)), vocab.sentence([name], body_for(b))
    (span_a,), (span_b,) = sa.gloss_spans(), sb.gloss_spans()
    assert span_a["end"] - span_a["start"] == span_b["end"] - span_b["start"] == vocab[name].frames
    xa = sa.track(body_for(a)).xy[span_a["start"]:span_a["end"], 2:8]
    xb = sb.track(body_for(b)).xy[span_b["start"]:span_b["end"], 2:8]
    assert np.abs(xa - xb).max() > 3


def test_fingerspelling_retargeted_onto_an_identity_stays_in_frame(real_pose_file):
    ident = Identity.sample(21)
    track = fingerspelling_track(ident, real_pose_file)
    assert track.layout == "canonical" and (track.width, track.height) == (210, 260)
    assert track.num_frames > 5
    # everything the recording lacks is filled: the whole body can be drawn
    assert (track.conf[:, C.FACE_START:] > 0).all()
    assert (track.conf[:, :8] > 0).all()
    hands = np.r_[C.LEFT_HAND_START:C.LEFT_HAND_START + 21, C.RIGHT_HAND_START:C.RIGHT_HAND_START + 21]
    pts = track.xy[:, hands][track.conf[:, hands] > 0]
    assert len(pts) > 0
    assert (pts[:, 0] >= 0).all() and (pts[:, 0] <= 210).all()
    assert (pts[:, 1] >= 0).all() and (pts[:, 1] <= 260).all()
    # the signer's shoulders are where this identity's shoulders are
    neutral, _ = canonical_pose_for(ident, "upper", 210, 260)
    mid = np.median((track.xy[:, 2] + track.xy[:, 5]) / 2, axis=0)
    assert np.linalg.norm(mid - (neutral[2] + neutral[5]) / 2) < 3
    frame = paint_signer(ident, track.xy[track.num_frames // 2], track.conf[track.num_frames // 2])
    assert frame.shape == (260, 210, 3)


def test_fingerspelling_bad_file_names_the_file(tmp_path):
    bad = tmp_path / "broken.pose"
    bad.write_bytes(b"not a pose file")
    with pytest.raises(InputError, match="broken.pose"):
        fingerspelling_track(Identity.sample(0), bad)


def test_head_moves_rigidly_with_the_face_controls(vocab):
    name = next(g.name for g in vocab.glosses.values() if np.abs(g.face[:, 1:]).max() > 0.05)
    body = body_for(Identity.sample(4))
    track = vocab.sentence([name], body).track(body)
    face = track.xy[:, C.FACE_START:]
    assert np.ptp(face[:, 30], axis=0).max() > 0.3  # the nose tip moves
    spacing = face[:, 36] - face[:, 45]
    assert np.abs(spacing - spacing[0]).max() < 1e-3  # the eyes keep their spacing: a rigid shift
    assert np.abs(track.xy[:, 1] - track.xy[0, 1]).max() < 1e-4  # the neck stays put
    with pytest.raises(InputError, match="face controls"):
        controls_to_track(body, np.zeros((2, 2, 23)), face=np.zeros((3, 3)))


def test_retarget_fills_what_a_recording_lacks_and_keeps_the_rest():
    from signgen.synth import retarget_onto

    ident = Identity.sample(8)
    neutral, _ = canonical_pose_for(ident, "upper", 210, 260)
    T = 4
    xy = np.repeat(neutral[None], T, 0) * 2.0 + 10.0  # a recording twice as big, shifted
    conf = np.zeros((T, 128), np.float32)
    conf[:, :6] = 1.0                   # body up to the left shoulder: the left arm is not recorded
    right = np.r_[C.RIGHT_HAND_START:C.RIGHT_HAND_START + 21]
    conf[:, right] = 1.0
    # losses at the ends of the clip, where gap filling cannot bridge them
    conf[0, 3] = 0.0                    # frame 0: right elbow lost
    conf[0, right] = 0.0                # frame 0: right hand lost
    conf[T - 1, 4] = 0.0                # last frame: body wrist lost, the hand's wrist is there
    track = PoseTrack(xy=xy, conf=conf, fps=25, width=420, height=520)
    out = retarget_onto(track, ident)
    assert (out.conf[:, :8] > 0).all()  # every arm point is there now
    assert (out.conf[:, C.FACE_START:] > 0).all() and (out.conf[:, right] > 0).all()
    body = body_for(ident)
    # elbow by IK with the identity's arm lengths (seen in projection: never longer), hanging down
    upper = np.linalg.norm(out.xy[0, 3] - out.xy[0, 2])
    assert 0.5 * body.upper_arm < upper <= body.upper_arm + 1e-3
    assert out.xy[0, 3, 1] > out.xy[0, 2, 1]
    # a lost hand comes back attached to the wrist
    np.testing.assert_allclose(out.xy[0, C.RIGHT_HAND_START], out.xy[0, 4], atol=1e-3)
    np.testing.assert_allclose(out.xy[T - 1, 4], out.xy[T - 1, C.RIGHT_HAND_START], atol=1e-4)
    # recorded points are kept (moved and scaled by the retarget only)
    assert np.linalg.norm(out.xy[1, 3] - out.xy[1, 2]) == pytest.approx(
        np.linalg.norm(out.xy[2, 3] - out.xy[2, 2]), rel=1e-4)
    # the idle left arm rests where the identity's neutral pose has it
    np.testing.assert_allclose(out.xy[:, 7], np.repeat(neutral[None, 7], T, 0), atol=1e-3)
