"""The video / image sampler, driven by toy denoisers (no UNet).

The toy is the exact denoiser for Gaussian data: frame i's images are x0 ~ N(mu_i, s^2 I), so
the posterior mean E[x0 | x_t] is known in closed form. With s = 0 every sampler must land on
mu_i; with s > 0 the final frame is mu_i plus s times a deterministic function of the noise,
so noise sharing and smoothing show up as measurable frame-to-frame differences.
"""

from __future__ import annotations

import gc

import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

from signgen.errors import InputError
from signgen.rendering.settings import Settings
from signgen.rendering.sampler import (
    FrameNoise,
    _mixed_coefficients,
    make_noise,
    sample_image,
    sample_video,
    smoothing_schedule,
    temporal_smooth,
)

SHAPE = (2, 4, 4)


def ddim(prediction_type: str = "epsilon") -> DDIMScheduler:
    return DDIMScheduler(clip_sample=False, prediction_type=prediction_type)


SCHEDULERS = {
    "ddim": lambda: ddim(),
    "dpmpp": lambda: DPMSolverMultistepScheduler(algorithm_type="dpmsolver++"),
    "ddpm": lambda: DDPMScheduler(clip_sample=False),
}


class GaussianToy:
    """Exact posterior-mean denoiser for x0 ~ N(mu[frame], s^2 I); records what it was asked."""

    def __init__(self, mu: torch.Tensor, s: float, scheduler) -> None:
        self.mu, self.s = mu, s
        self.abar = scheduler.alphas_cumprod
        self.prediction_type = scheduler.config.prediction_type
        self.calls: list[list[int]] = []
        self.hook = None

    def __call__(self, x: torch.Tensor, t: torch.Tensor, frame_index: torch.Tensor) -> torch.Tensor:
        assert x.shape[0] == frame_index.shape[0] and frame_index.dtype == torch.long
        self.calls.append(frame_index.tolist())
        if self.hook is not None:
            self.hook()
        a = self.abar[int(t)].to(x.dtype)
        m = self.mu[frame_index]
        x0 = m + (a.sqrt() * self.s**2 / (a * self.s**2 + 1 - a)) * (x - a.sqrt() * m)
        if self.prediction_type == "sample":
            return x0
        eps = (x - a.sqrt() * x0) / (1 - a).sqrt()
        if self.prediction_type == "v_prediction":
            return a.sqrt() * eps - (1 - a).sqrt() * x0
        return eps


def targets(T: int) -> torch.Tensor:
    """Distinct per-frame targets: a ramp in time plus a fixed spatial pattern."""
    g = torch.Generator().manual_seed(123)
    pattern = 0.3 * torch.randn(SHAPE, generator=g)
    return torch.linspace(-0.6, 0.6, T)[:, None, None, None] + pattern


def run(den, T, sched, seed=0, progress=None, **kw) -> torch.Tensor:
    return torch.stack(list(sample_video(den, T, SHAPE, sched, Settings(**kw), progress=progress,
                                         generator=torch.Generator().manual_seed(seed))))


def mean_step(frames: torch.Tensor) -> float:
    """Mean absolute difference between consecutive frames."""
    return (frames[1:] - frames[:-1]).abs().mean().item()


# --- noise ---------------------------------------------------------------------------------


def test_make_noise_modes():
    g = lambda: torch.Generator().manual_seed(7)  # noqa: E731
    shared = make_noise(5, SHAPE, "shared", g())
    indep = make_noise(5, SHAPE, "independent", g())
    assert shared.shape == indep.shape == (5, *SHAPE) and shared.dtype == torch.float32
    assert all(torch.equal(shared[0], shared[i]) for i in range(5))
    assert not torch.allclose(indep[0], indep[1])
    # same seed -> same noise; another seed -> other noise
    assert torch.equal(make_noise(5, SHAPE, "mixed", g()), make_noise(5, SHAPE, "mixed", g()))
    assert not torch.equal(shared, make_noise(5, SHAPE, "shared", torch.Generator().manual_seed(8)))


