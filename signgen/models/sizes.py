"""Named model sizes, one table (like DiT's): pick a size by name, get every nested config.

* `tiny`        CPU-sized: 64x64 images, tiny VAE (factor 2 -> 32x32x4 latents), tiny open_clip
                ViT (width 128), a ~4.4M-parameter UNet that also takes the source image's
                latents. Trains and samples on a laptop CPU.
* `small`       CPU size at PHOENIX-2014-T's aspect: 128x160 (W x H) frames, a factor-4 VAE
                with 8 latent channels (32x40x8 latents), the tiny ViT, the tiny UNet. A hand is
                ~20 px here (6 px at 64x64): the size where handshapes can be read.
* `phoenix`     FPDM on RWTH-PHOENIX-Weather 2014T: frames resized to 256x256 (as the FPDM
                release does), CLIP ViT-L/14 encoder (768-d embedding, 1024-d tokens), Stable
                Diffusion 2.1-base UNet and VAE (32x32x4 latents), 20 DDPM steps, guidance 2.0.
* `deepfashion` FPDM on DeepFashion In-shop at 256x176 (H x W): same networks as `phoenix`,
                latents 32x22 (the UNet resizes its skip paths for the odd width; the FPDM
                release pads to 256x256 instead).

The SD-based sizes are meant to be initialised with `sd_init.init_stage2_from_sd` from a
local SD 2.x diffusers folder; their encoder weights come from `EncoderConfig.pretrained`.
Every call returns fresh config objects, so callers may edit them freely.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..errors import InputError
from . import EncoderConfig, FusionConfig, Stage1Config
from .stage2 import Stage2Config
from .vae import VAEConfig

__all__ = ["ModelSize", "get_size", "list_sizes", "SD21_SCHEDULER", "SD21_UNET"]

# Stable Diffusion 2.1-base's scheduler config (scheduler/scheduler_config.json).
SD21_SCHEDULER: dict = {
    "_class_name": "DDPMScheduler",
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
    "clip_sample": False,
    "set_alpha_to_one": False,
    "steps_offset": 1,
}

# Stable Diffusion 2.x UNet architecture (unet/config.json), in Stage2Config's field names.
SD21_UNET: dict = {
    "block_out_channels": (320, 640, 1280, 1280),
    "down_block_types": ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    "layers_per_block": 2,
    "attention_head_dim": (5, 10, 20, 20),
    "cross_attention_dim": 1024,
    "norm_num_groups": 32,
    "use_linear_projection": True,
    "upcast_attention": False,
}

# Stable Diffusion's VAE architecture (vae/config.json).
SD_VAE = dict(block_out_channels=(128, 256, 512, 512), layers_per_block=2, scaling_factor=0.18215)


@dataclass
class ModelSize:
    """One named size: every config needed to build stage 1, stage 2, the VAE and scheduler."""

    name: str
    image_size: tuple[int, int]  # (H, W) of the frames the model renders
    stage1: Stage1Config
    stage2: Stage2Config
    vae: VAEConfig
    scheduler: dict = field(default_factory=lambda: dict(SD21_SCHEDULER))
    steps: int = 20
    guidance: float = 2.0
    sampler: str = "ddpm"
    description: str = ""

    @property
    def encoder(self) -> EncoderConfig:
        return self.stage1.encoder

    @property
    def fusion(self) -> FusionConfig:
        return self.stage1.fusion

    def check(self) -> None:
        """Raise ValueError if the pieces do not fit together (dims, latent size, factors)."""
        h, w = self.image_size
        f = self.vae.factor
        problems = []
        if self.stage2.pose_factor != f:
            problems.append(f"pose stack downsamples by {self.stage2.pose_factor}, VAE by {f}")
        if h % f or w % f or tuple(self.stage2.latent_size) != (h // f, w // f):
            problems.append(f"latent size {tuple(self.stage2.latent_size)} != image {h}x{w} / {f}")
        if self.stage2.latent_channels != self.vae.latent_channels:
            problems.append("latent channels differ between UNet and VAE")
        if self.stage2.fusion_dim != self.stage1.fusion.embed_dim or self.stage1.fusion.embed_dim != self.encoder.embed_dim:
            problems.append("fusion embedding width differs between stage 1 and stage 2")
        if self.stage2.token_dim != self.encoder.token_dim:
            problems.append("token width differs between encoder and stage 2")
        if problems:
            raise ValueError(f"model size {self.name!r}: " + "; ".join(problems))


def _tiny() -> ModelSize:
    """CPU size. UNet (32, 64, 128) channels, 1 layer per block, cross-attention in the two
    lower levels (16x16 and 8x8; none at 32x32), the source latents concatenated to the noisy
    ones (~4.2M params, ~4.4M with the conditioners, ~11 ms/image forward on one core); tiny VAE
    (32, 64) = factor 2, 32x32x4 latents; pose stack (16, 32) = factor 2 like the VAE; linear
    DDPM schedule, epsilon target."""
    enc = EncoderConfig(arch="tiny", image_size=64, embed_dim=128, token_dim=128)
    return ModelSize(
        name="tiny",
        image_size=(64, 64),
        stage1=Stage1Config(encoder=enc, fusion=FusionConfig(embed_dim=128, hidden_dim=256)),
        stage2=Stage2Config(
            latent_size=(32, 32), fusion_dim=128, token_dim=128, src_latent_channels=4,
            pose_embed_channels=(16, 32),
            # no attention at the 32x32 level: 1,024-token self-attention costs more than it buys
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        ),
        vae=VAEConfig(image_size=(64, 64), block_out_channels=(32, 64)),
        # A tiny model trained from scratch: DDPM's plain linear schedule, predicting the clean
        # latents ("sample"): with the source latents at its input, the target is mostly a copy of
        # them, which a small UNet learns in a few hundred steps; an epsilon target must undo the
        # noise level too (measured: after 1,000 steps the epsilon model's frames were still noisy).
        scheduler={"_class_name": "DDPMScheduler", "num_train_timesteps": 1000,
                   "beta_schedule": "linear", "prediction_type": "sample", "clip_sample": False},
        description="CPU size: 64x64, tiny VAE (32x32x4 latents), tiny open_clip ViT, ~4.4M-param UNet",
    )


def _small() -> ModelSize:
    """`tiny` at 128x160 (H 160, W 128; PHOENIX's 0.81 aspect): the same UNet and conditioners
    on 32x40 latents, so stage 2 costs about what `tiny` costs; the expense moves to the VAE,
    factor 4 with 8 latent channels (more channels keep finger edges at almost no UNet cost:
    only conv_in and conv_out widen) and no mid-block attention, so it is fully convolutional
    and can be trained on crops; the pose stack (16, 32, 64) downsamples by 4 like the VAE."""
    size = _tiny()
    enc = size.stage1.encoder
    size.name = "small"
    size.image_size = (160, 128)
    size.stage2.latent_size = (40, 32)
    size.stage2.latent_channels = 8
    size.stage2.src_latent_channels = 8
    size.stage2.pose_embed_channels = (16, 32, 64)
    size.vae = VAEConfig(image_size=(160, 128), block_out_channels=(32, 64, 128), latent_channels=8,
                         mid_block_add_attention=False)
    size.stage1.encoder = enc
    size.description = "CPU size at PHOENIX's aspect: 128x160, factor-4 VAE (32x40x8 latents), tiny ViT, tiny UNet"
    return size


def _sd_size(name: str, image_size: tuple[int, int], token_dropout: float, description: str) -> ModelSize:
    """The paper's setting: SD 2.1-base UNet/VAE/scheduler, ControlNet pose stack (16, 32, 96,
    256) = factor 8, token projection 1024 -> 768 -> 1024 (FPDM's hidden 768; its dropout is
    0.5 for signs, 0.2 for DeepFashion), class MLP 768 -> 1280 -> 1280 (time-embedding width)."""
    h, w = image_size
    enc = EncoderConfig(arch="ViT-L-14", image_size=224, embed_dim=768, token_dim=1024)
    return ModelSize(
        name=name,
        image_size=image_size,
        stage1=Stage1Config(encoder=enc, fusion=FusionConfig(embed_dim=768, hidden_dim=1024)),
        stage2=Stage2Config(
            latent_size=(h // 8, w // 8), fusion_dim=768, token_dim=1024,
            pose_embed_channels=(16, 32, 96, 256),
            class_hidden_dim=1280, class_dropout=0.1,
            token_hidden_dim=768, token_dropout=token_dropout,
            **SD21_UNET,
        ),
        vae=VAEConfig(image_size=image_size, **SD_VAE),
        scheduler=dict(SD21_SCHEDULER),
        description=description,
    )


_SIZES: dict[str, Callable[[], ModelSize]] = {
    "tiny": _tiny,
    "small": _small,
    "phoenix": lambda: _sd_size(
        "phoenix", (256, 256), 0.5,
        "FPDM on PHOENIX-2014-T: 256x256, CLIP ViT-L/14, SD 2.1-base UNet + VAE, 20 DDPM steps, w=2",
    ),
    "deepfashion": lambda: _sd_size(
        "deepfashion", (256, 176), 0.2,
        "FPDM on DeepFashion: 256x176, CLIP ViT-L/14, SD 2.1-base UNet + VAE, 20 DDPM steps, w=2",
    ),
}


def list_sizes() -> list[str]:
    """The registered size names."""
    return list(_SIZES)


def get_size(name: str) -> ModelSize:
    """A fresh `ModelSize` for a registered name; InputError naming the known ones otherwise."""
    try:
        make = _SIZES[name]
    except KeyError:
        raise InputError(f"unknown model size {name!r}; known sizes: {', '.join(_SIZES)}") from None
    size = make()
    size.check()
    return size
