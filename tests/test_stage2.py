"""Stage 2: the conditioned stock UNet, condition dropout and three-branch guidance (tiny, CPU)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from signgen.models.sizes import get_size
from signgen.models.stage2 import DROP_FUSION, DROP_POSE, DROP_SRC, Stage2, Stage2Config

B, N_TOK = 3, 10
LAT = 4  # latent channels
H, W = get_size("tiny").stage2.latent_size  # 32x32: the tiny VAE downsamples 64x64 images by 2


def _config(**changes) -> Stage2Config:
    return dataclasses.replace(get_size("tiny").stage2, **changes)


@pytest.fixture(scope="module")
def model() -> Stage2:
    torch.manual_seed(0)
    return Stage2(_config()).eval()


def _inputs(seed: int = 1, batch: int = B, shared_source: bool = True):
    g = torch.Generator().manual_seed(seed)
    c = get_size("tiny").stage2
    nb = 1 if shared_source else batch
    return dict(
        noisy_latents=torch.randn(batch, LAT, H, W, generator=g),
        timesteps=torch.randint(0, 1000, (batch,), generator=g),
        fusion_emb=torch.randn(nb, c.fusion_dim, generator=g),
        src_tokens=torch.randn(nb, N_TOK, c.token_dim, generator=g),
        pose_image=torch.rand(batch, 3, 64, 64, generator=g),
        src_latents=torch.randn(nb, LAT, H, W, generator=g),
    )


def _perturb_pose_weights(model: Stage2) -> Stage2:
    """A copy whose source-latent and pose inputs to conv_in are no longer zero (as after some training)."""
    m = Stage2(model.config).eval()
    m.load_state_dict(model.state_dict())
    with torch.no_grad():
        m.unet.conv_in.weight[:, LAT:].normal_(0, 0.05, generator=torch.Generator().manual_seed(3))
    return m


def test_output_shape_and_shared_source_broadcast(model):
    x = _inputs()
    with torch.no_grad():
        out = model(**x)
        # Per-frame copies of the source give the same result as one broadcast source.
        full = dict(x, fusion_emb=x["fusion_emb"].expand(B, -1).clone(),
                    src_tokens=x["src_tokens"].expand(B, -1, -1).clone(),
                    src_latents=x["src_latents"].expand(B, -1, -1, -1).clone())
        out_full = model(**full)
    assert (H, W) == (32, 32)
    assert out.shape == (B, LAT, H, W)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, out_full, atol=1e-5, rtol=1e-5)


def test_unet_is_stock_diffusers_with_pose_channels(model):
    from diffusers import UNet2DConditionModel

    assert type(model.unet) is UNet2DConditionModel
    assert model.unet.config.class_embed_type == "identity"
    # [noisy latents ; source latents ; pose features]
    assert model.config.src_latent_channels == LAT
    assert model.unet.config.in_channels == LAT + LAT + model.config.pose_embed_channels[-1]
    assert model.config.pose_factor == get_size("tiny").vae.factor == 2


@pytest.mark.parametrize("name, cols", [("pose_image", slice(2 * LAT, None)), ("src_latents", slice(LAT, 2 * LAT))])
def test_zero_init_extra_inputs_do_not_change_output(model, name, cols):
    """conv_in's pose-feature and source-latent input weights start at zero: at init those inputs
    change nothing; once the weights are non-zero they matter (so the first check can fail)."""
    x = _inputs()
    other = torch.rand(x[name].shape, generator=torch.Generator().manual_seed(9))
    assert (model.unet.conv_in.weight[:, cols] == 0).all()
    with torch.no_grad():
        a = model(**x)
        b = model(**dict(x, **{name: other}))
        perturbed = _perturb_pose_weights(model)
        c = perturbed(**x)
        d = perturbed(**dict(x, **{name: other}))
    torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    assert (c - d).abs().max() > 1e-3


def test_forward_branches_equals_three_forwards_in_one_unet_call(model):
    m = _perturb_pose_weights(model)  # every condition has an effect
    x = _inputs(seed=5)
    calls = []
    handle = m.unet.register_forward_hook(lambda mod, args, out: calls.append(args[0].shape[0]))
    try:
        with torch.no_grad():
            u, sp, full = m.forward_branches(x["noisy_latents"], x["timesteps"], x["fusion_emb"],
                                             x["src_tokens"], x["pose_image"], src_latents=x["src_latents"])
            assert calls == [3 * B]  # one batched UNet call
            masks = {
                "u": torch.ones(B, 3, dtype=torch.bool),
                "sp": torch.tensor([[False, False, True]] * B),
                "full": torch.zeros(B, 3, dtype=torch.bool),
            }
            ref = {k: m(**x, drop_mask=v) for k, v in masks.items()}
    finally:
        handle.remove()
    torch.testing.assert_close(u, ref["u"], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(sp, ref["sp"], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(full, ref["full"], atol=1e-5, rtol=1e-4)
    # The three branches really differ (fusion and the other conditions act).
    assert (full - sp).abs().max() > 1e-4 and (sp - u).abs().max() > 1e-4


def test_scalar_timestep_accepted(model):
    x = _inputs()
    with torch.no_grad():
        a = model(**dict(x, timesteps=torch.full((B,), 500)))
        b = model(**dict(x, timesteps=500))
    torch.testing.assert_close(a, b)


def test_drop_mask_rates():
    m = Stage2(_config(drop_pose=0.0, drop_src=1.0, drop_fusion=0.2))
    mask = m.sample_drop_mask(4000, generator=torch.Generator().manual_seed(0))
    assert mask.shape == (4000, 3) and mask.dtype == torch.bool
    assert not mask[:, DROP_POSE].any()
    assert mask[:, DROP_SRC].all()
    assert 0.17 < mask[:, DROP_FUSION].float().mean() < 0.23
    # Independent per sample: not all rows alike.
    assert 0 < mask[:, DROP_FUSION].sum() < 4000


def test_training_mode_drops_as_configured(model):
    """p=1 in training equals an explicit all-dropped mask; p=0 equals nothing dropped."""
    x = _inputs()
    for p, expect in ((1.0, torch.ones(B, 3, dtype=torch.bool)), (0.0, torch.zeros(B, 3, dtype=torch.bool))):
        m = Stage2(_config(drop_pose=p, drop_src=p, drop_fusion=p, class_dropout=0.0, token_dropout=0.0))
        m.load_state_dict(_perturb_pose_weights(model).state_dict())
        with torch.no_grad():
            m.train()
            got = m(**x)
            m.eval()
            ref = m(**x, drop_mask=expect)
        torch.testing.assert_close(got, ref, atol=1e-6, rtol=0)
    # In eval mode nothing is dropped unless asked.
    with torch.no_grad():
        torch.testing.assert_close(model(**x), model(**x, drop_mask=torch.zeros(B, 3, dtype=torch.bool)))


def test_pose_size_must_match_latents(model):
    x = _inputs()
    with pytest.raises(ValueError, match="2x the latent size"):
        model(**dict(x, pose_image=torch.rand(B, 3, 32, 32)))  # pose features 16x16, latents 32x32
    with pytest.raises(ValueError, match="fusion_emb must be"):
        model(**dict(x, fusion_emb=torch.rand(B, 7)))


def test_few_optimisation_steps_lower_the_loss():
    torch.manual_seed(0)
    m = Stage2(_config()).train()
    x = _inputs(seed=2, batch=4, shared_source=False)
    noise = torch.randn(4, LAT, H, W, generator=torch.Generator().manual_seed(4))
    opt = torch.optim.AdamW(m.parameters(), lr=2e-3)
    no_drop = torch.zeros(4, 3, dtype=torch.bool)
    losses = []
    for _ in range(12):
        pred = m(**x, drop_mask=no_drop)
        loss = torch.nn.functional.mse_loss(pred, noise)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0], losses
    # Gradients reach every conditioner, including the (zero-initialised) pose and source-latent paths.
    assert m.pose_embed.conv_in.weight.grad.abs().sum() > 0
    assert m.unet.conv_in.weight.grad[:, LAT:2 * LAT].abs().sum() > 0
    assert m.class_mlp[0].weight.grad.abs().sum() > 0
    assert m.token_proj[0].weight.grad.abs().sum() > 0


# ---- source latents (src_latent_channels = latent_channels, the tiny size) ------------------


def test_config_src_latent_channels_must_be_zero_or_latent_channels():
    assert Stage2Config().src_latent_channels == 0  # FPDM's design by default
    assert Stage2Config(src_latent_channels=4).src_latent_channels == 4
    assert Stage2Config(latent_channels=8, src_latent_channels=8).unet_kwargs()["in_channels"] == 8 + 8 + 64
    for bad in (1, 3, 8, -4):
        with pytest.raises(ValueError, match=f"src_latent_channels must be 0 or 4, got {bad}"):
            Stage2Config(src_latent_channels=bad)
    with pytest.raises(ValueError, match="src_latent_channels must be 0 or 8, got 4"):
        Stage2Config(latent_channels=8, src_latent_channels=4)


def test_src_latents_are_required_and_checked(model):
    x = _inputs()
    args = (x["noisy_latents"], x["timesteps"], x["fusion_emb"], x["src_tokens"], x["pose_image"])
    missing = dict(x)
    del missing["src_latents"]
    with pytest.raises(ValueError, match=r"takes the source latents \(src_latents\)"):
        model(**missing)
    with pytest.raises(ValueError, match=r"takes the source latents \(src_latents\)"):
        model.forward_branches(*args)
    wrong = {
        "half size": torch.randn(1, LAT, H // 2, W // 2),
        "channels": torch.randn(1, LAT - 1, H, W),
        "no batch": torch.randn(LAT, H, W),
    }
    for what, bad in wrong.items():
        with pytest.raises(ValueError, match=r"src_latents must be \[B, 4, 32, 32\], got"):
            model(**dict(x, src_latents=bad))
        with pytest.raises(ValueError, match=r"src_latents must be \[B, 4, 32, 32\], got"):
            model.forward_branches(*args, src_latents=bad)
    with pytest.raises(ValueError, match="condition batch 2 is neither 1 nor 3"):
        model(**dict(x, src_latents=torch.randn(2, LAT, H, W)))


def test_drop_src_zeroes_the_src_latents(model):
    m = _perturb_pose_weights(model)
    x = _inputs(seed=7, shared_source=False)
    zero_src = dict(x, src_latents=torch.zeros_like(x["src_latents"]))
    with torch.no_grad():
        # Source dropped everywhere: the source latents are replaced by zeros.
        mask = torch.tensor([[False, True, False]] * B)
        torch.testing.assert_close(m(**x, drop_mask=mask), m(**zero_src, drop_mask=mask), atol=1e-6, rtol=0)
        # Not dropped, they count (so the equality above can fail).
        keep = torch.zeros(B, 3, dtype=torch.bool)
        assert (m(**x, drop_mask=keep) - m(**zero_src, drop_mask=keep)).abs().max() > 1e-3
        # Per sample: only the row that keeps its source differs from the zero-source run.
        mixed = torch.tensor([[False, True, False], [False, False, False], [True, True, True]])
        diff = (m(**x, drop_mask=mixed) - m(**zero_src, drop_mask=mixed)).abs().flatten(1).amax(1)
    assert diff[1] > 1e-3 and diff[0] == 0 and diff[2] == 0


def test_forward_branches_use_the_src_latents_except_uncond(model):
    m = _perturb_pose_weights(model)
    x = _inputs(seed=6)
    args = (x["noisy_latents"], x["timesteps"], x["fusion_emb"], x["src_tokens"], x["pose_image"])
    other = torch.randn(1, LAT, H, W, generator=torch.Generator().manual_seed(12))
    with torch.no_grad():
        u, sp, full = m.forward_branches(*args, src_latents=x["src_latents"])
        u2, sp2, full2 = m.forward_branches(*args, src_latents=other)
        # "uncond" equals an all-dropped forward with all-zero source latents.
        ref_u = m(**dict(x, src_latents=torch.zeros_like(other)), drop_mask=torch.ones(B, 3, dtype=torch.bool))
    torch.testing.assert_close(u, u2, atol=1e-6, rtol=0)
    torch.testing.assert_close(u, ref_u, atol=1e-5, rtol=1e-4)
    assert (sp - sp2).abs().max() > 1e-3 and (full - full2).abs().max() > 1e-3


def test_without_src_latent_channels_stage2_is_fpdm():
    """src_latent_channels = 0 (the SD sizes): no extra conv_in channels, no src_latents needed."""
    torch.manual_seed(0)
    m = Stage2(_config(src_latent_channels=0)).eval()
    assert m.unet.config.in_channels == LAT + m.config.pose_embed_channels[-1]
    x = _inputs()
    del x["src_latents"]
    with torch.no_grad():
        out = m(**x)
        u, sp, full = m.forward_branches(x["noisy_latents"], x["timesteps"], x["fusion_emb"],
                                         x["src_tokens"], x["pose_image"])
        ref = m(**x, drop_mask=torch.zeros(B, 3, dtype=torch.bool))
    assert out.shape == (B, LAT, H, W)
    torch.testing.assert_close(full, ref, atol=1e-5, rtol=1e-4)


def test_stage2_alone_ignores_the_fusion_embedding():
    """drop_fusion = 1 (trained without it): the embedding is always dropped, so "full" equals
    "src_pose" and a different embedding changes nothing; with drop_fusion < 1 it does."""
    x = _inputs(seed=3)
    args = (x["noisy_latents"], x["timesteps"], x["fusion_emb"], x["src_tokens"], x["pose_image"])
    for drop, differs in ((1.0, False), (0.2, True)):
        m = _perturb_pose_weights(Stage2(_config(drop_fusion=drop))).eval()
        with torch.no_grad():
            sp, full = m.forward_branches(*args, branches=("src_pose", "full"), src_latents=x["src_latents"])
        assert m.uses_fusion is differs
        assert bool((full - sp).abs().max() > 1e-4) is differs
