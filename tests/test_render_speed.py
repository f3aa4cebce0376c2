"""The speed levers keep their promises: branches of weight 0 are not run, each frame is encoded
once, every sampler name lands on the target, bf16 stays close to fp32, the parts are timed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from signgen.errors import InputError
from signgen.models.device import auto_precision, autocast_context
from signgen.pose.track import PoseTrack
from signgen.rendering.pipeline import Renderer
from signgen.rendering.sampler import sample_video
from signgen.rendering.schedulers import make_sampler
from signgen.rendering.settings import SAMPLERS, Settings
from signgen.rendering.timing import recording, timed


@pytest.fixture(scope="module")
def renderer(bundle) -> Renderer:
    return Renderer.load(bundle, "cpu")


def _track(n: int, w: int = 48, h: int = 40) -> PoseTrack:
    rng = np.random.default_rng(n)
    xy = np.stack([rng.uniform([5, 5], [w - 5, h - 5], (128, 2)) for _ in range(n)]).astype(np.float32)
    return PoseTrack(xy=xy, conf=np.ones((n, 128), np.float32), fps=25, width=w, height=h)


def _picture(w: int = 48, h: int = 40) -> np.ndarray:
    return (np.random.default_rng(1).random((h, w, 3)) * 255).astype(np.uint8)


def _unet_batches(renderer: Renderer, settings: Settings, frames: int = 4) -> list[int]:
    seen = []
    hook = renderer.bundle.stage2.unet.register_forward_pre_hook(lambda m, a: seen.append(a[0].shape[0]))
    try:
        list(renderer.render_video(_picture(), _track(frames), settings))
    finally:
        hook.remove()
    return seen


def test_guidance_one_runs_one_branch_and_weights_zero_are_skipped(renderer):
    s = Settings(steps=2, window=4, overlap=0, batch_size=4)
    assert set(_unet_batches(renderer, Settings(**{**s.__dict__, "guidance": 1.0}))) == {4}  # full only
    assert set(_unet_batches(renderer, Settings(**{**s.__dict__, "guidance": 2.0}))) == {8}  # uncond + full
    assert set(_unet_batches(renderer, Settings(**{**s.__dict__, "guidance": 2.0, "fusion_guidance": 0.0}))) == {8}
    assert set(_unet_batches(renderer, Settings(**{**s.__dict__, "guidance": 2.0, "fusion_guidance": 3.0}))) == {12}


def test_each_frame_is_encoded_once_not_per_step(renderer, monkeypatch):
    stage2 = renderer.bundle.stage2
    encoded = []
    real = stage2.pose_embed.forward
    monkeypatch.setattr(stage2.pose_embed, "forward", lambda x: (encoded.append(x.shape[0]), real(x))[1])
    list(renderer.render_video(_picture(), _track(6), Settings(steps=5, window=6, overlap=0)))
    assert sum(encoded) == 6  # 6 frames, 5 steps: once per frame


@pytest.mark.parametrize("name", SAMPLERS)
def test_every_sampler_keeps_the_schedule_and_lands_on_the_target(name):
    schedule = {"_class_name": "DDPMScheduler", "num_train_timesteps": 1000, "beta_schedule": "linear",
                "prediction_type": "sample", "clip_sample": False}
    sched = make_sampler(name, schedule)
    assert sched.config.prediction_type == "sample" and sched.config.num_train_timesteps == 1000
    target = torch.linspace(-0.5, 0.5, 5)[:, None, None, None].expand(5, 2, 4, 4)
    # A perfect clean-sample predictor: every sampler must return it, with shared-noise smoothing on.
    den = lambda x, t, idx: target[idx]  # noqa: E731
    out = torch.stack(list(sample_video(den, 5, (2, 4, 4), sched, Settings(steps=4, window=3, overlap=1,
                                                                             smoothing=0.5))))
    tol = 0.1 if name == "ddpm" else 1e-3  # DDPM's last step keeps a little noise
    assert (out - target).abs().mean() < tol
    with pytest.raises(InputError, match="unknown sampler"):
        make_sampler("euler", schedule)


def test_sampler_and_precision_are_checked_settings():
    with pytest.raises(InputError, match="--sampler must be one of"):
        Settings(sampler="euler")
    with pytest.raises(InputError, match="--precision must be one of"):
        Settings(precision="int8")


def test_bf16_stays_close_to_fp32(renderer):
    s = Settings(steps=3, sampler="ddim", window=4, overlap=0)
    a = np.stack(list(renderer.render_video(_picture(), _track(4), s)))
    b = np.stack(list(renderer.render_video(_picture(), _track(4), Settings(**{**s.__dict__, "precision": "bf16"}))))
    c = np.stack(list(renderer.render_video(_picture(), _track(4), Settings(**{**s.__dict__, "precision": "fp32"}))))
    exact = a if renderer.precision(s) == "fp32" else c
    assert np.abs(b.astype(np.float32) - exact).mean() < 3.0  # of 255
    assert auto_precision(torch.device("cpu"), torch.float16) == "fp32"  # fp16 weights: no autocast on top
    with pytest.raises(InputError):
        autocast_context(torch.device("cpu"), "int8")


def test_recording_collects_the_parts(renderer):
    with recording() as parts:
        list(renderer.render_video(_picture(), _track(3), Settings(steps=2)))
        with timed("ffmpeg"):
            pass
    assert {"pose drawing", "stage 1", "unet", "scheduler", "vae decode", "resize", "ffmpeg"} <= set(parts)
    assert parts["unet"] > 0
    with timed("unet"):  # outside a recording: nothing kept, nothing fails
        pass
