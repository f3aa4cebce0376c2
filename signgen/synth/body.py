"""Body geometry of an identity in a frame, and the canonical keypoints of a pose.

An arm is described by where its wrist is, how the hand is turned and its handshape
(`ArmState`); the elbow follows by two-bone inverse kinematics with the identity's own arm
lengths, so every generated pose respects that person's proportions exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..pose.layouts import canonical as C
from . import hands
from .identity import Identity

FRAMINGS = ("upper", "full")  # upper: PHOENIX-like (waist up); full: DeepFashion-like (head to feet)
FRAMING_ALIASES = {"phoenix": "upper", "fashion": "full", "deepfashion": "full"}
VIEW_MARGIN = 0.25  # points this far (fraction of the frame size) outside the frame are still "present"
REST_LATERAL, REST_REACH, REST_BEND, REST_DEPTH = 0.34, 0.72, -12.0, 0.5  # the relaxed arm, see `Body.rest_arm`

# iBUG-68 face template, in units of the face half-width, origin at the face centre, y down.
def _face_template() -> np.ndarray:
    pts = []
    t = np.linspace(0, np.pi, 17)
    pts += list(zip(-np.cos(t) * 1.0, -0.25 + np.sin(t) * 1.2))                  # jaw, right ear -> chin -> left ear
    pts += [(-0.78 + 0.14 * i, -0.58 - 0.05 * np.sin(np.pi * i / 4)) for i in range(5)]  # right brow
    pts += [(0.22 + 0.14 * i, -0.58 - 0.05 * np.sin(np.pi * i / 4)) for i in range(5)]   # left brow
    pts += [(0.0, -0.4 + 0.15 * i) for i in range(4)]                              # nose bridge
    pts += [(-0.2 + 0.1 * i, 0.27 - 0.03 * np.sin(np.pi * i / 4)) for i in range(5)]    # nostrils
    for cx in (-0.4, 0.4):                                                         # eyes: corner, lid, lid, corner, lid, lid
        pts += [(cx - 0.2, -0.3), (cx - 0.07, -0.37), (cx + 0.07, -0.37),
                (cx + 0.2, -0.3), (cx + 0.07, -0.24), (cx - 0.07, -0.24)]
    for i in range(12):                                                            # outer lips, from the right corner over the top
        a = np.pi - i * 2 * np.pi / 12
        pts.append((0.36 * np.cos(a), 0.58 - 0.12 * np.sin(a)))
    for i in range(8):                                                             # inner lips (closed mouth)
        a = np.pi - i * 2 * np.pi / 8
        pts.append((0.26 * np.cos(a), 0.58 - 0.02 * np.sin(a)))
    return np.asarray(pts, dtype=np.float32)


FACE_TEMPLATE = _face_template()


@dataclass
class ArmState:
    """What one arm does in a frame: wrist position (pixels) and depth, hand direction (degrees in the
    image, 0 = fingers up, 90 = image right; None = continue the forearm, turned by `bend`),
    handshape parameters, and palm (+1 facing the camera, -1 away, in between: edge-on)."""

    wrist: np.ndarray
    hand_angle: float | None = None
    shape: np.ndarray = field(default_factory=lambda: hands.handshape("flat"))
    palm: float = 1.0
    bend: float = 0.0
    depth: float = 0.0  # pixels in front of the shoulder plane


@dataclass(frozen=True)
class Body:
    """An identity placed in a width x height frame: joint anchors and lengths in pixels."""

    identity: Identity
    framing: str
    width: int
    height: int
    unit: float              # pixels per head unit
    neck: np.ndarray
    shoulders: np.ndarray    # [2 (right, left), 2]
    hips: np.ndarray         # [2, 2]
    knees: np.ndarray
    ankles: np.ndarray
    upper_arm: float
    forearm: float
    hand_length: float
    face_center: np.ndarray
    face_half_width: float

    def side_sign(self, side: int) -> float:
        """Image-x direction pointing away from the body for arm `side` (0 right, 1 left)."""
        return -1.0 if side == 0 else 1.0

    def at(self, side: int, lateral: float, vertical: float) -> np.ndarray:
        """A point relative to the body: `lateral` shoulder-widths toward arm `side` from the
        neck, `vertical` head units below the neck (negative: above)."""
        sw = self.identity.shoulder_width * self.unit
        return self.neck + np.asarray((self.side_sign(side) * lateral * sw, vertical * self.unit), np.float32)

    def rest_arm(self, side: int) -> ArmState:
        """Arm hanging relaxed, hand in front of the hip (the rest pose between sentences)."""
        wrist = self.at(side, REST_LATERAL, 0.2 + REST_REACH * (self.identity.upper_arm + self.identity.forearm))
        return ArmState(wrist=wrist, shape=hands.handshape("flat"), palm=-1.0,
                        bend=REST_BEND * self.side_sign(side), depth=REST_DEPTH * self.unit)


def body_geometry(identity: Identity, framing: str, width: int, height: int, *,
                  stance: float = 0.0) -> Body:
    """Place `identity` in the frame. `stance` (head units) spreads the feet (full framing)."""
    framing = FRAMING_ALIASES.get(str(framing).lower(), str(framing).lower())
    if framing not in FRAMINGS:
        raise InputError(f"unknown framing {framing!r}; known: {', '.join(FRAMINGS)} "
                         f"(or {', '.join(FRAMING_ALIASES)})")
    if width < 16 or height < 16:
        raise InputError(f"frame too small: {width}x{height} (need at least 16x16)")
    ident = identity
    head_above_neck = 0.45 + 2.25 * 0.37 * ident.head_size
    if framing == "upper":
        unit = 0.21 * height
        neck_y = 0.40 * height
    else:
        total = head_above_neck + ident.torso_length + ident.leg_length + 0.2
        unit = 0.92 * height / total
        neck_y = 0.035 * height + head_above_neck * unit
    unit = min(unit, 0.95 * width / (ident.shoulder_width + 2 * 0.6))  # keep shoulders and elbows in
    neck = np.asarray((width / 2.0, neck_y), dtype=np.float32)
    sw = ident.shoulder_width * unit
    shoulders = np.asarray([(neck[0] - sw / 2, neck[1] + 0.05 * unit),
                            (neck[0] + sw / 2, neck[1] + 0.05 * unit)], dtype=np.float32)
    hip_half = 0.55 * unit * (0.9 + 0.1 * ident.shoulder_width / 1.8)
    hip_y = neck[1] + ident.torso_length * unit
    hips = np.asarray([(neck[0] - hip_half, hip_y), (neck[0] + hip_half, hip_y)], dtype=np.float32)
    leg = ident.leg_length * unit
    spread = stance * unit / 2
    ankles = hips + np.asarray([(-spread, leg), (spread, leg)], dtype=np.float32)
    knees = (hips + ankles) / 2 + np.asarray([(-0.03 * unit, 0.02 * leg), (0.03 * unit, 0.02 * leg)], np.float32)
    fw = 0.37 * unit * ident.head_size
    face_center = neck - np.asarray((0.0, 0.45 * unit + 0.95 * fw), dtype=np.float32)
    return Body(
        identity=ident, framing=framing, width=int(width), height=int(height), unit=float(unit),
        neck=neck, shoulders=shoulders, hips=hips, knees=knees, ankles=ankles,
        upper_arm=ident.upper_arm * unit, forearm=ident.forearm * unit,
        hand_length=ident.hand_size * unit, face_center=face_center, face_half_width=float(fw),
    )


def solve_elbow(shoulder: np.ndarray, wrist: np.ndarray, upper: float, fore: float,
                outward: float, depth: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Two-bone IK: (elbow, reachable wrist) in the image. The wrist target is `depth` pixels in
    front of the shoulder plane (toward the camera), so a bent arm can point forward and look
    short, as a real signer's does. The wrist is pulled in along the shoulder-wrist line when
    out of reach; the elbow points down, a little outward and back (the natural pole)."""
    s3 = np.asarray((shoulder[0], shoulder[1], 0.0))
    w3 = np.asarray((wrist[0], wrist[1], depth), np.float64)
    d_vec = w3 - s3
    d = float(np.linalg.norm(d_vec))
    lo, hi = abs(upper - fore) + 1e-3, upper + fore - 1e-3
    n = d_vec / d if d > 1e-6 else np.asarray((0.0, 1.0, 0.0))
    d = min(max(d, lo), hi)
    w3 = s3 + n * d
    pole = np.asarray((0.15 * outward, 1.0, -0.6))
    m = pole - n * float(pole @ n)
    if np.linalg.norm(m) < 1e-6:  # arm pointing straight at the pole: any perpendicular will do
        m = np.cross(n, (0.0, 0.0, 1.0))
    m /= np.linalg.norm(m)
    cos_a = np.clip((upper ** 2 + d ** 2 - fore ** 2) / (2 * upper * d), -1.0, 1.0)
    a = float(np.arccos(cos_a))
    elbow = s3 + upper * (np.cos(a) * n + np.sin(a) * m)
    return elbow[:2].astype(np.float32), w3[:2].astype(np.float32)


