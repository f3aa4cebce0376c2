"""Temporal metrics on constructed videos: static, shifting texture, wrong motion."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from signgen.errors import InputError
from signgen.eval.temporal import consistent_mask, flicker, optical_flow, warp, warping_error


def texture(width: int = 200, seed: int = 0) -> np.ndarray:
    """A smooth random RGB texture, uint8 [64, width, 3]."""
    rng = np.random.default_rng(seed)
    t = cv2.GaussianBlur(rng.uniform(0, 255, (64, width, 3)).astype(np.float32), (0, 0), 2)
    return ((t - t.min()) / (t.max() - t.min()) * 255).astype(np.uint8)


def pan(step: int, T: int = 6, seed: int = 0) -> np.ndarray:
    """A 64x64 camera panning over the texture by `step` pixels per frame."""
    big = texture(seed=seed)
    return np.stack([big[:, 60 + step * t : 124 + step * t] for t in range(T)])


def test_flicker_static_is_zero_and_values_are_in_unit_intensity():
    static = pan(0)
    assert flicker(static) == 0.0
    blink = np.zeros((4, 8, 8, 3), np.uint8)
    blink[1::2] = 255
    assert flicker(blink) == pytest.approx(1.0)
    assert flicker(blink.astype(np.float32) / 255) == pytest.approx(1.0)


def test_flicker_subtracts_real_motion():
    moving = pan(2)
    assert flicker(moving) > 0.02
    assert flicker(moving, moving) == pytest.approx(0.0)
    assert flicker(pan(0), moving) < 0  # frozen prediction moves less than the truth
    # iterables (a generator of frames) work like arrays
    assert flicker(iter(list(moving))) == pytest.approx(flicker(moving))


def test_flow_direction_convention():
    v = pan(2)
    flow = optical_flow(v[1], v[0])  # frame1(p) = frame0(p + (2, 0))
    assert flow.shape == (64, 64, 2)
    inner = flow[8:-8, 8:-8]
    assert np.median(inner[..., 0]) == pytest.approx(2.0, abs=0.1)
    assert np.abs(np.median(inner[..., 1])) < 0.1
    warped = warp(v[0], flow)
    assert np.abs(warped[8:-8, 8:-8].astype(int) - v[1][8:-8, 8:-8]).mean() < 2.0


def test_consistency_mask():
    shift = np.zeros((10, 10, 2), np.float32)
    shift[..., 0] = 3.0
    good = consistent_mask(shift, -shift)
    assert good[:, :7].all() and not good[:, 7:].any()  # the last 3 columns map outside
    assert not consistent_mask(shift, shift).any()  # forward and backward disagree: occluded


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_warping_error_low_with_right_flow_high_with_wrong(method):
    right = pan(2)
    right_err = warping_error(right, right, method)
    wrong_err = warping_error(right, pan(-2), method)  # ground truth moves the other way
    assert right_err < 1e-4
    assert wrong_err > 100 * right_err
    assert warping_error(pan(0), pan(0), method) == pytest.approx(0.0, abs=1e-6)


def test_warping_error_ignores_occluded_pixels():
    gt = pan(2)
    pred = gt.copy()
    pred[-1, :, -2:] = 0  # garbage only where new content enters the view (no flow source)
    assert warping_error(pred, gt) < 1e-4
    pred[-1, :, 30:32] = 0  # the same garbage where the flow is valid counts
    assert warping_error(pred, gt) > 1e-3


def test_bad_inputs():
    v = pan(1, T=3)
    with pytest.raises(InputError, match="predicted video needs at least 2 frames"):
        flicker(v[:1])
    with pytest.raises(InputError, match=r"predicted video frame 0 has shape \(64, 64\)"):
        flicker(v[..., 0])
    with pytest.raises(InputError, match="differ in length"):
        warping_error(v, v[:2])
    with pytest.raises(InputError, match="predicted frame 0 has shape"):
        warping_error(v[:, :32], v)
    with pytest.raises(InputError, match="optical flow method"):
        warping_error(v, v, method="lk")
