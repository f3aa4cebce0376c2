"""Video and single-image samplers: plain functions over a denoiser callable (k-diffusion's shape).

A *denoiser* is any callable

    denoiser(x_t: Tensor[N, C, h, w], t: Tensor (scalar timestep), frame_index: LongTensor[N])
        -> Tensor[N, C, h, w]

returning the model output in the scheduler's prediction type, already guided. `frame_index`
holds absolute frame numbers so a wrapper can pick each frame's pose. Nothing here knows about
UNets, so shared noise, temporal smoothing and windowing are tested with toy denoisers.

Why the pieces exist:

- **Shared noise.** FPDM re-seeds its generator per frame, so every frame starts from the same
  noise by accident; that is what keeps appearance stable. Here it is a deliberate choice:
  `noise="shared"` (default), `"independent"`, or `"mixed"` (a unit-variance blend).
- **Temporal smoothing.** After each noisy step the latents are blended with a small Gaussian
  along time; the strength falls to exactly 0 for the last 30% of steps so detail is untouched.
- **Windows.** Frames are denoised together in windows of `window` frames, so memory depends
  on the window, not on the video length. Consecutive windows share `overlap` frames. The
  first half of them are *tied*: not denoised again, but replayed at every step from the
  previous window's stored trajectory, so the new frames are smoothed against exactly the
  states their neighbours had. The second half were computed by the previous window only as
  right-hand neighbours (never yielded) and are computed again here, so every yielded frame was
  smoothed from both sides. Measured on a toy (tests): with overlap 0 the step across a seam is
  5x the in-window step; with overlap 4 it is within 1.4x. Frames are yielded as soon as their
  window ends.
- **Stochastic steps** (DDPM, DDIM with eta > 0, SDE solvers) draw noise at every step; it
  follows the same mode as the initial noise, since with DDPM the final frame depends mostly on
  the step noise, not on the starting noise.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from math import ceil
from typing import Callable, Iterator, Sequence

import torch
from torch import Tensor

from ..base.progress import Progress
from ..base.seeds import derive_seed
from ..errors import InputError
from .settings import NOISE_MODES, Settings
from .timing import timed

Denoiser = Callable[[Tensor, Tensor, Tensor], Tensor]

# Tags that keep the seed streams of the different noise uses apart.
_SHARED, _PER_FRAME, _STEP_SHARED, _STEP_PER_FRAME = 0, 1, 2, 3


def _generator(seed: int) -> torch.Generator:
    g = torch.Generator(device="cpu")
    g.manual_seed(seed)
    return g


@dataclass(frozen=True)
class FrameNoise:
    """The noise of one video, as a pure function of (seed, frame index, step).

    Because every frame's noise is derived from its own index, the result does not depend on
    how the video is cut into windows or batches. Noise is drawn on the CPU and then moved, so
    a seed gives the same numbers on every device.

    Stochastic schedulers (DDPM, DDIM with eta > 0, SDE-DPM-Solver) also draw noise at each
    step; that noise follows the same mode (shared, independent or mixed), see `_stepper`.
    """

    seed: int
    mode: str = "shared"
    mix: float = 0.5

    def __post_init__(self) -> None:
        if self.mode not in NOISE_MODES:
            raise InputError(f"noise mode must be one of {', '.join(NOISE_MODES)}, got {self.mode!r}")
        if not 0.0 <= float(self.mix) <= 1.0:
            raise InputError(f"noise mix must be in [0, 1], got {self.mix}")

    @classmethod
    def from_generator(
        cls, generator: torch.Generator | None, mode: str = "shared", mix: float = 0.5
    ) -> "FrameNoise":
        """Draw the video's base seed from `generator` (torch's global RNG when None)."""
        if generator is None:
            seed = int(torch.randint(0, 2**62, (1,)).item())
        else:
            seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item())
        return cls(seed, mode, mix)

    @property
    def shared_weight(self) -> float:
        """Variance fraction of the noise that all frames share (1 shared, 0 independent)."""
        return {"shared": 1.0, "independent": 0.0}.get(self.mode, float(self.mix))

    def _draw(self, shape: tuple[int, ...], *words: int) -> Tensor:
        return torch.randn(shape, generator=_generator(derive_seed(self.seed, *words)))

    def _mode_noise(self, frames: Sequence[int], shape: tuple[int, ...], shared_words, frame_words) -> Tensor:
        m = self.shared_weight
        out = torch.zeros((len(frames), *shape))
        if m > 0:
            out += (m**0.5) * self._draw(shape, *shared_words)
        if m < 1:
            per = [self._draw(shape, *frame_words(f)) for f in frames]
            if per:
                out += ((1.0 - m) ** 0.5) * torch.stack(per)
        return out

    def initial(
        self,
        frames: Sequence[int],
        latent_shape: Sequence[int],
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> Tensor:
        """Starting noise [len(frames), *latent_shape] for the given absolute frame indices."""
        shape = tuple(int(s) for s in latent_shape)
        out = self._mode_noise(frames, shape, (_SHARED,), lambda f: (_PER_FRAME, f))
        return out.to(device=device, dtype=dtype)

    def step_noise(
        self, frames: Sequence[int], step: int, latent_shape: Sequence[int], dtype: torch.dtype, device
    ) -> Tensor:
        """A stochastic scheduler's noise at `step` for the given frames, in this mode."""
        shape = tuple(int(s) for s in latent_shape)
        out = self._mode_noise(frames, shape, (_STEP_SHARED, step), lambda f: (_STEP_PER_FRAME, f, step))
        return out.to(device=device, dtype=dtype)

    def step_generators(self, frames: Sequence[int], step: int, stream: str) -> list[torch.Generator]:
        """One CPU generator per frame (diffusers takes a list) drawing the `stream` noise:
        "shared" (identical for all frames), "shared2" (a second shared stream) or "frame"."""
        if stream == "frame":
            return [_generator(derive_seed(self.seed, _STEP_PER_FRAME, f, step)) for f in frames]
        seed = derive_seed(self.seed, _STEP_SHARED, step, 0 if stream == "shared" else 1)
        return [_generator(seed) for _ in frames]


