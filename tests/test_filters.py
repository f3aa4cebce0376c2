import numpy as np
import pytest

from signgen.errors import InputError
from signgen.pose import PoseTrack
from signgen.pose.filters import FILLED_CONF_FACTOR, fill_gaps, lowpass, resample, smooth
from signgen.pose.io import read_pose


def make_track(x: np.ndarray, fps: float = 25.0, conf: np.ndarray | None = None, K: int = 128) -> PoseTrack:
    """Every keypoint follows x(t) horizontally at y = 50."""
    T = len(x)
    xy = np.zeros((T, K, 2), np.float32)
    xy[..., 0] = np.asarray(x, np.float32)[:, None]
    xy[..., 1] = 50.0
    c = np.ones((T, K), np.float32) if conf is None else conf
    return PoseTrack(xy=xy, conf=c, fps=fps, width=200, height=200)


# ---------------------------------------------------------------- fill_gaps

def test_fill_gaps_interpolates_short_gaps_linearly():
    x = np.arange(10, dtype=np.float32) * 2.0
    conf = np.ones((10, 128), np.float32)
    conf[:, 3] = [1, 0.8, 0, 0, 0, 0.6, 1, 1, 1, 1]  # gap of 3 at frames 2..4
    out = fill_gaps(make_track(x, conf=conf), max_gap=5)
    np.testing.assert_allclose(out.xy[2:5, 3, 0], [4.0, 6.0, 8.0], atol=1e-5)
    np.testing.assert_allclose(out.conf[2:5, 3], FILLED_CONF_FACTOR * 0.6)
    np.testing.assert_array_equal(out.conf[:, 4], 1.0)  # untouched point


def test_fill_gaps_leaves_long_and_edge_gaps_missing():
    conf = np.ones((12, 128), np.float32)
    conf[2:8, 0] = 0  # 6 > max_gap
    conf[:2, 1] = 0  # at the start: no left neighbour
    conf[10:, 2] = 0  # at the end
    track = make_track(np.linspace(0, 100, 12), conf=conf)
    out = fill_gaps(track, max_gap=5)
    assert (out.conf[2:8, 0] == 0).all()
    assert (out.conf[:2, 1] == 0).all()
    assert (out.conf[10:, 2] == 0).all()
    assert (track.conf[2:8, 0] == 0).all(), "input was modified"


def test_fill_gaps_fills_depth_too():
    conf = np.ones((5, 128), np.float32)
    conf[2, 7] = 0
    track = make_track(np.arange(5.0), conf=conf)
    track.meta["z"] = np.tile(np.arange(5, dtype=np.float32)[:, None], (1, 128))
    track.meta["z"][2, 7] = 99
    assert fill_gaps(track).meta["z"][2, 7] == pytest.approx(2.0)


# ---------------------------------------------------------------- smooth

def jittery_then_fast(seed: int = 0) -> tuple[PoseTrack, np.ndarray]:
    """3 s still (with 1 px jitter), then 3 s of a 2 Hz, 40 px swing: a signing hand."""
    rng = np.random.default_rng(seed)
    T, fps = 150, 25.0
    t = np.arange(T) / fps
    clean = np.where(np.arange(T) < 75, 100.0, 100 + 40 * np.sin(2 * np.pi * 2 * (t - 3)))
    track = make_track(clean + rng.normal(0, 1.0, T), fps=fps, K=128)
    return track, clean


def test_one_euro_keeps_fast_motion_better_than_moving_average_of_same_lag():
    track, _ = jittery_then_fast()
    raw = track.xy[:, 0, 0].astype(np.float64)
    min_cutoff = 1.0
    out = smooth(track, "one_euro", min_cutoff=min_cutoff, beta=0.05).xy[:, 0, 0]
    # At rest the One-Euro filter is an EMA with alpha for min_cutoff: lag (1 - a) / a frames.
    # A causal moving average of N frames lags (N - 1) / 2 frames: match the two.
    dt = 1 / track.fps
    a = 1 / (1 + 1 / (2 * np.pi * min_cutoff * dt))
    n = int(round(2 * (1 - a) / a + 1))
    ma = np.convolve(raw, np.ones(n) / n)[: len(raw)]

    def jitter(v):
        return np.std(v[20:75])

    def amplitude(v):
        return (v[100:].max() - v[100:].min()) / 2

    assert jitter(out) < 0.6 * jitter(raw)  # jitter drops
    assert amplitude(out) > 0.85 * 40  # the swing survives
    assert amplitude(ma) < 0.6 * 40  # while the moving average flattens it
    assert amplitude(out) > amplitude(ma) + 15


def test_savgol_reduces_jitter_and_keeps_peaks():
    track, clean = jittery_then_fast(1)
    out = smooth(track, "savgol", window=7, order=2).xy[:, 5, 0]
    raw = track.xy[:, 5, 0]
    assert np.std(out[10:70] - clean[10:70]) < 0.7 * np.std(raw[10:70] - clean[10:70])
    assert (out[100:].max() - out[100:].min()) / 2 > 0.9 * 40


