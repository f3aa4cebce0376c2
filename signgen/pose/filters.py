"""Temporal clean-up of keypoint tracks: gap filling, smoothing, low-pass, frame-rate change.

Detectors drop points for a frame or two and jitter by a pixel or two; a pose image drawn
from such a track flickers, and the video model copies the flicker. Every function here
takes a `PoseTrack` and returns a new one (the input is never modified), works in any
layout, and treats confidence 0 as "missing": missing points are never invented except by
`fill_gaps`, and never used as data by the smoothers. numpy and scipy only.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import numpy as np
from scipy.signal import butter, filtfilt, savgol_filter

from ..errors import InputError
from .io.checks import check_fps
from .track import PoseTrack, shift_segments

# Confidence given to a filled point: this factor times the smaller neighbouring confidence,
# so downstream code can still tell measured points from guessed ones.
FILLED_CONF_FACTOR = 0.5


def _runs(mask: np.ndarray) -> Iterator[tuple[int, int]]:
    """[start, stop) of each run of True in a 1-D boolean array."""
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return zip(edges[0::2].tolist(), edges[1::2].tolist())


def _z(track: PoseTrack) -> np.ndarray | None:
    z = track.meta.get("z")
    return None if z is None else np.asarray(z, dtype=np.float32)


def fill_gaps(track: PoseTrack, max_gap: int = 5) -> PoseTrack:
    """Bridge short detector drop-outs by linear interpolation, per keypoint.

    A run of missing frames is filled when it has a present frame on both sides and is at
    most `max_gap` frames long; longer gaps and gaps at the ends stay missing (guessing a
    whole movement is not our business). A filled point gets confidence
    `FILLED_CONF_FACTOR * min(conf before, conf after)`. Depth in `meta["z"]` is filled alike.
    """
    if max_gap < 0:
        raise InputError(f"max_gap must be >= 0, got {max_gap}")
    xy, conf = track.xy.copy(), track.conf.copy()
    z = _z(track)
    z = None if z is None else z.copy()
    T, K = conf.shape
    missing = conf <= 0
    for k in np.flatnonzero(missing.any(axis=0) & ~missing.all(axis=0)):
        for a, b in _runs(missing[:, k]):
            if a == 0 or b == T or b - a > max_gap:
                continue
            w = (np.arange(a, b) - (a - 1)) / (b - (a - 1))  # in (0, 1)
            xy[a:b, k] = (1 - w)[:, None] * xy[a - 1, k] + w[:, None] * xy[b, k]
            conf[a:b, k] = FILLED_CONF_FACTOR * min(conf[a - 1, k], conf[b, k])
            if z is not None:
                z[a:b, k] = (1 - w) * z[a - 1, k] + w * z[b, k]
    meta = dict(track.meta)
    if z is not None:
        meta["z"] = z
    return track.copy(xy=xy, conf=conf, meta=meta)


def _savgol(track: PoseTrack, window: int = 7, order: int = 2) -> PoseTrack:
    if window < 1 or order < 0:
        raise InputError(f"savgol needs window >= 1 and order >= 0, got {window}, {order}")
    xy = track.xy.copy()
    present = track.conf > 0
    for k in range(track.num_keypoints):
        for a, b in _runs(present[:, k]):
            n = b - a
            w = min(window, n if n % 2 else n - 1)  # odd and no longer than the run
            if w <= order or w < 3:
                continue  # too short to fit; left as measured
            xy[a:b, k] = savgol_filter(track.xy[a:b, k], w, order, axis=0)
    return track.copy(xy=xy)


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray:
    """Smoothing factor of a first-order low-pass with this cutoff (Hz) at sample period dt."""
    tau = 1.0 / (2.0 * np.pi * np.asarray(cutoff, dtype=np.float64))
    return 1.0 / (1.0 + tau / dt)


def _one_euro(
    track: PoseTrack, min_cutoff: float = 1.0, beta: float = 0.05, d_cutoff: float = 1.0
) -> PoseTrack:
    """One-Euro filter (Casiez, Roussel & Vogel, CHI 2012), causal, per keypoint.

    The cutoff rises with the point's speed (`min_cutoff + beta * |velocity|`, velocity in
    pixels per second, the 2-D speed shared by x and y), so a still hand is smoothed hard
    and a fast one barely lags. The filter restarts after every missing stretch.
    """
    if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
        raise InputError("one_euro needs min_cutoff > 0, d_cutoff > 0 and beta >= 0")
    dt = 1.0 / track.fps
    src = track.xy.astype(np.float64)
    out = src.copy()
    present = track.conf > 0
    K = track.num_keypoints
    prev = np.zeros((K, 2))
    dprev = np.zeros((K, 2))
    live = np.zeros(K, dtype=bool)  # the filter has a previous value for this point
    a_d = _alpha(d_cutoff, dt)
    for t in range(track.num_frames):
        p = present[t]
        x = src[t]
        run = p & live
        dx = (x - prev) / dt
        dx_hat = np.where(run[:, None], a_d * dx + (1 - a_d) * dprev, 0.0)
        cutoff = min_cutoff + beta * np.linalg.norm(dx_hat, axis=-1)
        a = _alpha(cutoff, dt)[:, None]
        x_hat = np.where(run[:, None], a * x + (1 - a) * prev, x)
        out[t] = np.where(p[:, None], x_hat, src[t])
        prev = np.where(p[:, None], x_hat, prev)
        dprev = np.where(p[:, None], dx_hat, dprev)
        live = p
    return track.copy(xy=out.astype(np.float32))


_SMOOTHERS = {"savgol": _savgol, "one_euro": _one_euro}


def smooth(track: PoseTrack, method: str = "savgol", **kw) -> PoseTrack:
    """Remove detector jitter while keeping real motion; missing points stay untouched.

    - ``"savgol"``: Savitzky-Golay (`window=7`, `order=2`), zero-phase, fitted per run of
      present frames (a shorter run gets the longest odd window that fits; runs too short
      for the polynomial are left as they are). Good offline default: it keeps peaks.
    - ``"one_euro"``: the One-Euro filter (`min_cutoff=1.0` Hz, `beta=0.05` per px/s,
      `d_cutoff=1.0` Hz): causal and speed-adaptive, for streaming use.

    Depth in `meta["z"]` is left as it is.
    """
    try:
        fn = _SMOOTHERS[method]
    except KeyError:
        raise InputError(
            f"unknown smoothing method {method!r}; known: {', '.join(sorted(_SMOOTHERS))}"
        ) from None
    try:
        inspect.signature(fn).bind(track, **kw)
    except TypeError as e:  # a misspelt or unknown keyword argument
        raise InputError(f"smooth({method!r}): {e}") from None
    return fn(track, **kw)


def resample(track: PoseTrack, fps: float) -> PoseTrack:
    """Change the frame rate, keeping the duration: T' = max(1, round(T * fps / track.fps)).

    Output frame i shows time i / fps, i.e. source position s = i * track.fps / fps (clamped
    to the last frame), linearly interpolated between the two source frames around s. A point
    is missing in the output when it is missing in either of those frames (when s falls on
    a frame, only that frame counts). Depth in `meta["z"]` is resampled alike.
    """
    fps = check_fps(fps)
    T = track.num_frames
    n = max(1, int(round(T * fps / track.fps)))
    s = np.minimum(np.arange(n) * (track.fps / fps), T - 1)
    s = np.round(s, 9)  # so that 0.1 * 10 lands on frame 1, not just before it
    i0 = np.floor(s).astype(int)
    i1 = np.minimum(i0 + 1, T - 1)
    w = (s - i0)[:, None]
    i1 = np.where(w[:, 0] > 0, i1, i0)
    xy = (1 - w)[..., None] * track.xy[i0] + w[..., None] * track.xy[i1]
    both = (track.conf[i0] > 0) & (track.conf[i1] > 0)
    conf = np.where(both, (1 - w) * track.conf[i0] + w * track.conf[i1], 0.0)
    xy = np.where(both[..., None], xy, 0.0)
    meta = dict(track.meta)
    z = _z(track)
    if z is not None:
        meta["z"] = np.where(both, (1 - w) * z[i0] + w * z[i1], 0.0).astype(np.float32)
    if meta.get("segments"):
        meta["segments"] = shift_segments(meta["segments"], 0, xy.shape[0], scale=fps / track.fps)
    return track.copy(xy=xy, conf=conf, fps=float(fps), meta=meta)


def lowpass(track: PoseTrack, cutoff_hz: float = 6.0, order: int = 4) -> PoseTrack:
    """Zero-phase Butterworth low-pass (scipy `filtfilt`), the spoken-to-signed smoothing.

    Applied per keypoint over each run of present frames, so a missing stretch never drags
    the curve towards (0, 0). Runs too short for the filter's padding get a shorter padding;
    single frames are left alone. A cutoff at or above the Nyquist frequency (fps / 2) leaves
    the track unchanged. Depth in `meta["z"]` is left as it is.
    """
    if not cutoff_hz > 0 or order < 1:
        raise InputError(f"lowpass needs cutoff_hz > 0 and order >= 1, got {cutoff_hz}, {order}")
    nyquist = track.fps / 2.0
    if cutoff_hz >= nyquist:
        return track.copy()
    b, a = butter(order, cutoff_hz / nyquist)
    padlen = 3 * max(len(a), len(b))
    xy = track.xy.copy()
    present = track.conf > 0
    for k in range(track.num_keypoints):
        for start, stop in _runs(present[:, k]):
            if stop - start < 2:
                continue
            seg = track.xy[start:stop, k].astype(np.float64)
            xy[start:stop, k] = filtfilt(b, a, seg, axis=0, padlen=min(padlen, stop - start - 1))
    return track.copy(xy=xy)