def _mixed_coefficients(m: float) -> tuple[float, float, float]:
    """(c_shared, c_frame, c_shared2) with c_shared + c_frame + c_shared2 = 1,
    c_shared^2 + c_shared2^2 = m and c_frame^2 = 1 - m.

    A stateless stochastic step (DDPM) is affine in its noise: step(z) = mean + sigma * z. So the
    combination of three steps with weights summing to 1 is the step with the combined noise,
    and these weights make that noise exactly sqrt(m) * shared + sqrt(1 - m) * per-frame.
    """
    c_frame = (1.0 - m) ** 0.5
    rest = 1.0 - c_frame
    root = max(2.0 * m - rest * rest, 0.0) ** 0.5
    return (rest + root) / 2.0, c_frame, (rest - root) / 2.0


def _stepper(scheduler, noise: FrameNoise, step_kwargs: dict) -> Callable[..., Tensor]:
    """`step(out, t, x, frames, i)`: one scheduler step whose random part (if any) follows the
    video's noise mode. Which way to step is decided once per window, not at every step.

    Deterministic steps (DDIM with eta 0, DPM-Solver++ / UniPC) draw nothing. Schedulers that take
    `variance_noise` (DDIM, SDE DPM-Solver) get the mode's noise directly. Generator-only ones get
    per-frame generators: shared or independent streams; for "mixed", DDPM (stateless) is stepped
    three times and combined (`_mixed_coefficients`); other generator-only schedulers fall back
    to shared step noise.
    """
    from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, UniPCMultistepScheduler

    params = inspect.signature(scheduler.step).parameters
    raw = scheduler.step
    deterministic = (
        (isinstance(scheduler, DDIMScheduler) and not step_kwargs.get("eta", 0.0))
        or (isinstance(scheduler, DPMSolverMultistepScheduler) and not scheduler.config.algorithm_type.startswith("sde"))
        or isinstance(scheduler, UniPCMultistepScheduler)
    )
    if deterministic or ("variance_noise" not in params and "generator" not in params):
        return lambda out, t, x, frames, i: raw(out, t, x, **step_kwargs).prev_sample
    if "variance_noise" in params:
        def with_noise(out, t, x, frames, i):
            vn = noise.step_noise(frames, i, x.shape[1:], out.dtype, out.device)
            return raw(out, t, x, variance_noise=vn, **step_kwargs).prev_sample
        return with_noise
    m = noise.shared_weight
    if m in (0.0, 1.0) or not isinstance(scheduler, DDPMScheduler):
        stream = "frame" if m == 0.0 else "shared"
        return lambda out, t, x, frames, i: raw(out, t, x, generator=noise.step_generators(frames, i, stream),
                                                **step_kwargs).prev_sample

    def mixed(out, t, x, frames, i):
        total = None
        for c, stream in zip(_mixed_coefficients(m), ("shared", "frame", "shared2")):
            prev = raw(out, t, x, generator=noise.step_generators(frames, i, stream), **step_kwargs).prev_sample
            total = c * prev if total is None else total + c * prev
        return total
    return mixed


