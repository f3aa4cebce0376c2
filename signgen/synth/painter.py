"""Draw a synthetic person in a given canonical pose: numpy + OpenCV, deterministic, fast.

Everything is drawn from the keypoints (so the picture shows exactly the pose it is paired
with) and the identity (so a person looks the same in every frame). Painter's order:
background, legs, long hair, neck, torso, head, arms, hands — arms and hands in front.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from ..errors import InputError
from ..pose.layouts import canonical as C
from .identity import Identity

_AA = cv2.LINE_AA
_SHIFT = 2                 # sub-pixel precision for cv2 drawing: coordinates * 4
_SCALE = 1 << _SHIFT


def _p(pt: np.ndarray) -> tuple[int, int]:
    return int(round(float(pt[0]) * _SCALE)), int(round(float(pt[1]) * _SCALE))


def _pts(pts: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(pts, np.float64) * _SCALE).astype(np.int32).reshape(-1, 1, 2)


def _shade(colour, factor: float) -> tuple[int, int, int]:
    return tuple(min(255, max(0, int(c * factor))) for c in colour)


@lru_cache(maxsize=64)
def _background(identity: Identity, width: int, height: int) -> np.ndarray:
    top = np.asarray(identity.background_top, np.float32)
    bottom = np.asarray(identity.background_bottom, np.float32)
    w = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    img = (1 - w) * top + w * bottom
    return np.broadcast_to(np.round(img).astype(np.uint8), (height, width, 3)).copy()


@lru_cache(maxsize=64)
def _texture(identity: Identity, width: int, height: int) -> np.ndarray:
    """The clothing fabric over the whole frame (the garment mask cuts it out)."""
    c1 = np.asarray(identity.clothing_colour, np.uint8)
    c2 = np.asarray(identity.clothing_colour2, np.uint8)
    period = max(4, int(round(height / 24)))
    yy, xx = np.mgrid[0:height, 0:width]
    if identity.pattern == "plain":
        on = np.zeros((height, width), bool)
    elif identity.pattern == "stripes":
        on = (yy // max(2, period // 2)) % 2 == 1
    elif identity.pattern == "checks":
        on = ((yy // period) + (xx // period)) % 2 == 1
    else:  # print: scattered dots in the second colour
        on = np.zeros((height, width), bool)
        rng = np.random.default_rng([0x7E47, identity.seed])
        mask = np.zeros((height, width), np.uint8)
        n = int(width * height / (period * period) * 0.9)
        for x, y, r in zip(rng.uniform(0, width, n), rng.uniform(0, height, n),
                           rng.uniform(0.2, 0.45, n) * period):
            cv2.circle(mask, (int(x), int(y)), max(1, int(r)), 1, -1)
        on = mask > 0
    tex = np.where(on[..., None], c2, c1).astype(np.uint8)
    # soft vertical shading so the garment is not a flat sticker
    shade = (1.0 - 0.12 * np.linspace(0, 1, height, dtype=np.float32))[:, None, None]
    return np.clip(tex * shade, 0, 255).astype(np.uint8)


@lru_cache(maxsize=64)
def _sleeve_texture(identity: Identity, width: int, height: int) -> np.ndarray:
    """Sleeves a shade darker than the body of the garment, so an arm in front of the chest reads."""
    return (_texture(identity, width, height) * np.float32(0.85)).astype(np.uint8)


def _dress(frame: np.ndarray, mask: np.ndarray, texture: np.ndarray) -> None:
    """Paint the garment fabric through `mask` (0..255, anti-aliased edges blend), only inside
    the mask's bounding box."""
    x, y, w, h = cv2.boundingRect(mask)
    if w and h:
        roi = (slice(y, y + h), slice(x, x + w))
        alpha = mask[roi][..., None].astype(np.float32) * np.float32(1 / 255)
        under = frame[roi].astype(np.float32)
        frame[roi] = (under + alpha * (texture[roi].astype(np.float32) - under) + 0.5).astype(np.uint8)


def _ok(conf: np.ndarray, *idx: int) -> bool:
    return all(conf[i] > 0 for i in idx)


