"""Initialising stage 2 from a Stable Diffusion 2.x diffusers folder (a tiny one made here)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel

from signgen.errors import InputError
from signgen.models.sd_init import init_stage2_from_sd, read_sd_unet, sd_scheduler_config
from signgen.models.sizes import SD21_SCHEDULER, get_size
from signgen.models.stage2 import Stage2, Stage2Config
from signgen.models.vae import VAEConfig, load_vae


def _config():
    # SD-2-like structure (cross-attention in the upper levels, linear projections in the
    # transformers, no source latents, a factor-4 pose stack like the folder's VAE), tiny widths.
    return Stage2Config(latent_size=(16, 16), fusion_dim=128, token_dim=128, use_linear_projection=True,
                        src_latent_channels=0, pose_embed_channels=(16, 32, 64))


@pytest.fixture(scope="module")
def sd_folder(tmp_path_factory) -> Path:
    """A tiny folder in Stable Diffusion 2.x's diffusers layout, written with save_pretrained."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("sd") / "tiny-sd"
    kwargs = dict(_config().unet_kwargs(), in_channels=4, class_embed_type=None)
    unet = UNet2DConditionModel(**kwargs)
    with torch.no_grad():  # non-trivial values everywhere, so copies are recognisable
        for p in unet.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    unet.save_pretrained(folder / "unet", safe_serialization=True)
    AutoencoderKL(block_out_channels=(32, 64, 64), down_block_types=("DownEncoderBlock2D",) * 3,
                  up_block_types=("UpDecoderBlock2D",) * 3, latent_channels=4,
                  sample_size=64).save_pretrained(folder / "vae", safe_serialization=True)
    DDPMScheduler.from_config(SD21_SCHEDULER).save_pretrained(folder / "scheduler")
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    return folder


def test_copies_matching_weights_and_zeroes_pose_channels(sd_folder):
    _, sd = read_sd_unet(sd_folder)
    torch.manual_seed(1)
    stage2 = Stage2(_config())
    mlp_before = stage2.class_mlp[0].weight.clone()
    report = init_stage2_from_sd(stage2, sd_folder)

    name = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight"
    assert torch.equal(stage2.unet.state_dict()[name], sd[name])
    assert torch.equal(stage2.unet.time_embedding.linear_1.weight, sd["time_embedding.linear_1.weight"])
    w = stage2.unet.conv_in.weight
    assert torch.equal(w[:, :4], sd["conv_in.weight"])
    assert (w[:, 4:] == 0).all()
    assert torch.equal(stage2.unet.conv_in.bias, sd["conv_in.bias"])

    assert report.partial == ["unet.conv_in.weight"]
    assert f"unet.{name}" in report.copied
    assert len(report.copied) == len(sd) - 1  # every SD tensor but conv_in.weight fits whole
    assert report.mismatched == [] and report.unused == []
    assert "class_mlp.0.weight" in report.new and "pose_embed.conv_in.weight" in report.new
    assert torch.equal(stage2.class_mlp[0].weight, mlp_before)  # new layers untouched
    assert "copied" in report.summary()


def test_stage2_with_src_latents_gets_zero_src_and_pose_channels(sd_folder):
    """A stage 2 that also concatenates the source latents: SD's conv_in fills the noisy-latent
    channels only; source-latent and pose channels start at zero, so at init neither matters."""
    _, sd = read_sd_unet(sd_folder)
    torch.manual_seed(1)
    stage2 = Stage2(dataclasses.replace(_config(), src_latent_channels=4)).eval()
    report = init_stage2_from_sd(stage2, sd_folder)
    w = stage2.unet.conv_in.weight
    assert w.shape[1] == 4 + 4 + 64
    assert torch.equal(w[:, :4], sd["conv_in.weight"]) and (w[:, 4:] == 0).all()
    assert report.partial == ["unet.conv_in.weight"] and report.mismatched == []
    g = torch.Generator().manual_seed(2)
    args = (torch.randn(2, 4, 16, 16, generator=g), 999, torch.randn(1, 128, generator=g),
            torch.randn(1, 5, 128, generator=g), torch.rand(2, 3, 64, 64, generator=g))
    with torch.no_grad():
        a = stage2(*args, src_latents=torch.randn(1, 4, 16, 16, generator=g))
        b = stage2(*args, src_latents=torch.zeros(1, 4, 16, 16))
    torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_vae_and_scheduler_come_from_the_same_folder(sd_folder):
    vae = load_vae(sd_folder, VAEConfig(image_size=(64, 64)))
    assert vae.factor == 4 and vae.scaling_factor == pytest.approx(0.18215)
    cfg = sd_scheduler_config(sd_folder)
    assert cfg["_class_name"] == "DDPMScheduler" and cfg["beta_schedule"] == "scaled_linear"


def test_initialised_model_runs(sd_folder):
    stage2 = Stage2(_config()).eval()
    init_stage2_from_sd(stage2, sd_folder)
    with torch.no_grad():
        out = stage2(torch.randn(2, 4, 16, 16), 999, torch.randn(1, 128), torch.randn(1, 5, 128),
                     torch.rand(2, 3, 64, 64))
    assert out.shape == (2, 4, 16, 16) and torch.isfinite(out).all()


def test_bad_folders(sd_folder, tmp_path):
    with pytest.raises(InputError, match="Stable Diffusion folder does not exist"):
        init_stage2_from_sd(Stage2(_config()), tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"no unet/config.json"):
        init_stage2_from_sd(Stage2(_config()), tmp_path / "empty")
    # Pickle weights only: refused, never loaded.
    pickled = tmp_path / "pickled"
    UNet2DConditionModel.from_pretrained(sd_folder / "unet").save_pretrained(
        pickled / "unet", safe_serialization=False)
    with pytest.raises(InputError, match=r"pickle-based \(\.bin\)"):
        init_stage2_from_sd(Stage2(_config()), pickled)
    # An SD UNet of another width matches nothing.
    other = tmp_path / "other"
    kwargs = dict(_config().unet_kwargs(), in_channels=4, class_embed_type=None, block_out_channels=(64, 64, 64),
                  cross_attention_dim=96)
    UNet2DConditionModel(**kwargs).save_pretrained(other / "unet", safe_serialization=True)
    with pytest.raises(InputError, match=r"UNet architecture differs from stage 2's: block_out_channels \[64, 64, 64\] != \(32, 64, 128\); cross_attention_dim 96 != 128"):
        init_stage2_from_sd(Stage2(_config()), other)


def test_build_bundle_from_sd_folder(sd_folder, tmp_path):
    from signgen.models.bundle import build_bundle, load_bundle

    size = get_size("tiny")
    size.stage2 = _config()
    b = build_bundle(size, sd_folder=sd_folder)
    _, sd = read_sd_unet(sd_folder)
    assert torch.equal(b.stage2.unet.conv_out.weight, sd["conv_out.weight"])
    assert b.vae.scaling_factor == pytest.approx(0.18215)
    assert b.scheduler.config.beta_schedule == "scaled_linear"
    assert "copied" in b.meta.extra["sd_init"]["summary"]
    b.save(tmp_path / "from-sd")
    assert torch.equal(load_bundle(tmp_path / "from-sd").stage2.unet.conv_out.weight, sd["conv_out.weight"])
