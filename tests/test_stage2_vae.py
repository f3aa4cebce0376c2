"""The VAE: small CPU VAE shapes and ranges, loading a local diffusers folder, refusing pickles."""

from __future__ import annotations

import pytest
import torch
from diffusers import AutoencoderKL

from signgen.errors import InputError
from signgen.models.vae import VAEConfig, Vae, load_vae


@pytest.fixture(scope="module")
def vae() -> Vae:
    torch.manual_seed(0)
    return load_vae(None, VAEConfig()).eval()


def _images(n: int = 3) -> torch.Tensor:
    return torch.rand(n, 3, 64, 64, generator=torch.Generator().manual_seed(0))


def test_default_vae_shapes_and_range(vae):
    assert vae.factor == 4
    with torch.no_grad():
        z = vae.encode(_images())
        x = vae.decode(z)
    assert z.shape == (3, 4, 16, 16)
    assert x.shape == (3, 3, 64, 64)
    assert x.min() >= 0 and x.max() <= 1


def test_tiny_size_vae_is_factor_2():
    """VAEConfig's default is factor 4; the `tiny` size overrides it with a factor-2 VAE."""
    from signgen.models.sizes import get_size

    torch.manual_seed(0)
    tiny = load_vae(None, get_size("tiny").vae).eval()
    assert tiny.factor == 2 and tiny.config.block_out_channels == (32, 64)
    with torch.no_grad():
        z = tiny.encode(_images(2))
        x = tiny.decode(z)
    assert z.shape == (2, 4, 32, 32) and x.shape == (2, 3, 64, 64)


def test_encode_is_posterior_mean_scaled(vae):
    imgs = _images(2)
    with torch.no_grad():
        a = vae.encode(imgs)
        b = vae.encode(imgs)
        raw = vae.model.encode(imgs * 2 - 1).latent_dist.mean * vae.scaling_factor
        s = vae.encode(imgs, sample=True, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(a, raw, atol=1e-6, rtol=1e-5)
    assert (s - a).abs().max() > 1e-4  # sampling adds posterior noise


def test_decode_in_chunks_equals_one_pass(vae):
    z = torch.randn(5, 4, 16, 16, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        chunked = vae.decode(z, chunk_size=2)
        whole = vae.decode(z, chunk_size=5)
    torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=1e-4)


def test_load_pretrained_folder_with_vae_subfolder(vae, tmp_path):
    vae.model.save_pretrained(tmp_path / "sd" / "vae", safe_serialization=True)
    loaded = load_vae(tmp_path / "sd", VAEConfig(image_size=(64, 64)))
    assert loaded.config.block_out_channels == (32, 64, 64)
    for k, v in vae.model.state_dict().items():
        assert torch.equal(v, loaded.model.state_dict()[k]), k
    # The VAE folder itself works too.
    assert isinstance(load_vae(tmp_path / "sd" / "vae", VAEConfig()).model, AutoencoderKL)


def test_pickle_weights_and_missing_folder_are_refused(vae, tmp_path):
    folder = tmp_path / "vae"
    vae.model.save_pretrained(folder, safe_serialization=False)  # writes a pickle .bin
    assert any(folder.glob("*.bin"))
    with pytest.raises(InputError, match=r"pickle-based \(\.bin\)"):
        load_vae(folder, VAEConfig())
    with pytest.raises(InputError, match="VAE folder does not exist"):
        load_vae(tmp_path / "nope", VAEConfig())
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no config.json"):
        load_vae(tmp_path / "empty", VAEConfig())
