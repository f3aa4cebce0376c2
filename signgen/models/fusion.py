"""Stage 1 of FPDM: the fusion module (the paper's IPF "combiner") and the Stage1 model around it.

The fusion module predicts the embedding of the *target image* from the source image's embedding
and the target pose image's embedding; stage 2 is conditioned on that prediction.

The gate follows FPDM's released code: g is not one global parameter but a small MLP of the two
projected embeddings ending in a sigmoid, so each sample gets its own g in [0, 1] (how much of the
pose embedding vs the source embedding passes through the residual path).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from . import EncoderConfig, FusionConfig, Stage1Config
from .encoder import ImageEncoder
from .losses import retrieval_topk, source_enhanced_info_nce

__all__ = ["EncoderConfig", "FusionConfig", "Stage1Config", "FusionModule", "Stage1"]


def _projection(in_dim: int, out_dim: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, out_dim), nn.ReLU(), nn.Dropout(dropout))


class FusionModule(nn.Module):
    """(source embedding, pose embedding) -> predicted target embedding, L2-normalised."""

    def __init__(self, config: FusionConfig) -> None:
        super().__init__()
        if config.embed_dim <= 0 or config.hidden_dim <= 0:
            raise InputError(f"fusion embed_dim and hidden_dim must be positive, got {config}")
        if not 0.0 <= config.dropout < 1.0:
            raise InputError(f"fusion dropout must be in [0, 1), got {config.dropout}")
        self.config = dataclasses.replace(config)
        d, h, p = config.embed_dim, config.hidden_dim, config.dropout
        self.src_proj = _projection(d, h, p)
        self.pose_proj = _projection(d, h, p)
        self.combine = nn.Sequential(nn.Linear(2 * h, h), nn.ReLU(), nn.Dropout(p), nn.Linear(h, d))
        self.gate_mlp = nn.Sequential(nn.Linear(2 * h, h), nn.ReLU(), nn.Dropout(p), nn.Linear(h, 1), nn.Sigmoid())

    @classmethod
    def from_config(cls, config: FusionConfig | dict[str, Any]) -> "FusionModule":
        """Build from a config dataclass or its `dataclasses.asdict` form."""
        return cls(config if isinstance(config, FusionConfig) else FusionConfig(**config))

    def fuse(self, src_emb: torch.Tensor, pose_emb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (fused [B, D] unit-norm, gate [B, 1] in [0, 1])."""
        if src_emb.shape != pose_emb.shape or src_emb.shape[-1] != self.config.embed_dim:
            raise ValueError(
                f"expected two [B, {self.config.embed_dim}] embeddings, got {tuple(src_emb.shape)} "
                f"and {tuple(pose_emb.shape)}"
            )
        joint = torch.cat([self.src_proj(src_emb), self.pose_proj(pose_emb)], dim=-1)
        gate = self.gate_mlp(joint)
        out = self.combine(joint) + gate * pose_emb + (1.0 - gate) * src_emb
        return F.normalize(out, dim=-1), gate

    def forward(self, src_emb: torch.Tensor, pose_emb: torch.Tensor) -> torch.Tensor:
        return self.fuse(src_emb, pose_emb)[0]


class Stage1(nn.Module):
    """The shared image encoder plus the fusion module, with FPDM's stage-1 loss."""

    def __init__(
        self,
        encoder_config: EncoderConfig,
        fusion_config: FusionConfig,
        temperature: float = 0.07,
        l1_weight: float = 1e-4,
    ) -> None:
        super().__init__()
        self.encoder = ImageEncoder(encoder_config)
        d = self.encoder.config.embed_dim
        if fusion_config.embed_dim == 0:  # "same as the encoder"
            fusion_config = dataclasses.replace(fusion_config, embed_dim=d)
        if fusion_config.embed_dim != d:
            raise InputError(f"fusion embed_dim {fusion_config.embed_dim} does not match the encoder's {d}")
        self.fusion = FusionModule(fusion_config)
        self.temperature = float(temperature)
        self.l1_weight = float(l1_weight)

    @property
    def config(self) -> Stage1Config:
        """Everything needed to rebuild this model with `from_config` (weights go in the state dict)."""
        return Stage1Config(
            encoder=dataclasses.replace(self.encoder.config),
            fusion=dataclasses.replace(self.fusion.config),
            temperature=self.temperature,
            l1_weight=self.l1_weight,
        )

    @classmethod
    def from_config(cls, config: Stage1Config | dict[str, Any]) -> "Stage1":
        """Build from a `Stage1Config` or its `dataclasses.asdict` form (nested dicts)."""
        c = config if isinstance(config, Stage1Config) else Stage1Config.from_dict(config)
        return cls(c.encoder, c.fusion, temperature=c.temperature, l1_weight=c.l1_weight)

    def forward(self, src_img: torch.Tensor, pose_img: torch.Tensor) -> torch.Tensor:
        """Predicted target embedding [B, D] for source images and target pose images ([B,3,H,W] in [0,1])."""
        emb = self.encoder.embed(torch.cat([self._fit(src_img), self._fit(pose_img)], dim=0))
        src_emb, pose_emb = emb.chunk(2, dim=0)
        return self.fusion(src_emb, pose_emb)

    def encode_source(self, src_img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(embedding [B, D], patch tokens [B, N, token_dim]) of source images, in one encoder pass.

        For video, call this once per clip and reuse the result for every frame."""
        return self.encoder.embed_and_tokens(src_img)

    def fuse_poses(self, src_emb: torch.Tensor, pose_img: torch.Tensor) -> torch.Tensor:
        """Fused embeddings [N, D] for N pose images; `src_emb` may be [1, D] (one source for all)."""
        pose_emb = self.encoder.embed(pose_img)
        return self.fusion(src_emb.expand(pose_emb.shape[0], -1), pose_emb)

    def _fit(self, images: torch.Tensor) -> torch.Tensor:
        """Bring images to the encoder's size so several inputs can share one encoder pass."""
        return self.encoder.resize(images)

    def loss(
        self,
        src_img: torch.Tensor,
        pose_img: torch.Tensor,
        tgt_img: torch.Tensor,
        src_pose_img: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """FPDM's source-enhanced InfoNCE on one batch; returns (loss, metrics).

        With `src_pose_img` (the source's own pose drawn as an image), the appended positive is
        fusion(src, src_pose) ≈ embed(src); without it, the source embedding itself (FPDM release).
        All images go through the encoder in one batched pass. Metrics: loss, nce, l1, top1, top5,
        mean_rank (fused -> target retrieval within the batch), gate_mean.
        """
        b = src_img.shape[0]
        parts = [src_img, pose_img, tgt_img] + ([] if src_pose_img is None else [src_pose_img])
        emb = self.encoder.embed(torch.cat([self._fit(x) for x in parts], dim=0))
        src_emb, pose_emb, tgt_emb = emb[:b], emb[b : 2 * b], emb[2 * b : 3 * b]
        fused, gate = self.fusion.fuse(src_emb, pose_emb)
        src_fused = None if src_pose_img is None else self.fusion(src_emb, emb[3 * b :])
        loss, terms = source_enhanced_info_nce(
            fused, tgt_emb, src_emb, src_fused, temperature=self.temperature, l1_weight=self.l1_weight
        )
        metrics = {"loss": float(loss.detach()), "nce": float(terms["nce"]), "l1": float(terms["l1"])}
        metrics.update(retrieval_topk(fused.detach(), tgt_emb.detach()))
        metrics["gate_mean"] = float(gate.detach().mean())
        return loss, metrics
