"""FPDM models: stage 1 (image encoder + fusion), stage 2, VAE, bundle.

Kept light on purpose: importing `signgen.models` loads no torch. The stage-1 config
dataclasses live here so that other code (named sizes, the bundle) can read and write them
as JSON (`dataclasses.asdict`) without building a network; `signgen.models.encoder` and
`signgen.models.fusion` re-export them beside the modules they configure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["EncoderConfig", "FusionConfig", "Stage1Config"]


@dataclass
class EncoderConfig:
    """The image encoder (an open_clip visual tower).

    `arch` is an open_clip model name ("ViT-L-14", ...) or "tiny" (our CPU ViT).
    `embed_dim` and `token_dim` are derived from the architecture by the builder (0 means
    "not filled in yet"). `pretrained` is a local .safetensors file or a folder holding exactly
    one; never a hub name, never a pickle (and never set in a bundle, which is self-contained).
    A built encoder's `.config` has `pretrained=None`: the loaded weights are in its state dict,
    so `from_config` + `load_state_dict` rebuilds it without the original file.
    """

    arch: str = "tiny"
    image_size: int = 64
    embed_dim: int = 0
    token_dim: int = 0
    pretrained: str | None = None


@dataclass
class FusionConfig:
    """The IPF combiner that predicts the target embedding from source + pose embeddings.

    `embed_dim` must equal the encoder's; 0 means "take it from the encoder" (Stage1 fills it in).
    `hidden_dim` is both the projection width and the MLP's hidden width, as in FPDM.
    """

    embed_dim: int
    hidden_dim: int
    dropout: float = 0.5


@dataclass
class Stage1Config:
    """Stage 1 = one shared image encoder + the fusion module; FPDM-release loss settings."""

    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    fusion: FusionConfig = field(default_factory=lambda: FusionConfig(embed_dim=0, hidden_dim=256))
    temperature: float = 0.07
    l1_weight: float = 1e-4

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Stage1Config":
        """Inverse of `dataclasses.asdict` (nested configs included), for configs read from JSON."""
        data = dict(data)
        enc, fus = data.pop("encoder", {}), data.pop("fusion", {})
        encoder = enc if isinstance(enc, EncoderConfig) else EncoderConfig(**enc)
        fusion = fus if isinstance(fus, FusionConfig) else FusionConfig(**fus)
        return cls(encoder=encoder, fusion=fusion, **data)
