"""Named model sizes: consistent configs; tiny builds for real, the SD sizes match SD 2.1's UNet."""

from __future__ import annotations

import pytest
import torch

from signgen.errors import InputError
from signgen.models.sizes import get_size, list_sizes
from signgen.models.stage2 import Stage2

# Parameters of Stable Diffusion 2.1's UNet (stabilityai/stable-diffusion-2-1[-base]).
SD21_UNET_PARAMS = 865_910_724


def test_registry_names_and_unknown_name():
    assert list_sizes() == ["tiny", "small", "phoenix", "deepfashion"]
    with pytest.raises(InputError, match="unknown model size 'huge'; known sizes: tiny, small, phoenix, deepfashion"):
        get_size("huge")


@pytest.mark.parametrize("name", ["tiny", "phoenix", "deepfashion"])
def test_sizes_are_consistent(name):
    s = get_size(name)
    h, w = s.image_size
    assert tuple(s.stage2.latent_size) == (h // s.vae.factor, w // s.vae.factor)
    assert s.stage2.pose_factor == s.vae.factor
    assert s.steps == 20 and s.guidance == 2.0


def test_get_size_returns_fresh_objects():
    a = get_size("tiny")
    a.stage2.drop_pose = 0.9
    assert get_size("tiny").stage2.drop_pose == 0.2


def test_check_catches_mismatch():
    s = get_size("tiny")
    s.stage2.pose_embed_channels = (16, 32, 64, 128)
    with pytest.raises(ValueError, match="pose stack downsamples by 8, VAE by 2"):
        s.check()


def test_tiny_geometry():
    """tiny: factor-2 VAE -> 32x32x4 latents, a 2-level pose stack, source latents concatenated,
    no attention at the 32x32 level, a ~4.2M-parameter UNet."""
    s = get_size("tiny")
    assert s.vae.block_out_channels == (32, 64) and s.vae.factor == 2
    assert tuple(s.stage2.latent_size) == (32, 32) and s.stage2.latent_channels == 4
    assert s.stage2.pose_embed_channels == (16, 32) and s.stage2.pose_factor == 2
    assert s.stage2.src_latent_channels == 4
    assert s.stage2.down_block_types[0] == "DownBlock2D" and s.stage2.up_block_types[-1] == "UpBlock2D"
    m = Stage2(s.stage2)
    assert m.unet.config.in_channels == 4 + 4 + 32
    assert 4.0e6 < sum(p.numel() for p in m.unet.parameters()) < 4.5e6
    assert 4.2e6 < sum(p.numel() for p in m.parameters()) < 4.5e6  # with the conditioners
    # The SD sizes keep FPDM's design: source via cross-attention tokens only.
    assert get_size("phoenix").stage2.src_latent_channels == get_size("deepfashion").stage2.src_latent_channels == 0


def test_tiny_encoder_dims_match_the_size():
    from signgen.models.fusion import Stage1

    s = get_size("tiny")
    stage1 = Stage1.from_config(s.stage1)
    with torch.no_grad():
        tokens = stage1.encoder.tokens(torch.rand(1, 3, 64, 64))
    assert stage1.encoder.config.embed_dim == s.stage2.fusion_dim
    assert tokens.shape[-1] == s.stage2.token_dim


@pytest.mark.parametrize("name", ["phoenix", "deepfashion"])
def test_sd_sizes_have_sd21_unet(name):
    """Built on the meta device (no memory): SD 2.1's UNet plus our zero pose channels in conv_in."""
    s = get_size(name)
    with torch.device("meta"):
        m = Stage2(s.stage2)
    extra = m.unet.conv_in.weight.shape[0] * (m.unet.conv_in.weight.shape[1] - 4) * 9
    assert sum(p.numel() for p in m.unet.parameters()) - extra == SD21_UNET_PARAMS
    assert m.config.pose_embed_channels == (16, 32, 96, 256)
    h, w = s.image_size
    with torch.device("meta"):
        out = m(torch.empty(2, 4, h // 8, w // 8), 10, torch.empty(1, 768), torch.empty(1, 257, 1024),
                torch.empty(2, 3, h, w), drop_mask=torch.zeros(2, 3, dtype=torch.bool))
    assert out.shape == (2, 4, h // 8, w // 8)
