"""The latent space: Stable Diffusion's VAE from a local folder, or a tiny one for CPU.

Both are diffusers `AutoencoderKL`s, so they save, load and behave the same way. `Vae`
keeps the pixel convention of the rest of signgen (float images in [0, 1]) and applies the
scaling factor, so callers never see the VAE's [-1, 1] range or its raw latent scale.
`encode` returns the posterior MEAN by default (deterministic, so cached training latents
and tests are reproducible); pass `sample=True` with a generator for posterior samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import AutoencoderKL
from torch import nn

from ..errors import InputError

__all__ = ["VAEConfig", "Vae", "load_vae", "vae_folder"]


@dataclass
class VAEConfig:
    """Architecture of a VAE built from scratch (ignored for a pretrained folder's weights).

    The default: 64x64 RGB -> 16x16x4 latents (factor 4, three blocks). The `tiny` size
    overrides it with `block_out_channels=(32, 64)`: factor 2, 32x32x4 latents.
    `scaling_factor` makes latents roughly unit-variance; 1.0 until a tiny VAE is trained and
    measured (SD's VAE brings its own, 0.18215).
    """

    image_size: tuple[int, int] = (64, 64)
    in_channels: int = 3
    latent_channels: int = 4
    block_out_channels: tuple[int, ...] = (32, 64, 64)
    layers_per_block: int = 1
    norm_num_groups: int = 32
    scaling_factor: float = 1.0
    mid_block_add_attention: bool = True

    @property
    def factor(self) -> int:
        """Image size / latent size: one downsampling per block but the last."""
        return 2 ** (len(self.block_out_channels) - 1)


def _model_from_config(config: VAEConfig) -> AutoencoderKL:
    n = len(config.block_out_channels)
    return AutoencoderKL(
        in_channels=config.in_channels,
        out_channels=config.in_channels,
        down_block_types=("DownEncoderBlock2D",) * n,
        up_block_types=("UpDecoderBlock2D",) * n,
        block_out_channels=tuple(config.block_out_channels),
        layers_per_block=config.layers_per_block,
        latent_channels=config.latent_channels,
        norm_num_groups=config.norm_num_groups,
        sample_size=int(max(config.image_size)),
        scaling_factor=config.scaling_factor,
        mid_block_add_attention=config.mid_block_add_attention,
    )


def _config_from_model(model: AutoencoderKL, image_size: tuple[int, int]) -> VAEConfig:
    c = model.config
    return VAEConfig(
        image_size=tuple(image_size),
        in_channels=c.in_channels,
        latent_channels=c.latent_channels,
        block_out_channels=tuple(c.block_out_channels),
        layers_per_block=c.layers_per_block,
        norm_num_groups=c.norm_num_groups,
        scaling_factor=float(c.scaling_factor),
        mid_block_add_attention=bool(c.get("mid_block_add_attention", True)),
    )


class Vae(nn.Module):
    """An `AutoencoderKL` with [0, 1] images in and scaled latents out."""

    def __init__(self, model: AutoencoderKL, config: VAEConfig) -> None:
        super().__init__()
        self.model = model
        self.config = config

    @classmethod
    def from_config(cls, config: VAEConfig) -> "Vae":
        """A freshly initialised VAE of the given architecture."""
        return cls(_model_from_config(config), config)

    @property
    def factor(self) -> int:
        return self.config.factor

    @property
    def scaling_factor(self) -> float:
        return float(self.model.config.scaling_factor)

    def encode(self, images: torch.Tensor, *, sample: bool = False,
               generator: torch.Generator | None = None, chunk_size: int = 16) -> torch.Tensor:
        """Images [B, C, H, W] in [0, 1] -> latents * scaling_factor (posterior mean by default)."""
        out = []
        for x in images.split(chunk_size):
            dist = self.model.encode(x.to(self.model.dtype) * 2 - 1).latent_dist
            z = dist.sample(generator) if sample else dist.mean
            out.append(z * self.scaling_factor)
        return torch.cat(out)

    def decode(self, latents: torch.Tensor, *, chunk_size: int = 8) -> torch.Tensor:
        """Scaled latents -> images in [0, 1], `chunk_size` at a time so memory stays bounded."""
        out = []
        for z in latents.split(chunk_size):
            x = self.model.decode(z.to(self.model.dtype) / self.scaling_factor).sample
            out.append(((x + 1) / 2).clamp(0, 1))
        return torch.cat(out)


def vae_folder(folder: str | Path) -> Path:
    """Find the VAE inside a local diffusers folder (`<sd>/vae/` or the VAE folder itself).

    Raises InputError unless it holds config.json and safetensors weights: pickle-based
    `.bin` weights are refused, never loaded.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("VAE folder does not exist", folder)
    sub = folder / "vae" if (folder / "vae" / "config.json").is_file() else folder
    if not (sub / "config.json").is_file():
        raise InputError("not a diffusers VAE folder (no config.json, no vae/config.json)", folder)
    if not any(sub.glob("*.safetensors")):
        if any(sub.glob("*.bin")):
            raise InputError("VAE weights are pickle-based (.bin); only .safetensors are loaded", sub)
        raise InputError("VAE weights missing (no .safetensors file)", sub)
    return sub


def load_vae(folder: str | Path | None, config: VAEConfig, *,
             dtype: torch.dtype = torch.float32) -> Vae:
    """Stable Diffusion's VAE from a local folder, or a new VAE built from `config` (folder None).

    A pretrained VAE brings its own architecture and scaling factor; `config.image_size`
    is kept. Its weights are frozen by the caller, not here.
    """
    if folder is None:
        return Vae.from_config(config).to(dtype)
    sub = vae_folder(folder)
    try:
        model = AutoencoderKL.from_pretrained(sub, use_safetensors=True, torch_dtype=dtype)
    except (OSError, ValueError, EnvironmentError) as e:
        raise InputError(f"cannot load VAE ({str(e).splitlines()[0]})", sub) from None
    return Vae(model, _config_from_model(model, config.image_size))
