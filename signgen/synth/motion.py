"""Motion for synthetic signers: body-relative arm controls -> canonical keypoint tracks,
and real recorded tracks (the fingerspelling lexicon) fitted onto a synthetic signer.

A control vector describes one arm in body-relative terms (where the wrist is in shoulder
widths and head units from the neck, how the wrist bends, which way the palm faces, the
handshape angles), so one gloss definition plays on every identity with that identity's
own proportions, and controls interpolate linearly for co-articulation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from ..pose.layouts import canonical as C
from ..pose.track import PoseTrack
from . import hands
from .body import (REST_BEND, REST_DEPTH, REST_LATERAL, REST_REACH, ArmState, Body, body_geometry,
                   canonical_pose_for, compose_pose, in_view, solve_elbow)
from .identity import Identity

# Per arm: lateral, vertical, depth (head units toward the camera), wrist bend (degrees,
# mirrored between the arms), palm (+1 camera, -1 away), then the handshape parameters.
LATERAL, VERTICAL, DEPTH, BEND, PALM, SHAPE = 0, 1, 2, 3, 4, 5
ARM_DIM = SHAPE + hands.NUM_PARAMS
# Face: mouth opening in [0, 1], head shift (x, y) in face half-widths.
MOUTH, HEAD_X, HEAD_Y = 0, 1, 2
FACE_DIM = 3
FPS = 25.0


def arm_control(lateral: float, vertical: float, depth: float = 0.8, bend: float = 0.0,
                palm: float = 1.0, shape: str | np.ndarray = "flat") -> np.ndarray:
    """One arm's control vector."""
    s = hands.handshape(shape) if isinstance(shape, str) else np.asarray(shape, np.float32)
    return np.concatenate([np.asarray((lateral, vertical, depth, bend, palm), np.float32), s])


def rest_control(identity: Identity) -> np.ndarray:
    """Controls [2, ARM_DIM] of the rest pose (arms relaxed; same as `canonical_pose_for`)."""
    reach = 0.2 + REST_REACH * (identity.upper_arm + identity.forearm)
    arm = arm_control(REST_LATERAL, reach, depth=REST_DEPTH, bend=REST_BEND, palm=-1.0, shape="flat")
    return np.stack([arm, arm])


def arm_state(body: Body, side: int, control: np.ndarray) -> ArmState:
    """Turn one arm's control vector into an `ArmState` for `body` (wrist bend made absolute
    from the forearm direction after inverse kinematics)."""
    wrist = body.at(side, float(control[LATERAL]), float(control[VERTICAL]))
    return ArmState(wrist=wrist, hand_angle=None, shape=control[SHAPE:], palm=float(control[PALM]),
                    bend=float(control[BEND]) * body.side_sign(side),
                    depth=float(control[DEPTH]) * body.unit)


def controls_to_track(body: Body, controls: np.ndarray, face: np.ndarray | None = None,
                      fps: float = FPS) -> PoseTrack:
    """Canonical track (one frame per control row) of `body` driven by arm controls
    [T, 2, ARM_DIM] and face controls [T, FACE_DIM] (default: mouth closed, head still)."""
    controls = np.asarray(controls, np.float32)
    if controls.ndim != 3 or controls.shape[1:] != (2, ARM_DIM):
        raise InputError(f"controls must be [T, 2, {ARM_DIM}], got {controls.shape}")
    T = controls.shape[0]
    face = np.zeros((T, FACE_DIM), np.float32) if face is None else np.asarray(face, np.float32)
    if face.shape != (T, FACE_DIM):
        raise InputError(f"face controls must be [{T}, {FACE_DIM}], got {face.shape}")
    xy = np.zeros((T, C.NUM_KEYPOINTS, 2), np.float32)
    conf = np.zeros((T, C.NUM_KEYPOINTS), np.float32)
    for t in range(T):
        xy[t], conf[t] = compose_pose(body, arm_state(body, 0, controls[t, 0]),
                                      arm_state(body, 1, controls[t, 1]), mouth=float(face[t, MOUTH]),
                                      head_offset=face[t, HEAD_X:HEAD_Y + 1] * body.face_half_width)
    return PoseTrack(xy=xy, conf=conf, fps=fps, width=body.width, height=body.height,
                     meta={"identity_seed": body.identity.seed, "framing": body.framing})