def make_noise(
    num_frames: int,
    latent_shape: Sequence[int],
    mode: str = "shared",
    generator: torch.Generator | None = None,
    mix: float = 0.5,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> Tensor:
    """Initial noise [num_frames, *latent_shape] for a video.

    shared: one noise for every frame (FPDM's behaviour, made deliberate); independent: one per
    frame; mixed: sqrt(mix) * shared + sqrt(1 - mix) * per-frame, still unit variance, with a
    correlation of `mix` between frames. Deterministic from `generator`.
    """
    return FrameNoise.from_generator(generator, mode, mix).initial(range(num_frames), latent_shape, dtype, device)


def smoothing_schedule(num_steps: int, strength: float, stop_fraction: float = 0.3) -> list[float]:
    """Temporal-smoothing strength per step: `strength` at the noisiest step, falling linearly,
    and exactly 0 for the last `stop_fraction` of the steps (fine detail is left alone)."""
    if num_steps < 1:
        raise InputError(f"number of steps must be at least 1, got {num_steps}")
    if not 0.0 <= strength <= 1.0:
        raise InputError(f"smoothing strength must be in [0, 1], got {strength}")
    if not 0.0 <= stop_fraction <= 1.0:
        raise InputError(f"smoothing stop fraction must be in [0, 1], got {stop_fraction}")
    active = num_steps - ceil(stop_fraction * num_steps - 1e-9)
    return [float(strength) * (active - i) / active if i < active else 0.0 for i in range(num_steps)]


def temporal_smooth(
    latents: Tensor, strength: float, valid: Tensor | None = None, sigma: float = 1.0, radius: int = 2
) -> Tensor:
    """Blend each frame with a Gaussian average of its neighbours in time (sigma in frames).

    `out = (1 - strength) * x + strength * gauss(x)`. At the ends of the clip the kernel is
    renormalised over the frames that exist (no mirrored copies), so a constant video is left
    unchanged. `valid` (bool[T]) marks the frames that take part: invalid ones are neither used
    as neighbours nor changed. strength 0 returns the input.
    """
    if strength == 0.0:
        return latents
    T = latents.shape[0]
    idx = torch.arange(T, device=latents.device)
    dist = (idx[:, None] - idx[None, :]).abs().to(torch.float32)
    kernel = torch.exp(-0.5 * (dist / sigma) ** 2) * (dist <= radius)
    if valid is not None:
        valid = valid.to(device=latents.device, dtype=torch.bool)
        kernel = kernel * valid[None, :]
        kernel[~valid] = torch.eye(T, device=latents.device)[~valid]
    kernel = kernel / kernel.sum(dim=1, keepdim=True)
    flat = latents.reshape(T, -1)
    blurred = (kernel.to(flat.dtype) @ flat).reshape_as(latents)
    out = (1.0 - strength) * latents + strength * blurred
    if valid is not None:
        out[~valid] = latents[~valid]
    return out


def _fresh(scheduler):
    """A scheduler with no history (multistep solvers keep state), same config."""
    return type(scheduler).from_config(scheduler.config)


def _windows(num_frames: int, window: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """(start, first computed frame, end of the yielded frames, end) of each window.

    Consecutive windows share `overlap` frames. The first ceil(overlap / 2) of them are tied
    (replayed from the previous window, already yielded); the last overlap // 2 were computed
    by the previous window only as right-hand neighbours and are computed again here, so every
    yielded frame was smoothed with neighbours on both sides.
    """
    look = overlap // 2
    out, start, first = [], 0, 0
    while True:
        end = min(start + window, num_frames)
        if end == num_frames:
            out.append((start, first, end, end))
            return out
        out.append((start, first, end - look, end))
        start, first = end - overlap, end - look


@torch.no_grad()
def _denoise_window(
    denoiser: Denoiser,
    scheduler,
    x: Tensor,
    frames: Tensor,
    noise: FrameNoise,
    strengths: Sequence[float],
    carry: Tensor | None,
    keep: slice | None,
    batch_size: int,
    tick: Callable[[], None],
    step_kwargs: dict,
) -> tuple[Tensor, Tensor | None]:
    """Run all steps on the computed frames `x` of one window.

    `carry` [steps + 1, k, ...] is the trajectory of the k tied frames that precede `x` in
    time; they are not denoised, only replayed, so the smoothing sees exactly the states the
    previous window gave them. Returns the final latents of `x` and the trajectory of the
    frames `keep` of the whole window (tied + computed), to be tied in the next window.
    """
    k = 0 if carry is None else carry.shape[1]
    frame_list = frames.tolist()
    traj: list[Tensor] = []

    def whole(i: int, cur: Tensor) -> Tensor:
        return cur if carry is None else torch.cat([carry[i], cur])

    if keep is not None:
        traj.append(whole(0, x)[keep].clone())
    step = _stepper(scheduler, noise, step_kwargs)
    for i, t in enumerate(scheduler.timesteps):
        with timed("scheduler"):
            model_in = scheduler.scale_model_input(x, t)
        out = torch.cat(
            [
                denoiser(model_in[a : a + batch_size], t, frames[a : a + batch_size]).to(x.dtype)
                for a in range(0, x.shape[0], batch_size)
            ]
        )
        with timed("scheduler"):
            x = step(out, t, x, frame_list, i).to(out.dtype)
            if strengths[i] > 0:
                x = temporal_smooth(whole(i + 1, x), strengths[i])[k:]
        if keep is not None:
            traj.append(whole(i + 1, x)[keep].clone())
        tick()
    return x, (torch.stack(traj) if keep is not None else None)


def _steps(settings: Settings) -> int:
    if settings.steps is None:
        raise InputError("the number of steps is not set (Settings.for_model fills in the model's)")
    return int(settings.steps)


def _generator_for(settings: Settings, generator: torch.Generator | None) -> torch.Generator:
    return generator if generator is not None else torch.Generator(device="cpu").manual_seed(int(settings.seed))


def sample_video(
    denoiser: Denoiser,
    num_frames: int,
    latent_shape: Sequence[int],
    scheduler,
    settings: Settings = Settings(),
    *,
    generator: torch.Generator | None = None,
    progress: Progress | None = None,
    step_kwargs: dict | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> Iterator[Tensor]:
    """Yield the finished latents [C, h, w] of each frame, in order, window by window.

    `scheduler` is a diffusers scheduler (DDIM, DPM-Solver++ multistep, DDPM, ...); it is only
    used as a template: every window gets a fresh copy. From `settings`: `steps`, `noise`/`mix`
    (see `make_noise`), `smoothing` (the strength at the noisiest step, see
    `smoothing_schedule`), `window`, `overlap` and `batch_size`. Memory holds one window plus
    the tied frames' trajectory (ceil(overlap / 2) x (steps + 1) latents), whatever
    `num_frames` is; overlap >= 4 (twice the smoothing kernel's radius) makes seams as smooth
    as a window's inside, at the cost of overlap // 2 frames computed twice per window.
    `progress("steps", done, total)` is called after every denoising step. `step_kwargs` go to
    `scheduler.step` (e.g. `{"eta": 1.0}` for DDIM). The noise comes from `generator`, or from
    `settings.seed` when None. Same seed, same device: identical output, independent of
    `batch_size`. Argument errors raise here, not at the first frame.
    """
    if int(num_frames) != num_frames or num_frames < 1:
        raise InputError(f"number of frames must be an integer >= 1, got {num_frames}")
    steps = _steps(settings)
    settings = settings.for_frames(int(num_frames))
    noise = FrameNoise.from_generator(_generator_for(settings, generator), settings.noise, settings.mix)
    spans = _windows(int(num_frames), settings.window, settings.overlap)
    return _sample_video(denoiser, noise, spans, latent_shape, scheduler, steps, settings, progress,
                         dict(step_kwargs or {}), dtype, device)


def _sample_video(denoiser, noise, spans, latent_shape, scheduler, steps, settings, progress, step_kwargs,
                  dtype, device) -> Iterator[Tensor]:
    # A separate generator function, so argument errors surface at the call, not at first next().
    done = 0
    total = None
    carry = None
    overlap = settings.overlap
    tied = overlap - overlap // 2
    for w_idx, (start, first, stop, end) in enumerate(spans):
        sched = _fresh(scheduler)
        sched.set_timesteps(steps, device=device)
        n_steps = len(sched.timesteps)
        if total is None:
            total = n_steps * len(spans)
        strengths = smoothing_schedule(n_steps, settings.smoothing)

        def tick() -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress("steps", done, total)

        x = noise.initial(range(first, end), latent_shape, dtype, device) * sched.init_noise_sigma
        frames = torch.arange(first, end, device=device)
        last = w_idx == len(spans) - 1
        # The next window starts `overlap` frames before this one's end and ties its first `tied`.
        keep = None if last or tied == 0 else slice(end - overlap - start, end - overlap - start + tied)
        x, carry = _denoise_window(denoiser, sched, x, frames, noise, strengths, carry, keep, settings.batch_size,
                                   tick, step_kwargs)
        for j in range(stop - first):
            yield x[j].clone()
        del x


def sample_image(
    denoiser: Denoiser,
    latent_shape: Sequence[int],
    scheduler,
    settings: Settings = Settings(),
    *,
    num_samples: int = 1,
    generator: torch.Generator | None = None,
    progress: Progress | None = None,
    step_kwargs: dict | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> Tensor:
    """The single-image path: `num_samples` independent samples [num_samples, C, h, w] of one
    target (the denoiser sees frame_index 0 for all of them); `settings.steps` and
    `settings.batch_size` apply, the noise is always independent."""
    if int(num_samples) != num_samples or num_samples < 1:
        raise InputError(f"number of samples must be an integer >= 1, got {num_samples}")
    num_samples = int(num_samples)
    steps = _steps(settings)
    noise = FrameNoise.from_generator(_generator_for(settings, generator), "independent")
    sched = _fresh(scheduler)
    sched.set_timesteps(steps, device=device)
    n_steps = len(sched.timesteps)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress("steps", done, n_steps)

    x = noise.initial(range(num_samples), latent_shape, dtype, device) * sched.init_noise_sigma
    # Step noise is keyed by sample number (as frames would be), the pose index is 0 for all.
    denoise_as_zero: Denoiser = lambda x_t, t, idx: denoiser(x_t, t, torch.zeros_like(idx))  # noqa: E731
    x, _ = _denoise_window(denoise_as_zero, sched, x, torch.arange(num_samples, device=device), noise,
                           [0.0] * n_steps, None, None, settings.batch_size, tick, dict(step_kwargs or {}))
    return x