def _torso(xy: np.ndarray, conf: np.ndarray, identity: Identity, unit: float) -> np.ndarray | None:
    """Torso outline polygon from shoulders and hips (hips guessed when missing)."""
    if not _ok(conf, 2, 5):
        return None
    rs, ls = xy[2], xy[5]
    across = ls - rs
    sw = float(np.hypot(*across)) or 1.0
    ex = across / sw
    down = np.asarray((-ex[1], ex[0]))
    neck = xy[1] if conf[1] > 0 else (rs + ls) / 2
    if _ok(conf, 8, 11):
        rh, lh = xy[8], xy[11]
    else:
        length = sw * identity.torso_length / identity.shoulder_width
        rh = neck + down * length - ex * 0.3 * sw
        lh = neck + down * length + ex * 0.3 * sw
    arm = 0.2 * unit
    return np.asarray([
        rs - ex * 0.5 * arm - down * 0.55 * arm,
        neck - ex * 0.22 * unit - down * 0.2 * unit,
        neck + down * 0.12 * unit,
        neck + ex * 0.22 * unit - down * 0.2 * unit,
        ls + ex * 0.5 * arm - down * 0.55 * arm,
        ls + ex * 0.9 * arm + down * 1.2 * arm,
        lh + ex * 0.22 * unit + down * 0.2 * unit,
        rh - ex * 0.22 * unit + down * 0.2 * unit,
        rs - ex * 0.9 * arm + down * 1.2 * arm,
    ])


def _head_frame(xy: np.ndarray, conf: np.ndarray, unit: float):
    """(centre, x axis with length = face half-width, y axis) of the head, from the face points."""
    f = C.FACE_START
    if _ok(conf, f + 0, f + 16, f + 8):
        ex = (xy[f + 16] - xy[f + 0]) / 2
        centre = (xy[f + 0] + xy[f + 16]) / 2
    elif _ok(conf, 16, 17):
        ex = (xy[17] - xy[16]) / 2
        centre = (xy[16] + xy[17]) / 2 - np.asarray((-ex[1], ex[0])) * 0.03
    elif conf[0] > 0:
        ex = np.asarray((0.37 * unit, 0.0))
        centre = xy[0] - np.asarray((0.0, 0.45 * 0.37 * unit))
    else:
        return None
    ey = np.asarray((-ex[1], ex[0]))
    return centre + 0.05 * ey, ex, ey


def _ellipse(img, centre, ex, ey, sx: float, sy: float, colour, start=0, end=360, thickness=-1):
    rx, ry = float(np.hypot(*ex)) * sx, float(np.hypot(*ey)) * sy
    angle = float(np.degrees(np.arctan2(ex[1], ex[0])))
    cv2.ellipse(img, _p(centre), (max(1, int(rx * _SCALE)), max(1, int(ry * _SCALE))), angle, start, end,
                colour, thickness, _AA, _SHIFT)


def _draw_head(img, xy, conf, identity: Identity, unit: float, back: bool) -> None:
    hf = _head_frame(xy, conf, unit)
    if hf is None:
        return
    c, ex, ey = hf
    hair, skin = identity.hair_colour, identity.skin
    style = identity.hair_style
    if back:  # hair that falls behind the shoulders, drawn before the torso
        if style == "long":
            pts = np.asarray([c - 1.15 * ex - 0.6 * ey, c + 1.15 * ex - 0.6 * ey,
                              c + 1.3 * ex + 3.2 * ey, c - 1.3 * ex + 3.2 * ey])
            cv2.fillConvexPoly(img, _pts(pts), hair, _AA, _SHIFT)
            _ellipse(img, c - 0.3 * ey, ex, ey, 1.2, 1.25, hair)
        return
    f = C.FACE_START
    if style == "bun":
        cv2.circle(img, _p(c - 1.55 * ey), int(0.45 * np.hypot(*ex) * _SCALE), hair, -1, _AA, _SHIFT)
    if style == "curly":
        _ellipse(img, c - 0.35 * ey, ex, ey, 1.35, 1.3, hair)
    # ears, then the face
    for side in (-1, 1):
        _ellipse(img, c + side * 1.0 * ex - 0.2 * ey, ex, ey, 0.16, 0.25, _shade(skin, 0.92))
    _ellipse(img, c, ex, ey, 1.02, 1.22, skin)
    if style != "bald":
        _ellipse(img, c - 0.48 * ey, ex, ey, 1.08, 0.98, hair, start=180, end=360)
    else:
        _ellipse(img, c - 0.9 * ey, ex, ey, 0.6, 0.3, _shade(skin, 1.08))  # scalp highlight
    have_face = conf[f:].min() > 0
    if not have_face:
        return
    fw = float(np.hypot(*ex))
    lw = max(1, int(round(0.08 * fw)))
    dark = _shade(skin, 0.55)
    for a, b in ((17, 22), (22, 27)):  # brows
        cv2.polylines(img, [_pts(xy[f + a:f + b])], False, _shade(hair, 0.8), lw, _AA, _SHIFT)
    for a in (36, 42):  # eyes: white, iris
        eye = xy[f + a:f + a + 6]
        cv2.fillConvexPoly(img, _pts(eye), (245, 245, 240), _AA, _SHIFT)
        cv2.circle(img, _p(eye.mean(axis=0)), max(_SCALE, int(0.09 * fw * _SCALE)), (40, 30, 25), -1, _AA, _SHIFT)
    cv2.polylines(img, [_pts(xy[f + 27:f + 31])], False, _shade(skin, 0.8), lw, _AA, _SHIFT)
    cv2.polylines(img, [_pts(xy[f + 31:f + 36])], False, _shade(skin, 0.7), lw, _AA, _SHIFT)
    lips = tuple(int(v) for v in np.clip(np.asarray(skin) * (0.75, 0.5, 0.5) + (40, 0, 0), 0, 255))
    cv2.fillPoly(img, [_pts(xy[f + 48:f + 60])], lips, _AA, _SHIFT)
    inner = xy[f + 60:f + 68]
    if inner[:, 1].max() - inner[:, 1].min() > 0.08 * fw:
        cv2.fillPoly(img, [_pts(inner)], (60, 20, 25), _AA, _SHIFT)
    else:
        cv2.polylines(img, [_pts(inner)], True, dark, 1, _AA, _SHIFT)