def test_smoothers_leave_missing_points_alone_and_do_not_pull_towards_zero():
    conf = np.ones((30, 128), np.float32)
    conf[10:15, 0] = 0
    x = np.full(30, 120.0)
    track = make_track(x, conf=conf)
    track.xy[10:15, 0] = 0.0  # meaningless values under missing points
    for method in ("savgol", "one_euro"):
        out = smooth(track, method)
        np.testing.assert_array_equal(out.conf, track.conf)
        np.testing.assert_allclose(out.xy[conf[:, 0] > 0, 0, 0], 120.0, atol=1e-3)
        np.testing.assert_array_equal(out.xy[10:15, 0], 0.0)
    np.testing.assert_allclose(lowpass(track).xy[conf[:, 0] > 0, 0, 0], 120.0, atol=1e-3)


def test_smooth_rejects_unknown_method_and_argument():
    track = make_track(np.zeros(5))
    with pytest.raises(InputError, match="unknown smoothing method 'kalman'"):
        smooth(track, "kalman")
    with pytest.raises(InputError, match="window_size"):
        smooth(track, "savgol", window_size=5)


# ---------------------------------------------------------------- resample

def test_resample_keeps_duration_and_interpolates_in_time():
    x = np.arange(10, dtype=np.float32) * 10  # 10 px per frame at 25 fps = 250 px/s
    track = make_track(x, fps=25.0)
    up = resample(track, 50.0)
    assert up.num_frames == 20 and up.fps == 50.0
    np.testing.assert_allclose(up.xy[:19, 0, 0], np.arange(19) * 5.0, atol=1e-4)
    assert up.xy[19, 0, 0] == pytest.approx(90.0)  # clamped to the last frame
    down = resample(track, 12.5)
    assert down.num_frames == 5
    np.testing.assert_allclose(down.xy[:, 0, 0], [0, 20, 40, 60, 80], atol=1e-4)
    assert resample(make_track(np.zeros(1)), 10.0).num_frames == 1


@pytest.mark.parametrize("fps", [0.0, float("inf"), float("nan"), 1e9])
def test_resample_refuses_absurd_rates(fps):
    """inf crashed (OverflowError) and 1e9 tried to allocate a billion frames per second of track."""
    with pytest.raises(InputError, match="fps must be > 0 and <= 1000"):
        resample(make_track(np.zeros(3)), fps)


def test_resample_marks_missing_when_either_neighbour_is_missing():
    conf = np.ones((4, 128), np.float32)
    conf[1, 0] = 0
    up = resample(make_track(np.arange(4.0), conf=conf), 50.0)  # frames at 0, .5, 1, 1.5, ...
    assert up.conf[:, 0].tolist()[:5] == [1, 0, 0, 0, 1]
    assert (up.xy[1:4, 0] == 0).all()


def test_resample_real_track_round_trip(real_pose_file):
    track = read_pose(real_pose_file)
    half = resample(track, track.fps / 2)
    assert half.num_frames == round(track.num_frames / 2)
    assert abs(half.duration - track.duration) <= 1 / half.fps
    assert half.meta["z"].shape == half.conf.shape


# ---------------------------------------------------------------- lowpass

def test_lowpass_removes_high_frequency_and_keeps_low():
    fps = 25.0
    t = np.arange(100) / fps
    slow = 30 * np.sin(2 * np.pi * 1.0 * t)
    fast = 5 * np.sin(2 * np.pi * 11.0 * t)
    out = lowpass(make_track(100 + slow + fast, fps=fps), cutoff_hz=6.0).xy[:, 0, 0]
    resid = out - (100 + slow)
    assert np.abs(resid[10:-10]).max() < 1.0  # the 11 Hz wobble is gone, no phase shift
    track = make_track(np.arange(10.0), fps=10.0)
    np.testing.assert_array_equal(lowpass(track, cutoff_hz=6.0).xy, track.xy)  # above Nyquist


def test_resample_and_slice_keep_gloss_segments_in_step():
    from signgen.pose import PoseTrack

    t = PoseTrack(xy=np.zeros((50, 128, 2)), conf=np.ones((50, 128)), fps=25, width=64, height=64,
                  meta={"segments": [("A", 0, 20), ("B", 20, 50)]})
    assert resample(t, 50).meta["segments"] == [("A", 0, 40), ("B", 40, 100)]
    assert resample(t, 12.5).meta["segments"] == [("A", 0, 10), ("B", 10, 25)]
    assert t.slice(10, 30).meta["segments"] == [("A", 0, 10), ("B", 10, 20)]
    assert t.slice(25).meta["segments"] == [("B", 0, 25)]