def compose_pose(body: Body, right: ArmState, left: ArmState, mouth: float = 0.0,
                 head_offset: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Canonical keypoints (xy [128, 2], conf [128]) of `body` with these arm states.

    mouth in [0, 1] opens the inner lips; head_offset (pixels) shifts the head (nods).
    Points far outside the frame get confidence 0 (see `in_view`).
    """
    xy = np.zeros((C.NUM_KEYPOINTS, 2), dtype=np.float32)
    xy[1] = body.neck
    xy[[2, 5]] = body.shoulders
    xy[[8, 11]] = body.hips
    xy[[9, 12]] = body.knees
    xy[[10, 13]] = body.ankles
    for side, arm, (s_i, e_i, w_i), h0 in (
        (0, right, (2, 3, 4), C.RIGHT_HAND_START), (1, left, (5, 6, 7), C.LEFT_HAND_START)
    ):
        elbow, wrist = solve_elbow(body.shoulders[side], arm.wrist, body.upper_arm, body.forearm,
                                   body.side_sign(side), arm.depth)
        xy[e_i], xy[w_i] = elbow, wrist
        angle = arm.hand_angle
        if angle is None:
            d = wrist - elbow
            angle = float(np.degrees(np.arctan2(d[0], -d[1]))) + arm.bend
        # thumb on the body's midline side when the palm faces the camera and the hand points up
        thumb_side = -body.side_sign(side) * arm.palm
        xy[h0:h0 + 21] = hands.hand_points(wrist, angle, arm.shape, body.hand_length, thumb_side)
    face = FACE_TEMPLATE.copy()
    if mouth > 0:  # open: lower lips and a little of the chin drop
        face[[65, 66, 67], 1] += 0.16 * float(mouth)
        face[[55, 56, 57, 58, 59], 1] += 0.12 * float(mouth)
        face[5:12, 1] += 0.08 * float(mouth)
    centre = body.face_center + (0 if head_offset is None else np.asarray(head_offset, np.float32))
    face_xy = centre + face * body.face_half_width
    xy[C.FACE_START:] = face_xy
    xy[0] = face_xy[30]                                   # nose tip
    xy[14] = face_xy[36:42].mean(axis=0)                  # right eye
    xy[15] = face_xy[42:48].mean(axis=0)                  # left eye
    xy[16] = centre + np.asarray((-1.02, -0.22)) * body.face_half_width  # right ear
    xy[17] = centre + np.asarray((1.02, -0.22)) * body.face_half_width   # left ear
    return xy, in_view(xy, body.width, body.height)


def in_view(xy: np.ndarray, width: int, height: int, margin: float = VIEW_MARGIN) -> np.ndarray:
    """Confidence of exactly known points: 1 within the frame grown by `margin` of its size on
    each side (an elbow just outside is still drawn), 0 beyond (the legs of an upper-body shot)."""
    mx, my = margin * width, margin * height
    ok = ((xy[..., 0] >= -mx) & (xy[..., 0] < width + mx) & (xy[..., 1] >= -my) & (xy[..., 1] < height + my))
    return ok.astype(np.float32)


def canonical_pose_for(identity: Identity, framing: str, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """The neutral standing pose of `identity` (arms relaxed): the pose of its source image."""
    body = body_geometry(identity, framing, width, height)
    return compose_pose(body, body.rest_arm(0), body.rest_arm(1))