def test_mixed_noise_has_unit_variance_and_the_asked_correlation():
    big = (4, 64, 64)
    x = make_noise(2, big, "mixed", torch.Generator().manual_seed(1), mix=0.3)
    assert x.std().item() == pytest.approx(1.0, abs=0.02)
    corr = torch.corrcoef(x.reshape(2, -1))[0, 1].item()
    assert corr == pytest.approx(0.3, abs=0.03)
    assert torch.equal(make_noise(2, big, "mixed", torch.Generator().manual_seed(1), mix=1.0)[1],
                       make_noise(2, big, "shared", torch.Generator().manual_seed(1))[0])


def test_noise_is_keyed_by_frame_index_not_by_call():
    src = FrameNoise(seed=99, mode="independent")
    whole = src.initial(range(6), SHAPE)
    assert torch.equal(src.initial(range(3, 6), SHAPE), whole[3:])
    assert torch.equal(src.initial(range(6), SHAPE, dtype=torch.float64), whole.double())


def test_bad_noise_arguments():
    with pytest.raises(InputError, match="noise mode must be one of"):
        make_noise(2, SHAPE, "wobbly")
    with pytest.raises(InputError, match=r"noise mix must be in \[0, 1\]"):
        make_noise(2, SHAPE, "mixed", mix=1.5)


# --- smoothing -----------------------------------------------------------------------------


def test_smoothing_schedule_shape():
    s = smoothing_schedule(20, 0.6)
    assert len(s) == 20 and s[0] == pytest.approx(0.6)
    assert s[-6:] == [0.0] * 6 and s[13] > 0  # last 30% exactly zero
    assert all(a >= b for a, b in zip(s, s[1:]))
    assert smoothing_schedule(10, 0.0) == [0.0] * 10
    assert smoothing_schedule(3, 1.0, stop_fraction=0.0)[-1] > 0
    with pytest.raises(InputError, match="smoothing strength"):
        smoothing_schedule(10, 2.0)


def test_temporal_smooth_identity_and_constant_video():
    x = torch.randn(7, *SHAPE)
    assert torch.equal(temporal_smooth(x, 0.0), x)
    const = torch.randn(SHAPE).expand(7, *SHAPE).clone()
    torch.testing.assert_close(temporal_smooth(const, 1.0), const)


def test_temporal_smooth_reduces_frame_differences():
    x = torch.randn(9, *SHAPE, generator=torch.Generator().manual_seed(0))
    y = temporal_smooth(x, 0.5)
    z = temporal_smooth(x, 1.0)
    assert y.shape == x.shape
    assert mean_step(z) < mean_step(y) < 0.8 * mean_step(x)
    # the mean over time is (nearly) kept: smoothing, not shrinking
    assert (z.mean(0) - x.mean(0)).abs().mean() < 0.2 * x.std()


def test_temporal_smooth_valid_mask():
    x = torch.zeros(5, *SHAPE)
    x[2] = 100.0  # an invalid frame full of garbage
    valid = torch.tensor([True, True, False, True, True])
    out = temporal_smooth(x, 1.0, valid=valid)
    assert torch.equal(out[2], x[2])  # not changed
    assert out[[0, 1, 3, 4]].abs().max() == 0  # not used as a neighbour
    assert torch.count_nonzero(temporal_smooth(x, 1.0)[1]) > 0  # without the mask it would be


# --- convergence, order, windows -----------------------------------------------------------


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_video_converges_to_per_frame_targets_in_order(name):
    sched = SCHEDULERS[name]()
    T = 11  # not a multiple of the window
    mu = targets(T)
    den = GaussianToy(mu, 0.0, sched)
    out = run(den, T, sched, steps=8, window=4, overlap=2, batch_size=3)
    assert out.shape == (T, *SHAPE)
    torch.testing.assert_close(out, mu, atol=1e-4, rtol=0)
    assert max(len(c) for c in den.calls) <= 3


@pytest.mark.parametrize("prediction_type", ["sample", "v_prediction"])
def test_other_prediction_types(prediction_type):
    sched = ddim(prediction_type)
    mu = targets(5)
    out = run(GaussianToy(mu, 0.0, sched), 5, sched, steps=6, window=3, overlap=1)
    torch.testing.assert_close(out, mu, atol=1e-4, rtol=0)


