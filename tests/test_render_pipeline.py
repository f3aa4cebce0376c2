"""The render pipeline's contracts: source encoded once, the guidance branches of nonzero weight
in one UNet call, each frame encoded once, bounded per-frame state, streaming, one consistent
picture <-> model mapping; and the speed levers: every sampler on target, bf16 near fp32,
the parts timed."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from signgen.errors import InputError
from signgen.geometry import Fit
from signgen.models.device import auto_precision, autocast_context
from signgen.pose.track import PoseTrack
from signgen.rendering.pipeline import Renderer, _PoseConditions
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


def test_fit_maps_points_and_pixels_the_same_way():
    img = np.zeros((40, 80, 3), np.uint8)
    img[10:20, 20:30] = 255  # a white square
    for mode in ("stretch", "letterbox"):
        fit = Fit(80, 40, 64, 64, mode)
        model = fit.to_model(img)
        assert model.shape == (64, 64, 3)
        centre = fit.points_to_model(np.array([[25.0, 15.0]]))[0]
        assert model[int(centre[1]), int(centre[0])].min() > 200  # the square's centre lands on it
        back = fit.from_model(model)
        assert back.shape == img.shape
        assert np.abs(back.astype(int) - img.astype(int)).mean() < 20
    lb = Fit(80, 40, 64, 64, "letterbox")
    assert lb.inner == (0, 16, 64, 32)
    assert lb.to_model(np.full((40, 80, 3), 255, np.uint8))[:16].max() == 0  # black bars


def test_source_encoded_once_and_branches_batched(renderer, monkeypatch):
    enc, vae = renderer.bundle.stage1.encoder, renderer.bundle.vae
    calls = {"encoder": 0, "pose_calls": 0, "pose_frames": 0, "unet": [], "vae_encode": 0}
    real_et, real_embed, real_vae_encode = enc.embed_and_tokens, enc.embed, vae.encode

    def counting_et(x):
        calls["encoder"] += 1
        return real_et(x)

    def counting_embed(x):
        calls["pose_calls"] += 1
        calls["pose_frames"] += x.shape[0]
        return real_embed(x)  # goes through embed_and_tokens too

    def counting_vae_encode(x, *a, **k):
        calls["vae_encode"] += x.shape[0]
        return real_vae_encode(x, *a, **k)

    monkeypatch.setattr(enc, "embed_and_tokens", counting_et)
    monkeypatch.setattr(enc, "embed", counting_embed)
    monkeypatch.setattr(vae, "encode", counting_vae_encode)
    hook = renderer.bundle.stage2.unet.register_forward_pre_hook(lambda m, a: calls["unet"].append(a[0].shape[0]))
    try:
        frames = renderer.render_video(_picture(), _track(10), Settings(steps=2, window=4, overlap=2, batch_size=2))
        out = list(frames)
    finally:
        hook.remove()
    assert len(out) == 10 and out[0].shape == (40, 48, 3)
    assert calls["encoder"] - calls["pose_calls"] == 1  # the source picture: once per clip
    assert calls["pose_frames"] == 10  # each frame's pose embedded once (cached within a window)
    assert calls["vae_encode"] == 1  # the source latents: one picture, once per clip
    assert all(b % 2 == 0 for b in calls["unet"])  # uncond + full in one call of 2N (src+pose cancels)
    assert max(calls["unet"]) == 4  # batch 2 x 2 branches


def test_frames_stream_and_state_stays_bounded(renderer, monkeypatch):
    sizes = []
    real_call = _PoseConditions.__call__

    def spy(self, idx):
        out = real_call(self, idx)
        sizes.append(len(self.cache))
        return out

    monkeypatch.setattr(_PoseConditions, "__call__", spy)
    steps = []
    frames = renderer.render_video(_picture(), _track(24), Settings(steps=2, window=4, overlap=2, decode_chunk=2),
                                   progress=lambda what, done, total: steps.append((what, done, total)))
    first = next(frames)
    assert first.shape == (40, 48, 3)
    done_steps = max(d for w, d, _ in steps if w == "steps")
    total_steps = steps[-1][2] if steps[-1][0] == "steps" else max(t for w, _, t in steps if w == "steps")
    assert done_steps < total_steps  # the first frame came out before the clip was denoised
    rest = list(frames)
    assert len(rest) == 23
    assert max(sizes) <= 6  # window + overlap frames, not the clip's 24
    assert ("frames", 24, 24) in steps


def test_track_must_be_in_the_pictures_pixels(renderer):
    with pytest.raises(Exception, match="map it first"):
        renderer.render_video(_picture(), _track(3, w=100, h=100), Settings(steps=1))


def test_settings_are_checked(renderer):
    for bad, msg in (({"steps": 0}, "--steps"), ({"smoothing": 2.0}, "--smoothing"),
                     ({"guidance": -1.0}, "--guidance")):
        with pytest.raises(Exception, match=msg):
            renderer.render_video(_picture(), _track(3), Settings(**bad))


def test_synthesize_samples_differ_and_repeat_with_the_seed(renderer):
    pose = _track(1)
    a = renderer.synthesize(_picture(), pose, 2, Settings(steps=2, seed=3))
    b = renderer.synthesize(_picture(), pose, 2, Settings(steps=2, seed=3))
    assert len(a) == 2 and a[0].shape == (40, 48, 3)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], a[1])


def test_denoiser_wires_the_three_branches(renderer):
    """w = 1 gives the fully conditioned prediction, w = 0 the unconditional one."""
    source = renderer.encode_source(_picture())
    track = _track(3)
    xy = source.fit.points_to_model(track.xy)
    cond = _PoseConditions(renderer, xy, track.conf, source, capacity=4)
    x = torch.randn(2, *renderer.latent_shape, generator=torch.Generator().manual_seed(0))
    t, idx = torch.tensor(500), torch.tensor([0, 2])
    poses, fused = cond.inputs(idx)
    stage2 = renderer.bundle.stage2
    with torch.no_grad():
        full = stage2(x, t, fused, source.tokens, poses, src_latents=source.latents)
        uncond = stage2(x, t, fused, source.tokens, poses, drop_mask=torch.ones(2, 3, dtype=torch.bool),
                        src_latents=source.latents)
        torch.testing.assert_close(renderer.denoiser(source, cond, 1.0)(x, t, idx), full, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(renderer.denoiser(source, cond, 0.0)(x, t, idx), uncond, rtol=1e-4, atol=1e-5)
        # The denoiser hands stage 2 the source's latents: other latents, another prediction.
        blank = dataclasses.replace(source, latents=torch.zeros_like(source.latents))
        assert (renderer.denoiser(blank, cond, 1.0)(x, t, idx) - full).abs().max() > 1e-4
    assert not torch.allclose(full, uncond)


def test_encode_source_gives_the_pictures_vae_latents(renderer):
    picture = _picture()
    source = renderer.encode_source(picture)
    assert renderer.bundle.stage2.config.src_latent_channels == 4
    assert source.latents is not None and tuple(source.latents.shape) == (1, 4, 32, 32)
    assert renderer.latent_shape == (4, 32, 32)
    assert source.latents.dtype == renderer.dtype and torch.isfinite(source.latents).all()
    with torch.no_grad():  # the fitted (model-sized) picture through the bundle's VAE
        ref = renderer.bundle.vae.encode(renderer.image_tensor([source.fit.to_model(picture)]))
    torch.testing.assert_close(source.latents, ref.to(renderer.dtype))
    other = renderer.encode_source(255 - picture)
    assert (other.latents - source.latents).abs().max() > 1e-3


def test_stage2_without_fusion_ignores_the_fusion_embedding(bundle):
    """drop_fusion = 1 (stage 2 trained alone): the denoiser runs the uncond and src+pose branches
    only, so the fusion embedding (stage 1's output) changes nothing, whatever the weights."""
    plain = Renderer.load(bundle, "cpu")
    alone = Renderer.load(bundle, "cpu")
    alone.bundle.stage2.config = dataclasses.replace(alone.bundle.stage2.config, drop_fusion=1.0)
    source = alone.encode_source(_picture())
    track = _track(3)
    cond = _PoseConditions(alone, source.fit.points_to_model(track.xy), track.conf, source, capacity=4)
    x = torch.randn(2, *alone.latent_shape, generator=torch.Generator().manual_seed(0))
    t, idx = torch.tensor(500), torch.tensor([0, 2])
    poses, fused = cond.inputs(idx)
    other_fused = torch.nn.functional.normalize(torch.randn(fused.shape, generator=torch.Generator().manual_seed(1)),
                                                dim=-1).to(fused.dtype)
    other = lambda i: alone.encode_frames(other_fused, poses)  # noqa: E731  same poses, another fusion output
    seen = []
    hook = alone.bundle.stage2.unet.register_forward_pre_hook(lambda m, a: seen.append(a[0].shape[0]))
    try:
        with torch.no_grad():
            sp = alone.bundle.stage2(x, t, fused, source.tokens, poses, src_latents=source.latents,
                                     drop_mask=torch.tensor([[False, False, True]] * 2))
            seen.clear()
            for w, wf in ((2.0, None), (1.0, None), (2.0, 3.0)):
                a = alone.denoiser(source, cond, w, wf)(x, t, idx)
                b = alone.denoiser(source, other, w, wf)(x, t, idx)
                # equal up to float noise: the pose features of `other` are computed in another
                # batch size, which on some CPUs (AVX2 oneDNN kernels) rounds differently (~1e-6)
                torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
                if w == 1.0:  # w = 1: the src+pose prediction itself
                    torch.testing.assert_close(a, sp, rtol=1e-4, atol=1e-5)
            # The same bundle with the fusion path on does depend on it (so the check above can fail).
            p_src = plain.encode_source(_picture())
            p_cond = _PoseConditions(plain, p_src.fit.points_to_model(track.xy), track.conf, p_src, capacity=4)
            p_other = lambda i: plain.encode_frames(other_fused, p_cond.inputs(i)[0])  # noqa: E731
            a, b = plain.denoiser(p_src, p_cond, 2.0)(x, t, idx), plain.denoiser(p_src, p_other, 2.0)(x, t, idx)
    finally:
        hook.remove()
    # 2 frames x (uncond, src+pose) per call, even with a separate fusion weight; w = 1: src+pose alone
    assert seen == [4, 4, 2, 2, 4, 4]
    assert (a - b).abs().max() > 1e-4


def test_letterbox_bundle_keeps_the_pictures_size(renderer):
    boxed = Renderer(renderer.bundle, resize="letterbox")
    frames = list(boxed.render_video(_picture(80, 40), _track(2, 80, 40), Settings(steps=1)))
    assert len(frames) == 2 and frames[0].shape == (40, 80, 3)
    with pytest.raises(Exception, match="resize mode"):
        Renderer(renderer.bundle, resize="crop")


def test_two_branch_guidance_equals_fpdm_three_branch(renderer):
    """With one weight, eps_u + w(eps_sp - eps_u) + w(eps_full - eps_sp) needs no src+pose branch."""
    from signgen.rendering.guidance import combine_guidance

    stage2 = renderer.bundle.stage2
    g = torch.Generator().manual_seed(0)
    C, h, w = renderer.latent_shape
    x = torch.randn(3, C, h, w, generator=g)
    fused = torch.nn.functional.normalize(torch.randn(3, stage2.config.fusion_dim, generator=g), dim=-1)
    tokens = torch.randn(1, 16, stage2.config.token_dim, generator=g)
    pose = torch.rand(3, 3, h * stage2.config.pose_factor, w * stage2.config.pose_factor, generator=g)
    src_latents = torch.randn(1, C, h, w, generator=g)
    with torch.no_grad():
        u, sp, full = stage2.forward_branches(x, 500, fused, tokens, pose, src_latents=src_latents)
        u2, full2 = stage2.forward_branches(x, 500, fused, tokens, pose, ("uncond", "full"), src_latents=src_latents)
    torch.testing.assert_close(combine_guidance(u, sp, full, 2.0), u2 + 2.0 * (full2 - u2), rtol=1e-4, atol=1e-5)

    seen = []
    hook = stage2.unet.register_forward_pre_hook(lambda m, a: seen.append(a[0].shape[0]))
    try:
        two = list(renderer.render_video(_picture(), _track(3), Settings(steps=2, guidance=2.0)))
        three = list(renderer.render_video(_picture(), _track(3), Settings(steps=2, guidance=2.0, fusion_guidance=3.0)))
    finally:
        hook.remove()
    assert seen == [6, 6, 9, 9]  # 3 frames x 2 branches, then x 3 branches with a separate fusion weight
    assert any((a != b).any() for a, b in zip(two, three))


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
