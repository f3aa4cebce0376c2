"""Fit a motion track to the signer in the source image: same place, same size.

A lexicon clip or a driving video was recorded with another person at another distance
from the camera. Drawn as it is, its skeleton would float beside the source signer's
body, and the model would have to move the person, not just the arms. `retarget` scales
the motion to the source signer's proportions and puts its shoulders on theirs.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .layouts import canonical as C
from .track import PoseTrack

NECK, R_SHOULDER, L_SHOULDER, R_HIP, L_HIP = 1, 2, 5, 8, 11

# Neck-to-hip-midpoint length per shoulder width, used when the hips are not visible
# (upper-body PHOENIX frames). Measured on 120 of the 600 real fingerspelling tracks shipped
# by spoken-to-signed (MediaPipe Holistic, every 5th file): median 1.43, 5-95 % range 1.30-1.51.
TORSO_PER_SHOULDER = 1.4
# A measured torso outside this many shoulder widths is a hallucinated hip: fall back.
_TORSO_RANGE = (0.8, 2.5)
# Fraction of min(width, height) within which hands are eased towards the border.
EDGE_MARGIN = 0.04


def _canonical_frame(track_frame) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(track_frame, PoseTrack):
        t = track_frame.canonical()
        if t.num_frames < 1:
            raise InputError("the reference track has no frames", t.meta.get("source"))
        return t.xy[0].astype(np.float64), t.conf[0]
    xy, conf = track_frame
    xy, conf = np.asarray(xy, dtype=np.float64), np.asarray(conf, dtype=np.float32)
    if xy.shape != (C.NUM_KEYPOINTS, 2) or conf.shape != (C.NUM_KEYPOINTS,):
        raise InputError(f"expected canonical [128, 2] and [128] arrays, got {xy.shape}, {conf.shape}")
    return xy, conf


def _measure(xy: np.ndarray, conf: np.ndarray) -> tuple[np.ndarray, float, float, bool] | None:
    """Shoulder midpoint, shoulder width, torso length, whether the torso was measured."""
    if conf[R_SHOULDER] <= 0 or conf[L_SHOULDER] <= 0:
        return None
    anchor = (xy[R_SHOULDER] + xy[L_SHOULDER]) / 2
    width = float(np.linalg.norm(xy[R_SHOULDER] - xy[L_SHOULDER]))
    if width <= 1e-6:
        return None
    if conf[R_HIP] > 0 and conf[L_HIP] > 0:
        top = xy[NECK] if conf[NECK] > 0 else anchor
        torso = float(np.linalg.norm(top - (xy[R_HIP] + xy[L_HIP]) / 2))
        if _TORSO_RANGE[0] <= torso / width <= _TORSO_RANGE[1]:
            return anchor, width, torso, True
    return anchor, width, TORSO_PER_SHOULDER * width, False


def body_frame(track_frame: PoseTrack | tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, float, float]:
    """The signer's body frame in one pose: (shoulder midpoint xy, shoulder width, torso length).

    `track_frame` is a track (its first frame is used, any layout) or canonical
    `(xy [128, 2], conf [128])` arrays. Torso length runs from the neck (or the shoulder
    midpoint) to the hip midpoint; without both hips, or with an implausible torso, it is
    `TORSO_PER_SHOULDER` shoulder widths. Raises `InputError` when a shoulder is missing.
    """
    xy, conf = _canonical_frame(track_frame)
    m = _measure(xy, conf)
    if m is None:
        source = track_frame.meta.get("source") if isinstance(track_frame, PoseTrack) else None
        raise InputError("no shoulders in the pose: cannot measure the body", source)
    anchor, width, torso, _ = m
    return anchor.astype(np.float32), width, torso


def _soft_limit(v: np.ndarray, lo: float, hi: float, margin: float) -> np.ndarray:
    """Identity inside [lo + margin, hi - margin]; beyond, eased with tanh so it never leaves [lo, hi]."""
    out = v.copy()
    up, down = hi - margin, lo + margin
    over = v > up
    out[over] = up + margin * np.tanh((v[over] - up) / margin)
    under = v < down
    out[under] = down - margin * np.tanh((down - v[under]) / margin)
    return out


def _keep_hands_inside(xy: np.ndarray, conf: np.ndarray, width: int, height: int) -> np.ndarray:
    """Shift each hand rigidly, per frame, so its bounding box stays inside the frame.

    The shift is the soft limit of the box's extremes, so it is 0 well inside the frame
    and grows smoothly near the border: the hand shape is kept and motion stays continuous.
    """
    margin = EDGE_MARGIN * min(width, height)
    hands = (
        [4] + list(range(C.RIGHT_HAND_START, C.FACE_START)),
        [7] + list(range(C.LEFT_HAND_START, C.RIGHT_HAND_START)),
    )
    out = xy.copy()
    for idx in hands:
        pts, present = xy[:, idx], conf[:, idx] > 0  # [T, n, 2], [T, n]
        has = present.any(axis=1)
        if not has.any():
            continue
        big = np.where(present[..., None], pts, -np.inf).max(axis=1)[has]  # [t, 2]
        small = np.where(present[..., None], pts, np.inf).min(axis=1)[has]
        shift = np.zeros_like(big)
        for d, size in enumerate((width, height)):  # pixel centres run from 0 to size - 1
            hi_fix = _soft_limit(big[:, d], 0.0, size - 1.0, margin) - big[:, d]
            lo_fix = _soft_limit(small[:, d], 0.0, size - 1.0, margin) - small[:, d]
            # a box wider than the frame gets both pulls, which partly cancel
            shift[:, d] = np.where(hi_fix < 0, hi_fix, 0.0) + np.where(lo_fix > 0, lo_fix, 0.0)
        frames = np.flatnonzero(has)
        sel = np.ix_(frames, idx)
        out[sel] = pts[has] + shift[:, None, :]
    return out


def retarget(
    track: PoseTrack, reference: PoseTrack, width: int | None = None, height: int | None = None
) -> PoseTrack:
    """The motion of `track`, fitted to the signer of the one-frame `reference` track.

    Scale: s = sqrt(s_shoulder * s_torso), the geometric mean of the reference-to-motion
    ratios of shoulder width and of torso length (each the median over the motion's frames
    with both shoulders), so neither a hunched pose nor an unusual build dominates. Position:
    the motion's median shoulder midpoint goes onto the reference's, and each frame keeps
    its own offset from that median, so the body still moves as recorded. Hands are then
    eased inside the frame. The result is canonical, in pixels of the reference image,
    `width` x `height` (default: the reference's size; other sizes rescale the reference's
    coordinates per axis). fps, confidences and missing points are the motion's.
    """
    ref = reference.canonical()
    ref_xy, ref_conf = _canonical_frame(ref)
    out_w = int(width) if width is not None else ref.width
    out_h = int(height) if height is not None else ref.height
    if out_w <= 0 or out_h <= 0:
        raise InputError(f"output size must be positive, got {out_w}x{out_h}")
    ref_m = _measure(ref_xy * np.array([out_w / ref.width, out_h / ref.height]), ref_conf)
    if ref_m is None:
        raise InputError(
            "no person found in the source image (no shoulders detected); "
            "pass --no-retarget to use the motion's own coordinates",
            ref.meta.get("source"),
        )
    ref_anchor, ref_sw, ref_torso, _ = ref_m

    motion = track.canonical()
    measured = [_measure(motion.xy[t].astype(np.float64), motion.conf[t]) for t in range(motion.num_frames)]
    measured = [m for m in measured if m is not None]
    if not measured:
        raise InputError(
            "the motion has no frame with both shoulders; cannot fit it to the source signer",
            motion.meta.get("source"),
        )
    anchor = np.median(np.stack([m[0] for m in measured]), axis=0)
    sw = float(np.median([m[1] for m in measured]))
    torso = float(np.median([m[2] for m in measured]))
    scale = float(np.sqrt((ref_sw / sw) * (ref_torso / torso)))

    present = motion.conf > 0
    xy = ref_anchor + scale * (motion.xy.astype(np.float64) - anchor)
    xy = _keep_hands_inside(xy, motion.conf, out_w, out_h)
    xy = np.where(present[..., None], xy, 0.0).astype(np.float32)
    meta = dict(motion.meta)
    if meta.get("z") is not None:
        meta["z"] = (np.asarray(meta["z"], dtype=np.float32) * scale).astype(np.float32)
    meta["retarget"] = {
        "scale": scale,
        "anchor": [float(v) for v in ref_anchor],
        "motion_anchor": [float(v) for v in anchor],
    }
    return motion.copy(xy=xy, width=out_w, height=out_h, meta=meta)
