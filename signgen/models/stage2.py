"""FPDM stage 2: a stock diffusers UNet conditioned three ways.

* fusion embedding (stage 1's predicted target embedding) -> class MLP -> added to the
  timestep embedding (`class_embed_type="identity"`, so the UNet adds what we hand it);
* source-image patch tokens -> projection MLP -> cross-attention;
* optionally (`src_latent_channels`, on in the CPU size) the source image's VAE latents,
  concatenated to the noisy latents like the masked image of Stable Diffusion's inpainting
  UNet: a small UNet trained for an hour on a CPU cannot rebuild a signer's appearance from
  cross-attention tokens alone, but it can copy it from aligned latents. The SD-based sizes
  keep FPDM's design (off);
* target pose image -> a ControlNet conditioning-embedding conv stack *without* its last
  conv, concatenated to the latents. FPDM adds `E(pose)` (ending in a zero-init 3x3 conv) to
  `conv_in(latents)`; a sum of two 3x3 convs is one 3x3 conv over the concatenation, so
  `conv_in` simply takes `[latents ; E'(pose)]` with the extra input weights zero at init.
  No forked UNet file: the UNet is `UNet2DConditionModel` as diffusers ships it.

Condition dropout (classifier-free guidance): a dropped condition is replaced by ZEROS in its
feature space, after its own network: no class embedding added, all-zero cross-attention
tokens, all-zero source latents, all-zero pose features. FPDM zeroes the projected tokens and the pose features the
same way. Guidance calls the very same code path with a drop mask, so training and sampling
agree by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import UNet2DConditionModel
from diffusers.models.controlnets.controlnet import ControlNetConditioningEmbedding
from torch import nn

__all__ = ["Stage2Config", "Stage2", "DROP_POSE", "DROP_SRC", "DROP_FUSION"]

# Columns of a drop mask [B, 3] (True = condition dropped for that sample).
DROP_POSE, DROP_SRC, DROP_FUSION = 0, 1, 2


@dataclass
class Stage2Config:
    """Everything needed to build a `Stage2` (JSON-able via `dataclasses.asdict`).

    The UNet fields mirror `UNet2DConditionModel`'s own config names so that a Stable
    Diffusion 2.x `unet/config.json` can be copied into them (see `sizes.py`).
    `pose_embed_channels` sets the pose stack; it downsamples by 2**(len-1), which must equal
    the VAE's factor (8 for SD's VAE, 2 for the tiny size's).
    """

    latent_channels: int = 4
    latent_size: tuple[int, int] = (16, 16)  # (h, w) of the latents
    fusion_dim: int = 128  # stage-1 embedding width
    token_dim: int = 128  # width of the source patch tokens
    # UNet2DConditionModel settings
    block_out_channels: tuple[int, ...] = (32, 64, 128)
    down_block_types: tuple[str, ...] = ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D")
    up_block_types: tuple[str, ...] = ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D")
    layers_per_block: int = 1
    attention_head_dim: int | tuple[int, ...] = (2, 4, 8)  # diffusers: heads per block
    cross_attention_dim: int = 128
    norm_num_groups: int = 32
    use_linear_projection: bool = False
    upcast_attention: bool = False
    # conditioners
    src_latent_channels: int = 0  # 0: FPDM (source via tokens only); = latent_channels: also concatenated
    pose_channels: int = 3
    pose_embed_channels: tuple[int, ...] = (16, 32, 64)
    class_hidden_dim: int = 256
    class_dropout: float = 0.1
    token_hidden_dim: int = 256
    token_dropout: float = 0.0
    # condition dropout for classifier-free guidance
    drop_pose: float = 0.2
    drop_src: float = 0.2
    drop_fusion: float = 0.2

    def __post_init__(self) -> None:
        for name in ("drop_pose", "drop_src", "drop_fusion", "class_dropout", "token_dropout"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        n = len(self.block_out_channels)
        if len(self.down_block_types) != n or len(self.up_block_types) != n:
            raise ValueError(f"{n} block_out_channels but {len(self.down_block_types)} down / "
                             f"{len(self.up_block_types)} up block types")
        if not self.pose_embed_channels:
            raise ValueError("pose_embed_channels must not be empty")
        if self.src_latent_channels not in (0, self.latent_channels):
            raise ValueError(f"src_latent_channels must be 0 or {self.latent_channels}, got {self.src_latent_channels}")

    @property
    def time_embed_dim(self) -> int:
        """Width of the UNet's time embedding, which the class MLP must produce."""
        return self.block_out_channels[0] * 4

    @property
    def pose_factor(self) -> int:
        """Pose image size / latent size (one stride-2 conv per channel step)."""
        return 2 ** (len(self.pose_embed_channels) - 1)

    def unet_kwargs(self) -> dict:
        """Arguments for `UNet2DConditionModel` (stock class, our input width)."""
        return dict(
            sample_size=tuple(self.latent_size),
            in_channels=self.latent_channels + self.src_latent_channels + self.pose_embed_channels[-1],
            out_channels=self.latent_channels,
            down_block_types=tuple(self.down_block_types),
            up_block_types=tuple(self.up_block_types),
            block_out_channels=tuple(self.block_out_channels),
            layers_per_block=self.layers_per_block,
            attention_head_dim=(
                tuple(self.attention_head_dim)
                if isinstance(self.attention_head_dim, (list, tuple))
                else self.attention_head_dim
            ),
            cross_attention_dim=self.cross_attention_dim,
            norm_num_groups=self.norm_num_groups,
            use_linear_projection=self.use_linear_projection,
            upcast_attention=self.upcast_attention,
            class_embed_type="identity",
        )


