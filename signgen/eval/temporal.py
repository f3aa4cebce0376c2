"""Temporal consistency of generated video: flicker and flow-based warping error (numpy + OpenCV).

Frames are RGB, uint8 [T, H, W, 3] arrays or any iterable of [H, W, 3] frames (read one at a
time, so a long video need not fit in memory). uint8 frames are scaled to [0, 1]; float
frames are taken to be in [0, 1] already. Both metrics are therefore in units of [0, 1]
intensity: 0.01 is about 2.5 grey levels.
"""

from __future__ import annotations

from itertools import zip_longest
from typing import Iterable, Iterator, Union

import cv2
import numpy as np

from ..errors import InputError

Frames = Union[np.ndarray, Iterable[np.ndarray]]

# Forward-backward consistency test for occlusion (Sundaram et al. 2010, as used by Ruder et al.
# and Lai et al. for the warping error): |F + B(p + F)|^2 <= a (|F|^2 + |B(p + F)|^2) + b.
_OCC_A, _OCC_B = 0.01, 0.5


def _float_frames(frames: Frames, name: str) -> Iterator[np.ndarray]:
    """Frames as float32 [H, W, 3] in [0, 1], checked one by one."""
    shape = None
    for i, f in enumerate(frames):
        f = np.asarray(f)
        if f.ndim != 3 or f.shape[2] != 3:
            raise InputError(f"{name} frame {i} has shape {f.shape}, expected [H, W, 3]")
        if shape is not None and f.shape != shape:
            raise InputError(f"{name} frame {i} has shape {f.shape}, the first had {shape}")
        shape = f.shape
        if f.dtype == np.uint8:
            yield f.astype(np.float32) / 255.0
        elif np.issubdtype(f.dtype, np.floating):
            yield f.astype(np.float32)
        else:
            raise InputError(f"{name} frame {i} has dtype {f.dtype}, expected uint8 or float in [0, 1]")


def _mean_step(frames: Frames, name: str) -> float:
    prev, total, n = None, 0.0, 0
    for f in _float_frames(frames, name):
        if prev is not None:
            total += float(np.abs(f - prev).mean())
            n += 1
        prev = f
    if n == 0:
        raise InputError(f"{name} needs at least 2 frames")
    return total / n


def flicker(pred_frames: Frames, gt_frames: Frames | None = None) -> float:
    """Mean absolute difference between consecutive frames, averaged over pixels, channels and
    frame pairs; with ground truth, minus the same figure for it, so real motion is not counted.

    0 for a static video. With `gt_frames` it can be negative (a prediction that moves less than
    the truth, e.g. frozen).
    """
    value = _mean_step(pred_frames, "predicted video")
    if gt_frames is not None:
        value -= _mean_step(gt_frames, "ground-truth video")
    return value


def _gray8(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor((np.clip(frame, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), cv2.COLOR_RGB2GRAY)


def optical_flow(src: np.ndarray, dst: np.ndarray, method: str = "dis") -> np.ndarray:
    """Dense flow float32 [H, W, 2] (x, y) from `src` to `dst`: src(p) ~ dst(p + flow(p)).

    Frames as in this module (uint8 or float [0, 1] RGB). method: "dis" (OpenCV DIS, medium
    preset) or "farneback".
    """
    a = _gray8(next(_float_frames([src], "flow source")))
    b = _gray8(next(_float_frames([dst], "flow target")))
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        flow = dis.calc(a, b, None)
    elif method == "farneback":
        flow = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    else:
        raise InputError(f"optical flow method must be 'dis' or 'farneback', got {method!r}")
    return flow.astype(np.float32)


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    return np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample `image` at p + flow(p) (bilinear, border replicated): with the flow from frame t
    to frame t-1, this brings frame t-1 onto frame t."""
    h, w = flow.shape[:2]
    gx, gy = _grid(h, w)
    return cv2.remap(
        np.ascontiguousarray(image), gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def consistent_mask(flow: np.ndarray, back_flow: np.ndarray) -> np.ndarray:
    """bool [H, W]: pixels whose flow is confirmed by the flow back (not occluded) and whose
    target lies inside the image."""
    h, w = flow.shape[:2]
    gx, gy = _grid(h, w)
    tx, ty = gx + flow[..., 0], gy + flow[..., 1]
    back = cv2.remap(back_flow, tx, ty, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    err = ((flow + back) ** 2).sum(-1)
    bound = _OCC_A * ((flow**2).sum(-1) + (back**2).sum(-1)) + _OCC_B
    inside = (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)
    return (err <= bound) & inside


def warping_error(pred_frames: Frames, gt_frames: Frames, method: str = "dis") -> float:
    """Flow-based warping error (Lai et al. 2018): the previous predicted frame is warped onto
    the current one by the optical flow of the *ground truth*, and the mean squared difference
    (per pixel and channel, [0, 1] units) is taken over non-occluded pixels, then averaged over
    frame pairs. Needs equal frame counts and sizes; pairs with no valid pixel are skipped
    (nan if all are).
    """
    pairs = zip_longest(_float_frames(pred_frames, "predicted video"), _float_frames(gt_frames, "ground-truth video"))
    prev_p = prev_g = None
    errors: list[float] = []
    n = 0
    for n, (p, g) in enumerate(pairs, start=1):
        if p is None or g is None:
            raise InputError(f"predicted and ground-truth videos differ in length (from frame {n - 1})")
        if p.shape != g.shape:
            raise InputError(f"predicted frame {n - 1} has shape {p.shape}, ground truth {g.shape}")
        if prev_p is not None:
            back = optical_flow(g, prev_g, method)  # current -> previous
            fwd = optical_flow(prev_g, g, method)
            mask = consistent_mask(back, fwd)
            if mask.any():
                diff = (p - warp(prev_p, back)) ** 2
                errors.append(float(diff[mask].mean()))
        prev_p, prev_g = p, g
    if n < 2:
        raise InputError("warping error needs at least 2 frames")
    return float(np.mean(errors)) if errors else float("nan")

