"""Synthetic signers: identities, body geometry and the renderer."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from signgen.errors import InputError
from signgen.pose.layouts import canonical as C
from signgen.synth import Identity, body_geometry, canonical_pose_for, compose_pose, paint_signer
from signgen.synth.body import ArmState
from signgen.synth.hands import HANDSHAPES, handshape

RIGHT_HAND = slice(C.RIGHT_HAND_START, C.RIGHT_HAND_START + 21)


def _plain(seed: int = 3, **changes) -> Identity:
    """An identity in plain clothes on a flat background, so colours can be checked exactly."""
    ident = Identity.sample(seed)
    bg = ident.background_top
    return replace(ident, pattern="plain", background_bottom=bg, **changes)


def test_identity_sample_is_deterministic_and_varied():
    assert Identity.sample(7) == Identity.sample(7)
    people = [Identity.sample(s) for s in range(12)]
    assert len({p.skin for p in people}) > 6
    assert len({p.hair_style for p in people}) > 2
    assert len({p.pattern for p in people}) > 2
    assert len({round(p.shoulder_width, 3) for p in people}) == 12


def test_identity_dict_round_trip_and_validation():
    ident = Identity.sample(5)
    assert Identity.from_dict(ident.to_dict()) == ident
    with pytest.raises(InputError, match="hair style"):
        replace(ident, hair_style="mohawk")
    with pytest.raises(InputError, match="sleeve"):
        replace(ident, sleeve=1.5)
    d = ident.to_dict()
    del d["skin"]
    with pytest.raises(InputError, match="skin"):
        Identity.from_dict(d)


@pytest.mark.parametrize("framing,size", [("upper", (210, 260)), ("full", (176, 256))])
def test_neutral_pose_has_the_identity_proportions(framing, size):
    ident = Identity.sample(11)
    xy, conf = canonical_pose_for(ident, framing, *size)
    assert xy.shape == (128, 2) and conf.shape == (128,)
    body = body_geometry(ident, framing, *size)
    shoulder = np.linalg.norm(xy[5] - xy[2])
    assert shoulder == pytest.approx(ident.shoulder_width * body.unit, rel=1e-4)
    # 3-D inverse kinematics: the drawn bones are never longer than the real ones
    assert np.linalg.norm(xy[3] - xy[2]) <= ident.upper_arm * body.unit + 1e-3
    assert np.linalg.norm(xy[4] - xy[3]) <= ident.forearm * body.unit + 1e-3
    present = conf > 0
    assert present[:8].all() and present[C.FACE_START:].all() and present[RIGHT_HAND].all()
    w, h = size
    assert (xy[present] > -0.25 * np.array([w, h])).all() and (xy[present] < 1.25 * np.array([w, h])).all()
    if framing == "full":  # legs in a full-body shot, not in the upper-body one
        assert present[[9, 10, 12, 13]].all() and (xy[[10, 13], 1] < h).all()
    else:
        assert not present[[10, 13]].any()


def test_unknown_framing_and_tiny_frame_are_refused():
    with pytest.raises(InputError, match="framing"):
        canonical_pose_for(Identity.sample(0), "sideways", 210, 260)
    with pytest.raises(InputError, match="too small"):
        canonical_pose_for(Identity.sample(0), "upper", 8, 8)


@pytest.mark.parametrize("size,framing", [((210, 260), "upper"), ((176, 256), "full")])
def test_render_shape_and_determinism(size, framing):
    ident = Identity.sample(2)
    xy, conf = canonical_pose_for(ident, framing, *size)
    a = paint_signer(ident, xy, conf, *size)
    b = paint_signer(ident, xy, conf, *size)
    assert a.shape == (size[1], size[0], 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert a.std() > 10  # a picture, not a flat fill


def test_different_identities_look_different():
    a, b = Identity.sample(0), Identity.sample(1)
    xy, conf = canonical_pose_for(a, "upper", 210, 260)
    img_a = paint_signer(a, xy, conf).astype(np.float32)
    img_b = paint_signer(b, xy, conf).astype(np.float32)  # same pose, other person
    assert np.abs(img_a - img_b).mean() > 20


def test_render_rejects_bad_pose_shapes():
    with pytest.raises(InputError, match=r"\[128, 2\]"):
        paint_signer(Identity.sample(0), np.zeros((18, 2)), np.ones(18))


def _raised_right_hand(ident: Identity, wrist_offset=(0.0, 0.0), shape="open"):
    body = body_geometry(ident, "upper", 210, 260)
    right = ArmState(wrist=body.at(0, 0.2, 0.3) + np.asarray(wrist_offset, np.float32), hand_angle=0.0,
                     shape=handshape(shape), palm=1.0, depth=0.8 * body.unit)
    return compose_pose(body, right, body.rest_arm(1))


def test_hand_is_drawn_where_its_keypoints_are():
    ident = _plain(sleeve=1.0)
    for offset in ((0.0, 0.0), (18.0, -12.0)):
        xy, conf = _raised_right_hand(ident, offset)
        with_hand = paint_signer(ident, xy, conf).astype(np.int16)
        no_hand_conf = conf.copy()
        no_hand_conf[RIGHT_HAND] = 0
        without = paint_signer(ident, xy, no_hand_conf).astype(np.int16)
        changed = np.abs(with_hand - without).sum(axis=-1) > 30
        ys, xs = np.nonzero(changed)
        assert len(xs) > 100
        centroid = np.array([xs.mean(), ys.mean()])
        hand = xy[RIGHT_HAND]
        hand_len = np.linalg.norm(hand[12] - hand[0])
        assert np.linalg.norm(centroid - hand.mean(axis=0)) < 0.25 * hand_len
        # the hand is skin coloured
        median = np.median(with_hand[changed], axis=0)
        assert np.abs(median - np.asarray(ident.skin)).max() < 25


def test_sleeve_length_decides_what_covers_the_forearm():
    for sleeve, expect_skin in ((0.3, True), (1.0, False)):
        ident = _plain(sleeve=sleeve)
        xy, conf = _raised_right_hand(ident)
        img = paint_signer(ident, xy, conf).astype(np.int16)
        mid = np.round((xy[3] + xy[4]) / 2).astype(int)  # middle of the forearm
        pixel = img[mid[1], mid[0]]
        skin_dist = np.abs(pixel - np.asarray(ident.skin)).max()
        cloth_dist = np.abs(pixel - np.asarray(ident.clothing_colour) * 0.85).max()
        if expect_skin:
            assert skin_dist < 15, (pixel, ident.skin)
        else:
            assert cloth_dist < 25 and skin_dist > cloth_dist, (pixel, ident.clothing_colour)


def test_handshapes_change_the_hand_picture():
    ident = _plain()
    pictures = {}
    for name in ("open", "fist", "V"):
        xy, conf = _raised_right_hand(ident, shape=name)
        pictures[name] = paint_signer(ident, xy, conf).astype(np.int16)
    assert np.abs(pictures["open"] - pictures["fist"]).sum(axis=-1).astype(bool).sum() > 80
    assert np.abs(pictures["V"] - pictures["fist"]).sum(axis=-1).astype(bool).sum() > 40
    assert len(HANDSHAPES) >= 7


def test_open_mouth_moves_the_lips():
    ident = Identity.sample(4)
    body = body_geometry(ident, "upper", 210, 260)
    closed, _ = compose_pose(body, body.rest_arm(0), body.rest_arm(1), mouth=0.0)
    opened, _ = compose_pose(body, body.rest_arm(0), body.rest_arm(1), mouth=1.0)
    inner_lower = C.FACE_START + 66
    assert opened[inner_lower, 1] > closed[inner_lower, 1] + 0.5
    np.testing.assert_array_equal(opened[:18], closed[:18])


@pytest.mark.parametrize("framing,size", [("upper", (210, 260)), ("full", (176, 256))])
def test_neutral_pose_is_mirror_symmetric_in_the_canonical_layout(framing, size):
    """Left/right naming and the iBUG-68 face order agree with the canonical FLIP table."""
    from signgen.pose.track import PoseTrack

    xy, conf = canonical_pose_for(Identity.sample(3), framing, *size)
    track = PoseTrack(xy=xy[None], conf=conf[None], fps=25, width=size[0], height=size[1])
    np.testing.assert_allclose(track.flipped().xy[0], xy, atol=1e-3)
    assert xy[2, 0] < xy[5, 0]  # the signer's right shoulder is on the image's left