def test_each_frame_is_computed_once_except_the_look_ahead_frames():
    # window 5, overlap 2: windows [0,5) [3,8) [6,11) [9,13); frames 4, 7, 10 are computed by a
    # window only as right-hand neighbours, then again by the next one; 3, 6, 9 are tied (replayed).
    sched = ddim()
    T, steps = 13, 5
    den = GaussianToy(targets(T), 0.5, sched)
    out = run(den, T, sched, steps=steps, window=5, overlap=2, batch_size=2)
    assert out.shape[0] == T
    seen = [f for call in den.calls for f in call]
    assert {f: seen.count(f) // steps for f in range(T)} == {f: 2 if f in (4, 7, 10) else 1 for f in range(T)}


def test_shared_noise_gives_less_flicker_than_independent():
    sched = ddim()
    T = 8
    mu = torch.zeros(T, *SHAPE)  # equal targets: any difference between frames is flicker
    den = GaussianToy(mu, 1.0, sched)
    shared = run(den, T, sched, steps=10, noise="shared", smoothing=0.0, window=4, overlap=1)
    indep = run(den, T, sched, steps=10, noise="independent", smoothing=0.0, window=4, overlap=1)
    mixed = run(den, T, sched, steps=10, noise="mixed", mix=0.5, smoothing=0.0, window=4, overlap=1)
    assert mean_step(shared) < 1e-5
    assert mean_step(indep) > 0.5
    assert 0.2 * mean_step(indep) < mean_step(mixed) < 0.9 * mean_step(indep)
    assert indep.std().item() == pytest.approx(1.0, abs=0.25)  # the toy samples its spread s = 1


def test_ddpm_step_noise_is_shared_too():
    sched = DDPMScheduler(clip_sample=False)
    mu = torch.zeros(6, *SHAPE)
    den = GaussianToy(mu, 1.0, sched)
    shared = run(den, 6, sched, steps=10, noise="shared", smoothing=0.0, window=4, overlap=1)
    indep = run(den, 6, sched, steps=10, noise="independent", smoothing=0.0, window=4, overlap=1)
    assert mean_step(shared) < 1e-5  # initial and step noise identical across frames
    assert mean_step(indep) > 0.5
    assert shared[0].std() > 0.3  # still a sample, not the mean


@pytest.mark.parametrize("m", [0.0, 0.3, 0.5, 0.9, 1.0])
def test_mixed_step_coefficients(m):
    c_shared, c_frame, c_shared2 = _mixed_coefficients(m)
    assert c_shared + c_frame + c_shared2 == pytest.approx(1.0)
    assert c_shared**2 + c_shared2**2 == pytest.approx(m)
    assert c_frame**2 == pytest.approx(1.0 - m)


@pytest.mark.parametrize(
    "make, kwargs",
    [
        (lambda: DDPMScheduler(clip_sample=False), {}),  # generator-only: three-step combination
        (lambda: ddim(), {"step_kwargs": {"eta": 1.0}}),  # variance_noise path
        (lambda: DPMSolverMultistepScheduler(algorithm_type="sde-dpmsolver++"), {}),
    ],
)
def test_step_noise_follows_the_mode(make, kwargs):
    """At equal targets the per-frame spread of stochastic samplers scales like sqrt(1 - mix)."""
    sched = make()
    T = 6
    den = GaussianToy(torch.zeros(T, *(4, 8, 8)), 1.0, sched)

    def spread(mode):
        out = torch.stack(list(sample_video(den, T, (4, 8, 8), sched, Settings(steps=10, noise=mode, mix=0.5, smoothing=0.0, window=T, overlap=0), generator=torch.Generator().manual_seed(2), **kwargs)))
        return mean_step(out), out.std().item()

    (shared, s_std), (mixed, m_std), (indep, i_std) = spread("shared"), spread("mixed"), spread("independent")
    assert shared < 1e-5 and indep > 0.5
    assert mixed / indep == pytest.approx(0.5**0.5, abs=0.02)  # the toy is linear in the noise
    assert 0.6 < m_std < 1.4 and 0.6 < i_std < 1.4  # still samples with the toy's spread s = 1


def test_smoothing_reduces_latent_flicker_at_equal_targets():
    sched = ddim()
    T = 10
    den = GaussianToy(torch.zeros(T, *SHAPE), 1.0, sched)
    rough = run(den, T, sched, steps=10, noise="independent", smoothing=0.0, window=T, overlap=0)
    smooth = run(den, T, sched, steps=10, noise="independent", smoothing=1.0, window=T, overlap=0)
    assert mean_step(smooth) < 0.7 * mean_step(rough)


def test_smoothing_does_not_change_a_constant_video():
    sched = ddim()
    T = 6
    mu = torch.full((T, *SHAPE), 0.25)
    den = GaussianToy(mu, 0.5, sched)
    a = run(den, T, sched, steps=8, noise="shared", smoothing=0.0, window=4, overlap=2)
    b = run(den, T, sched, steps=8, noise="shared", smoothing=1.0, window=4, overlap=2)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def frame_steps(T, window, overlap, seed=3):
    """Per-pair mean |frame i+1 - frame i| of a video sampled at equal targets with independent
    noise and strong smoothing: inside a window the smoothing makes neighbours alike."""
    sched = ddim()
    shape = (4, 8, 8)
    den = GaussianToy(torch.zeros(T, *shape), 1.0, sched)
    out = torch.stack(list(sample_video(den, T, shape, sched, Settings(steps=10, noise="independent", smoothing=1.0, window=window, overlap=overlap), generator=torch.Generator().manual_seed(seed))))
    return (out[1:] - out[:-1]).abs().mean(dim=(1, 2, 3))


def split(d, seams):
    inner = [i for i in range(len(d)) if i not in seams]
    return d[seams].mean().item(), d[inner].mean().item()


def test_window_seams_are_continuous():
    T = 20
    # overlap 0: windows [0,8) [8,16) [16,20), independent at the seams 7->8 and 15->16
    cut_seam, cut_inner = split(frame_steps(T, 8, 0), [7, 15])
    assert cut_seam > 2.5 * cut_inner  # the failure mode that overlap exists for
    # overlap 4: windows [0,8) [4,12) [8,16) [12,20); yielded 0-5, 6-9, 10-13, 14-19
    tied_seam, tied_inner = split(frame_steps(T, 8, 4), [5, 9, 13])
    assert tied_seam < 1.4 * tied_inner
    assert tied_seam < 0.4 * cut_seam


def test_memory_does_not_grow_with_video_length():
    """Peak bytes of live latent-shaped tensors, measured at the last step of every window (where
    the stored trajectory is longest), are the same for a short and a 5x longer video (the
    consumer drops each frame as it comes)."""
    shape = (3, 5, 7)  # a shape nothing else in the process uses
    steps = 3

    def peak(T: int) -> int:
        gc.collect()  # no leftovers from earlier runs
        sched = ddim()
        den = GaussianToy(torch.zeros(T, *shape), 1.0, sched)
        best = 0

        def measure():
            nonlocal best
            if len(den.calls) % steps:
                return
            storages = {}
            for o in gc.get_objects():
                if type(o) is torch.Tensor and tuple(o.shape[-3:]) == shape and o is not den.mu:
                    st = o.untyped_storage()
                    storages[st.data_ptr()] = st.nbytes()
            best = max(best, sum(storages.values()))

        den.hook = measure
        n = 0
        for frame in sample_video(den, T, shape, sched, Settings(steps=steps, window=4, overlap=2, batch_size=4), generator=torch.Generator().manual_seed(0)):
            assert frame.shape == shape
            n += 1
        assert n == T and len(den.calls) > steps
        return best

    short, long = peak(10), peak(40)  # both have middle windows (carry in and out)
    assert short > 0
    assert long <= short


def test_frames_are_yielded_before_later_windows_are_denoised():
    sched = ddim()
    T = 20
    den = GaussianToy(torch.zeros(T, *SHAPE), 0.0, sched)
    it = sample_video(den, T, SHAPE, sched, Settings(steps=3, window=5, overlap=1), generator=torch.Generator().manual_seed(0))
    next(it)
    assert max(f for c in den.calls for f in c) == 4  # only the first window so far
    assert torch.is_grad_enabled()  # no_grad stays inside the sampler, not leaked to the consumer
    assert len(list(it)) == T - 1


def test_same_seed_same_video_and_batch_size_does_not_matter():
    sched = DDPMScheduler(clip_sample=False)
    T = 7
    den = GaussianToy(targets(T), 0.7, sched)
    for mode in ("shared", "independent", "mixed"):
        a = run(den, T, sched, seed=5, steps=6, noise=mode, window=4, overlap=1, batch_size=2)
        b = run(den, T, sched, seed=5, steps=6, noise=mode, window=4, overlap=1, batch_size=2)
        c = run(den, T, sched, seed=5, steps=6, noise=mode, window=4, overlap=1, batch_size=8)
        d = run(den, T, sched, seed=6, steps=6, noise=mode, window=4, overlap=1, batch_size=2)
        assert torch.equal(a, b)
        torch.testing.assert_close(a, c)
        assert (a - d).abs().max() > 0.05


def test_progress_reports_every_step():
    sched = DPMSolverMultistepScheduler(algorithm_type="dpmsolver++")
    seen = []
    den = GaussianToy(torch.zeros(9, *SHAPE), 0.0, sched)
    run(den, 9, sched, steps=5, window=4, overlap=1, progress=lambda what, d, t: seen.append((d, t)))
    # windows [0,4) [3,7) [6,9): 3 windows x 5 steps
    assert seen == [(i, 15) for i in range(1, 16)]


def test_bad_video_arguments():
    sched = ddim()
    den = GaussianToy(torch.zeros(4, *SHAPE), 0.0, sched)
    with pytest.raises(InputError, match=r"overlap \(4\) must be smaller than the window \(4\)"):
        sample_video(den, 4, SHAPE, sched, Settings(window=4, overlap=4))
    with pytest.raises(InputError, match="number of frames must be an integer >= 1"):
        sample_video(den, 0, SHAPE, sched)
    with pytest.raises(InputError, match="noise mode"):
        sample_video(den, 4, SHAPE, sched, Settings(noise="same"))


def test_sample_image_independent_samples_of_one_target():
    sched = DPMSolverMultistepScheduler(algorithm_type="dpmsolver++")
    mu = targets(1)
    den = GaussianToy(mu, 0.0, sched)
    out = sample_image(den, SHAPE, sched, Settings(steps=6, batch_size=2), num_samples=3, generator=torch.Generator().manual_seed(0))
    assert out.shape == (3, *SHAPE)
    torch.testing.assert_close(out, mu.expand(3, *SHAPE), atol=1e-4, rtol=0)
    assert all(i == 0 for c in den.calls for i in c) and max(len(c) for c in den.calls) == 2
    spread = GaussianToy(mu, 1.0, sched)
    out = sample_image(spread, SHAPE, sched, Settings(steps=6), num_samples=3, generator=torch.Generator().manual_seed(0))
    assert (out[0] - out[1]).abs().mean() > 0.5
    again = sample_image(spread, SHAPE, sched, Settings(steps=6), num_samples=3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again)


def test_a_real_diffusers_unet_fits_the_denoiser_interface():
    """Smoke test of the interface with a tiny random diffusers UNet (no weights needed)."""
    from diffusers import UNet2DModel

    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
                       block_out_channels=(8, 16), down_block_types=("DownBlock2D", "DownBlock2D"),
                       up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=4).eval()
    sched = DPMSolverMultistepScheduler(algorithm_type="dpmsolver++")
    frames = list(sample_video(lambda x, t, idx: unet(x, t).sample, 5, (4, 8, 8), sched, Settings(steps=3, window=3, overlap=2), generator=torch.Generator().manual_seed(0)))
    assert len(frames) == 5 and all(f.shape == (4, 8, 8) and torch.isfinite(f).all() for f in frames)
    assert not any(f.requires_grad for f in frames)