def _pose_stack(config: Stage2Config) -> nn.Module:
    """diffusers' ControlNet conditioning embedding with its final conv removed (E')."""
    stack = ControlNetConditioningEmbedding(
        conditioning_embedding_channels=config.pose_embed_channels[-1],
        conditioning_channels=config.pose_channels,
        block_out_channels=tuple(config.pose_embed_channels),
    )
    # Its last conv is folded into the UNet's conv_in (the extra, zero-initialised channels).
    stack.conv_out = nn.Identity()
    return stack


# Guidance branches `forward_branches` can run, named by what they keep.
BRANCHES = ("uncond", "src_pose", "full")


class Stage2(nn.Module):
    """The stage-2 denoiser: `forward` for training, `forward_branches` for 3-way guidance."""

    def __init__(self, config: Stage2Config, unet: UNet2DConditionModel | None = None) -> None:
        """Build from `config`; pass `unet` to adopt an already-loaded UNet (the bundle loader
        does, so a large UNet is never built twice). An adopted UNet keeps its weights."""
        super().__init__()
        self.config = config
        if unet is not None:
            want = config.unet_kwargs()
            got = {k: unet.config.get(k) for k in ("in_channels", "out_channels", "cross_attention_dim", "class_embed_type")}
            if any(got[k] != want[k] for k in got):
                raise ValueError(f"UNet config {got} does not match Stage2Config")
        self.unet = unet if unet is not None else UNet2DConditionModel(**config.unet_kwargs())
        self.class_mlp = nn.Sequential(
            nn.Linear(config.fusion_dim, config.class_hidden_dim),
            nn.GELU(),
            nn.Dropout(config.class_dropout),
            nn.Linear(config.class_hidden_dim, config.time_embed_dim),
        )
        self.token_proj = nn.Sequential(
            nn.Linear(config.token_dim, config.token_hidden_dim),
            nn.GELU(),
            nn.Dropout(config.token_dropout),
            nn.LayerNorm(config.token_hidden_dim),
            nn.Linear(config.token_hidden_dim, config.cross_attention_dim),
        )
        self.pose_embed = _pose_stack(config)
        if unet is None:
            self.zero_pose_inputs_()

    @classmethod
    def from_config(cls, config: Stage2Config) -> "Stage2":
        """Build with fresh weights (the bundle then loads its state dict)."""
        return cls(config)

    @property
    def dtype(self) -> torch.dtype:
        return self.unet.conv_in.weight.dtype

    @property
    def uses_fusion(self) -> bool:
        """False for a stage 2 trained without the fusion embedding (`drop_fusion = 1`, the
        paper's "stage 2 alone"): its class MLP never trained, so the embedding is always dropped
        and the "full" branch equals "src_pose"."""
        return self.config.drop_fusion < 1.0

    @torch.no_grad()
    def zero_pose_inputs_(self) -> None:
        """Zero conv_in's source-latent and pose-feature input weights: at init they change nothing."""
        self.unet.conv_in.weight[:, self.config.latent_channels :].zero_()

    # ---- conditioners -------------------------------------------------------------------

    def sample_drop_mask(self, batch: int, device: torch.device | None = None,
                         generator: torch.Generator | None = None) -> torch.Tensor:
        """Independent per-sample drops [B, 3] (pose, src, fusion) with the config's rates."""
        p = torch.tensor([self.config.drop_pose, self.config.drop_src, self.config.drop_fusion])
        u = torch.rand(batch, 3, generator=generator, device=generator.device if generator else "cpu")
        return (u < p.to(u.device)).to(device or "cpu")

    def encode_conditions(self, fusion_emb: torch.Tensor, src_tokens: torch.Tensor,
                          pose_image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run the three conditioners once: (class emb [b,E], tokens [b,N,C], pose feats [B,Cp,h,w]).

        `fusion_emb`/`src_tokens` may have batch 1 (one source per clip); they are computed
        once and broadcast later, never re-encoded per frame.
        """
        if fusion_emb.ndim != 2 or fusion_emb.shape[1] != self.config.fusion_dim:
            raise ValueError(f"fusion_emb must be [B, {self.config.fusion_dim}], got {list(fusion_emb.shape)}")
        if src_tokens.ndim != 3 or src_tokens.shape[2] != self.config.token_dim:
            raise ValueError(f"src_tokens must be [B, N, {self.config.token_dim}], got {list(src_tokens.shape)}")
        if pose_image.ndim != 4 or pose_image.shape[1] != self.config.pose_channels:
            raise ValueError(f"pose_image must be [B, {self.config.pose_channels}, H, W], got {list(pose_image.shape)}")
        dt = self.dtype
        class_emb = self.class_mlp(fusion_emb.to(dt))
        if not self.uses_fusion:
            class_emb = torch.zeros_like(class_emb)
        return class_emb, self.token_proj(src_tokens.to(dt)), self.pose_embed(pose_image.to(dt))

    def _check_pose_size(self, latents: torch.Tensor, pose_feat: torch.Tensor) -> None:
        if pose_feat.shape[-2:] != latents.shape[-2:]:
            f = self.config.pose_factor
            raise ValueError(
                f"pose image must be {f}x the latent size {tuple(latents.shape[-2:])}, "
                f"got pose features {tuple(pose_feat.shape[-2:])}"
            )

    def _src_latents(self, src_latents: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor | None:
        """Check the source latents against the config: required iff `src_latent_channels`."""
        c = self.config
        if not c.src_latent_channels:
            return None
        if src_latents is None:
            raise ValueError("this stage 2 takes the source latents (src_latents) as an input")
        if src_latents.ndim != 4 or tuple(src_latents.shape[1:]) != (c.src_latent_channels, *like.shape[-2:]):
            raise ValueError(f"src_latents must be [B, {c.src_latent_channels}, {like.shape[-2]}, {like.shape[-1]}], "
                             f"got {list(src_latents.shape)}")
        return src_latents

    def _unet(self, latents, timesteps, class_emb, tokens, pose_feat, src_latents=None) -> torch.Tensor:
        """The UNet runs in its own dtype; the prediction comes back in the latents' dtype, so a
        sampler can keep fp32 latents around a bf16 model."""
        dt = self.dtype
        parts = [latents] + ([src_latents] if src_latents is not None else []) + [pose_feat]
        x = torch.cat([p.to(dt) for p in parts], dim=1)
        out = self.unet(x, timesteps, encoder_hidden_states=tokens.to(dt), class_labels=class_emb.to(dt)).sample
        return out.to(latents.dtype)

    @staticmethod
    def _expand(x: torch.Tensor, batch: int) -> torch.Tensor:
        if x.shape[0] == batch:
            return x
        if x.shape[0] != 1:
            raise ValueError(f"condition batch {x.shape[0]} is neither 1 nor {batch}")
        return x.expand(batch, *x.shape[1:])

    @staticmethod
    def _timesteps(t: torch.Tensor | float | int, batch: int, device) -> torch.Tensor:
        t = torch.as_tensor(t, device=device)
        return t.expand(batch) if t.ndim == 0 else t

    # ---- public calls -------------------------------------------------------------------

    def forward(self, noisy_latents: torch.Tensor, timesteps: torch.Tensor | int,
                fusion_emb: torch.Tensor, src_tokens: torch.Tensor, pose_image: torch.Tensor,
                drop_mask: torch.Tensor | None = None, src_latents: torch.Tensor | None = None) -> torch.Tensor:
        """Predict (noise / v / x0, whatever the scheduler trains) for a batch.

        `drop_mask` [B, 3] bool (columns DROP_POSE, DROP_SRC, DROP_FUSION): True replaces that
        condition by zeros. When None: sampled with the config's rates in training mode,
        nothing dropped in eval mode.
        """
        B = noisy_latents.shape[0]
        if drop_mask is None:
            drop_mask = (self.sample_drop_mask(B, noisy_latents.device) if self.training
                         else torch.zeros(B, 3, dtype=torch.bool, device=noisy_latents.device))
        keep = (~drop_mask.to(device=noisy_latents.device, dtype=torch.bool)).to(noisy_latents.dtype)
        class_emb, tokens, pose_feat = self.encode_conditions(fusion_emb, src_tokens, pose_image)
        self._check_pose_size(noisy_latents, pose_feat)
        class_emb = self._expand(class_emb, B) * keep[:, DROP_FUSION, None]
        tokens = self._expand(tokens, B) * keep[:, DROP_SRC, None, None]
        pose_feat = self._expand(pose_feat, B) * keep[:, DROP_POSE, None, None, None]
        src = self._src_latents(src_latents, noisy_latents)
        if src is not None:
            src = self._expand(src, B) * keep[:, DROP_SRC, None, None, None]
        t = self._timesteps(timesteps, B, noisy_latents.device)
        return self._unet(noisy_latents, t, class_emb, tokens, pose_feat, src)

    def forward_branches(self, x: torch.Tensor, t: torch.Tensor | int, fusion_emb: torch.Tensor,
                         src_tokens: torch.Tensor, pose_image: torch.Tensor,
                         branches: tuple[str, ...] = BRANCHES,
                         src_latents: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """Guidance branches in ONE UNet call of batch len(branches) * N.

        Branches, in the order asked: "uncond" (all dropped), "src_pose" (fusion dropped),
        "full". Each equals a `forward` call with drop mask [1,1,1], [0,0,1], [0,0,0]; the
        conditioners run once. FPDM combines all three as
        `eps_u + w (eps_sp - eps_u) + w (eps_full - eps_sp)`; with one weight w for both terms the
        src+pose branch cancels, so ("uncond", "full") gives the same result for 2/3 of the work.
        """
        class_emb, tokens, pose_feat = self.encode_conditions(fusion_emb, src_tokens, pose_image)
        return self.forward_encoded(x, t, class_emb, tokens, pose_feat, branches, src_latents)

    def forward_encoded(self, x: torch.Tensor, t: torch.Tensor | int, class_emb: torch.Tensor, tokens: torch.Tensor,
                        pose_feat: torch.Tensor, branches: tuple[str, ...] = BRANCHES,
                        src_latents: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """`forward_branches` from conditions already encoded (`encode_conditions`): a renderer
        encodes each frame's pose and fusion embedding once, not at every denoising step."""
        unknown = [b for b in branches if b not in BRANCHES]
        if unknown or not branches:
            raise ValueError(f"unknown guidance branches {unknown}; choose from {BRANCHES}")
        N = x.shape[0]
        self._check_pose_size(x, pose_feat)
        class_emb = self._expand(class_emb, N)
        tokens = self._expand(tokens, N)
        pose_feat = self._expand(pose_feat, N)
        src = self._src_latents(src_latents, x)
        src = self._expand(src, N) if src is not None else x[:, :0]
        t = self._timesteps(t, N, x.device)
        if branches == ("full",):  # one branch: nothing to zero or concatenate
            return (self._unet(x, t, class_emb, tokens, pose_feat, src),)
        zc, zt, zp, zs = (torch.zeros_like(v) for v in (class_emb, tokens, pose_feat, src))
        conds = {"uncond": (zc, zt, zp, zs), "src_pose": (zc, tokens, pose_feat, src),
                 "full": (class_emb, tokens, pose_feat, src)}
        k = len(branches)
        out = self._unet(
            torch.cat([x] * k),
            torch.cat([t] * k),
            torch.cat([conds[b][0] for b in branches]),
            torch.cat([conds[b][1] for b in branches]),
            torch.cat([conds[b][2] for b in branches]),
            torch.cat([conds[b][3] for b in branches]),
        )
        return tuple(out.chunk(k))