def _arm(img, mask, xy, conf, idx, identity: Identity, unit: float) -> None:
    """Bare arm in skin; the sleeve outlined in a dark fabric colour on `img` and its inside
    marked in `mask` (filled with fabric by the caller)."""
    s, e, w = idx
    if not _ok(conf, s, e):
        return
    skin = identity.skin
    t_upper = max(2, int(round(0.34 * unit)))
    t_fore = max(2, int(round(0.27 * unit)))
    has_wrist = conf[w] > 0
    edge = _shade(skin, 0.75)
    cv2.line(img, _p(xy[s]), _p(xy[e]), edge, t_upper + 2, _AA, _SHIFT)
    if has_wrist:
        cv2.line(img, _p(xy[e]), _p(xy[w]), edge, t_fore + 2, _AA, _SHIFT)
    cv2.line(img, _p(xy[s]), _p(xy[e]), skin, t_upper, _AA, _SHIFT)
    if has_wrist:
        cv2.line(img, _p(xy[e]), _p(xy[w]), skin, t_fore, _AA, _SHIFT)
    if identity.sleeve <= 0:
        return
    # the sleeve covers the first `sleeve` fraction of the shoulder -> elbow -> wrist path
    l1 = float(np.hypot(*(xy[e] - xy[s])))
    l2 = float(np.hypot(*(xy[w] - xy[e]))) if has_wrist else 0.0
    reach = identity.sleeve * (l1 + l2)
    pieces = [(xy[s], xy[s] + (xy[e] - xy[s]) * min(1.0, reach / max(l1, 1e-6)), t_upper + 2)]
    if reach > l1 and has_wrist:
        pieces.append((xy[e], xy[e] + (xy[w] - xy[e]) * min(1.0, (reach - l1) / max(l2, 1e-6)), t_fore + 2))
    hem = _shade(identity.clothing_colour, 0.55)
    for a, b, t in pieces:
        cv2.line(img, _p(a), _p(b), hem, t + 2, _AA, _SHIFT)
    for a, b, t in pieces:
        cv2.line(mask, _p(a), _p(b), 255, t, _AA, _SHIFT)