def ease(w: np.ndarray) -> np.ndarray:
    """Smoothstep: zero velocity at both ends, so keyframes and transitions join smoothly."""
    w = np.clip(w, 0.0, 1.0)
    return w * w * (3 - 2 * w)


def interpolate(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """n frames strictly between a and b (eased); both ends excluded."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    w = ease(np.arange(1, n + 1, dtype=np.float32) / (n + 1)).reshape((n,) + (1,) * a.ndim)
    return ((1 - w) * a[None] + w * b[None]).astype(np.float32)


def neutral_track(identity: Identity, framing: str, width: int, height: int, fps: float = FPS) -> PoseTrack:
    """The identity's neutral pose as a one-frame track (the reference for retargeting)."""
    xy, conf = canonical_pose_for(identity, framing, width, height)
    return PoseTrack(xy=xy[None], conf=conf[None], fps=fps, width=width, height=height)


def _fill_from_neutral(track: PoseTrack, neutral_xy: np.ndarray, body: Body) -> PoseTrack:
    """Give every missing point a value, keeping every recorded one. Per arm and frame: a
    missing body wrist is taken from the hand's wrist; with no wrist at all the arm and hand
    rest; a missing elbow is solved by inverse kinematics with the identity's arm lengths; a
    missing hand is the rest hand moved to the wrist. Face, legs, shoulders: the neutral pose."""
    xy, conf = track.xy.copy(), track.conf.copy()
    for i in (1, 2, 5):  # neck and shoulders anchor the arms
        gone = conf[:, i] <= 0
        xy[gone, i], conf[gone, i] = neutral_xy[i], 1.0
    for side, ((s, e, w), h0) in enumerate((((2, 3, 4), C.RIGHT_HAND_START), ((5, 6, 7), C.LEFT_HAND_START))):
        hand = slice(h0, h0 + 21)
        take = (conf[:, w] <= 0) & (conf[:, h0] > 0)
        xy[take, w], conf[take, w] = xy[take, h0], conf[take, h0]
        rest = conf[:, w] <= 0
        xy[rest, e], xy[rest, w], xy[rest, hand] = neutral_xy[e], neutral_xy[w], neutral_xy[hand]
        conf[rest, e] = conf[rest, w] = 1.0
        conf[rest, hand] = 1.0
        for t in np.flatnonzero(conf[:, e] <= 0):
            xy[t, e] = solve_elbow(xy[t, s], xy[t, w], body.upper_arm, body.forearm, body.side_sign(side))[0]
            conf[t, e] = 1.0
        moved = (conf[:, hand] <= 0).any(axis=1)
        xy[moved, hand] = neutral_xy[hand][None] + (xy[moved, w] - neutral_xy[w])[:, None]
        conf[moved, hand] = 1.0
    missing = conf <= 0
    xy = np.where(missing[..., None], neutral_xy[None], xy)
    conf = np.where(missing, 1.0, conf)
    return track.copy(xy=xy.astype(np.float32), conf=conf.astype(np.float32))


def retarget_onto(track: PoseTrack, identity: Identity, framing: str = "upper", width: int = 210,
                  height: int = 260) -> PoseTrack:
    """A recorded track (any layout) fitted onto `identity`'s neutral pose, with everything the
    recording lacks (face, legs, the idle hand) filled from that neutral pose, so the whole
    body can be rendered. Output: canonical, width x height, the track's fps."""
    from ..pose import filters
    from ..pose.retarget import retarget

    neutral = neutral_track(identity, framing, width, height, fps=track.fps)
    moved = retarget(filters.fill_gaps(track.canonical(), max_gap=5), neutral)
    full = _fill_from_neutral(moved, neutral.xy[0], body_geometry(identity, framing, width, height))
    return full.copy(conf=(full.conf * in_view(full.xy, width, height)).astype(np.float32))


def fingerspelling_track(identity: Identity, pose_file: str | Path, framing: str = "upper",
                         width: int = 210, height: int = 260) -> PoseTrack:
    """A real fingerspelling clip (a MediaPipe `.pose` file) performed by `identity`."""
    from ..pose.io import read_pose

    return retarget_onto(read_pose(pose_file), identity, framing, width, height)


def body_for(identity: Identity, framing: str = "upper", width: int = 210, height: int = 260) -> Body:
    """Shorthand for `body_geometry` with the PHOENIX defaults."""
    return body_geometry(identity, framing, width, height)