def _hand(img, xy, conf, start: int, identity: Identity) -> None:
    h = xy[start:start + 21]
    if conf[start:start + 21].min() <= 0:  # a partly missing hand is not guessed at
        return
    length = float(np.hypot(*(h[12] - h[0])))
    palm_len = float(np.hypot(*(h[9] - h[0]))) or 1.0
    size = max(palm_len / 0.46, length)
    t = max(2, int(round(0.085 * size)))
    skin = identity.skin
    edge = _shade(skin, 0.62)
    palm = cv2.convexHull(_pts(h[[0, 1, 2, 5, 9, 13, 17]]))
    cv2.fillConvexPoly(img, palm, skin, _AA, _SHIFT)
    cv2.polylines(img, [palm], True, edge, 1, _AA, _SHIFT)
    chains = [h[[1, 2, 3, 4]]] + [h[[5 + 4 * k, 6 + 4 * k, 7 + 4 * k, 8 + 4 * k]] for k in (3, 2, 1, 0)]
    for chain in chains:
        cv2.polylines(img, [_pts(chain)], False, edge, t + 2, _AA, _SHIFT)
        cv2.polylines(img, [_pts(chain)], False, skin, t, _AA, _SHIFT)
        cv2.circle(img, _p(chain[-1]), max(1, t * _SCALE // 2), _shade(skin, 1.06), -1, _AA, _SHIFT)


def _unit_from_pose(xy: np.ndarray, conf: np.ndarray, identity: Identity, height: int) -> float:
    if _ok(conf, 2, 5):
        return float(np.hypot(*(xy[5] - xy[2]))) / identity.shoulder_width
    return 0.21 * height


def paint_signer(identity: Identity, pose_xy: np.ndarray, conf: np.ndarray, width: int = 210,
                 height: int = 260) -> np.ndarray:
    """One RGB frame, uint8 [height, width, 3], of `identity` in the canonical pose (xy [128, 2],
    conf [128]; conf 0 = missing, that part is not drawn)."""
    xy = np.asarray(pose_xy, np.float64)
    conf = np.asarray(conf, np.float32)
    if xy.shape != (C.NUM_KEYPOINTS, 2) or conf.shape != (C.NUM_KEYPOINTS,):
        raise InputError(f"pose must be xy [{C.NUM_KEYPOINTS}, 2] and conf [{C.NUM_KEYPOINTS}], "
                         f"got {xy.shape} and {conf.shape}")
    if not np.isfinite(xy[conf > 0]).all():
        raise InputError("pose has non-finite coordinates")
    width, height = int(width), int(height)
    unit = _unit_from_pose(xy, conf, identity, height)
    img = _background(identity, width, height).copy()
    texture = _texture(identity, width, height)
    # legs (trousers and shoes)
    t_leg = max(2, int(round(0.42 * unit)))
    for hip, knee, ankle in ((8, 9, 10), (11, 12, 13)):
        if _ok(conf, hip, knee):
            cv2.line(img, _p(xy[hip]), _p(xy[knee]), identity.trousers_colour, t_leg, _AA, _SHIFT)
            if conf[ankle] > 0:
                cv2.line(img, _p(xy[knee]), _p(xy[ankle]), identity.trousers_colour, t_leg, _AA, _SHIFT)
                foot = xy[ankle] + np.asarray((0.0, 0.12 * unit))
                cv2.ellipse(img, _p(foot), (int(0.28 * unit * _SCALE), int(0.12 * unit * _SCALE)), 0, 0, 360,
                            (30, 28, 28), -1, _AA, _SHIFT)
    _draw_head(img, xy, conf, identity, unit, back=True)
    hf = _head_frame(xy, conf, unit)
    if hf is not None and conf[1] > 0:  # neck
        cv2.line(img, _p(xy[1]), _p(hf[0]), _shade(identity.skin, 0.9), max(2, int(0.42 * unit)), _AA, _SHIFT)
    mask = np.zeros((height, width), np.uint8)
    torso = _torso(xy, conf, identity, unit)
    if torso is not None:
        cv2.fillPoly(mask, [_pts(torso)], 255, _AA, _SHIFT)
        _dress(img, mask, texture)
    _draw_head(img, xy, conf, identity, unit, back=False)
    # arms: the one whose wrist is lower is further back, drawn first
    arms = [((2, 3, 4), C.RIGHT_HAND_START), ((5, 6, 7), C.LEFT_HAND_START)]
    arms.sort(key=lambda a: -(xy[a[0][2], 1] if conf[a[0][2]] > 0 else 1e9))
    for idx, _ in arms:
        mask[:] = 0
        _arm(img, mask, xy, conf, idx, identity, unit)
        if identity.sleeve > 0:
            _dress(img, mask, _sleeve_texture(identity, width, height))
    for _, hand_start in arms:
        _hand(img, xy, conf, hand_start, identity)
    return img
