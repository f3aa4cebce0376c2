"""Stage-1 image encoder: an open_clip visual tower that gives global embeddings and patch tokens.

FPDM runs the source image, the target image and the drawn target pose through ONE encoder, so
this module is shared by all three. It owns its input normalisation (open_clip's mean/std for the
architecture) so callers hand it plain [0, 1] RGB tensors.

Weights: named architectures are built by `open_clip.create_model` with random init; a local
`pretrained` file is then loaded into the visual tower. Only `.safetensors` files are read:
signgen never unpickles a file (not even with torch's weights-only loader); pickle-format
checkpoints are refused with the one-line conversion. Nothing is ever downloaded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import types
from pathlib import Path
from typing import Any

import open_clip
import torch
import torch.nn.functional as F
from open_clip.model import resize_pos_embed
from torch import nn

from ..errors import InputError
from . import EncoderConfig

__all__ = ["EncoderConfig", "ImageEncoder", "TINY_ARCH", "TINY_MODEL_CFG", "load_weights_file"]

TINY_ARCH = "tiny"

# Our CPU ViT, in open_clip's own model-config format (the JSON schema of its model_configs/).
# 64 px, 8 px patches -> 64 tokens + class token; width 128, 4 layers, 4 heads of 32.
TINY_MODEL_CFG: dict[str, Any] = {
    "embed_dim": 128,
    "quick_gelu": False,
    "vision_cfg": {"image_size": 64, "patch_size": 8, "width": 128, "head_width": 32, "layers": 4, "mlp_ratio": 4.0},
}

# We only keep the visual tower; this stub replaces the text tower at construction so a named
# architecture never builds (or tries to download) its large text model.
_STUB_TEXT_CFG: dict[str, Any] = {"context_length": 2, "vocab_size": 2, "width": 8, "heads": 1, "layers": 1}

_SAFE_SUFFIXES = (".safetensors",)
_TENSOR_PICKLE_SUFFIXES = (".pt", ".pth", ".bin")


def _open_clip_cfg(config: EncoderConfig) -> tuple[str, dict[str, Any]]:
    """The (base model name, overrides) pair handed to `open_clip.create_model` for this config."""
    if config.arch == TINY_ARCH:
        vision = dict(TINY_MODEL_CFG["vision_cfg"], image_size=config.image_size)
        # A built-in name is required as the base; every key of its config is overridden below.
        return "ViT-B-32", {**TINY_MODEL_CFG, "vision_cfg": vision, "text_cfg": _STUB_TEXT_CFG}
    if config.arch not in open_clip.list_models():
        raise InputError(
            f"unknown encoder architecture {config.arch!r}: use {TINY_ARCH!r} or an open_clip model name "
            f"such as 'ViT-B-16' or 'ViT-L-14'"
        )
    return config.arch, {"text_cfg": _STUB_TEXT_CFG}


@contextlib.contextmanager
def _quiet_random_init_warning():
    """Hide open_clip's "No pretrained weights loaded" warning: random init is intended here, and
    for the tiny arch it would name the base config ("ViT-B-32") we override."""

    def keep(record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("No pretrained weights loaded")

    root = logging.getLogger()
    root.addFilter(keep)
    try:
        yield
    finally:
        root.removeFilter(keep)


def _resolve_weights_path(pretrained: str) -> Path:
    """A weights file from a file or a folder holding exactly one weights file."""
    path = Path(pretrained)
    if not path.exists():
        raise InputError("pretrained encoder weights not found", path)
    if path.is_file():
        return path
    candidates = sorted(p for p in path.iterdir() if p.suffix in _SAFE_SUFFIXES)
    if len(candidates) != 1:
        found = ", ".join(p.name for p in candidates) or "none"
        raise InputError(f"expected exactly one .safetensors weights file, found {found}", path)
    return candidates[0]


def load_weights_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from a `.safetensors` file; pickle-format files are refused (never unpickled)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if path.suffix in _TENSOR_PICKLE_SUFFIXES:
        raise InputError(
            f"refusing to load a pickle-format checkpoint ({path.suffix}): signgen reads .safetensors only; convert "
            "it once where you trust it: python -c \"import sys, torch, safetensors.torch as st; "
            "st.save_file(torch.load(sys.argv[1], weights_only=True), sys.argv[2])\" IN.pt OUT.safetensors",
            path,
        )
    if path.suffix not in _SAFE_SUFFIXES:
        raise InputError(f"unsupported weights file type {path.suffix or '(none)'!r}: use .safetensors", path)
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError) as e:
        raise InputError(f"not a readable safetensors file ({e})", path) from None


def _visual_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The visual tower's keys, from a full open_clip CLIP checkpoint or a visual-only one."""
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    if any(k.startswith("visual.") for k in state):
        return {k[len("visual."):]: v for k, v in state.items() if k.startswith("visual.")}
    return state


class ImageEncoder(nn.Module):
    """An open_clip visual tower with its own normalisation: [0, 1] RGB in, embeddings/tokens out."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        base, overrides = _open_clip_cfg(config)
        force_size = None if config.arch == TINY_ARCH else config.image_size
        with _quiet_random_init_warning():
            model = open_clip.create_model(
                base, pretrained=None, force_image_size=force_size, pretrained_text=False, **overrides
            )
        visual = model.visual
        if not hasattr(visual, "output_tokens") or not hasattr(visual, "transformer"):
            raise InputError(f"encoder architecture {config.arch!r} is not a ViT: patch tokens need an open_clip ViT")
        visual.output_tokens = True  # forward returns (pooled, patch tokens)
        self.visual = visual
        del model  # the stub text tower goes away with it

        pp = open_clip.model.get_model_preprocess_cfg(self.visual)
        self.register_buffer("mean", torch.tensor(pp["mean"]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(pp["std"]).view(1, 3, 1, 1), persistent=False)

        for name, given, derived in (
            ("embed_dim", config.embed_dim, int(self.visual.output_dim)),
            ("token_dim", config.token_dim, int(self.visual.transformer.width)),
        ):
            if given not in (0, derived):
                raise InputError(f"encoder {name}={given} does not match architecture {config.arch!r} ({derived})")

        self.pretrained_from: str | None = None
        if config.pretrained is not None:
            self._load_pretrained(config.pretrained)
            self.pretrained_from = str(config.pretrained)
        # Once loaded, the weights live in this module's state dict; the config describes how to
        # rebuild the architecture (from_config + load_state_dict), so it no longer points at the file.
        self.config = dataclasses.replace(
            config,
            embed_dim=int(self.visual.output_dim),
            token_dim=int(self.visual.transformer.width),
            pretrained=None,
        )

    @classmethod
    def from_config(cls, config: EncoderConfig | dict[str, Any]) -> "ImageEncoder":
        """Build from a config dataclass or its `dataclasses.asdict` form (as read from JSON)."""
        return cls(config if isinstance(config, EncoderConfig) else EncoderConfig(**config))

    def _load_pretrained(self, pretrained: str) -> None:
        path = _resolve_weights_path(pretrained)
        state = _visual_state_dict(load_weights_file(path))
        # open_clip's own helper interpolates the position grid when the image size differs.
        prefixed = {"visual." + k: v for k, v in state.items()}
        resize_pos_embed(prefixed, types.SimpleNamespace(visual=self.visual))
        state = {k[len("visual."):]: v for k, v in prefixed.items()}
        own = self.visual.state_dict()
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        wrong = [k for k in own if k in state and state[k].shape != own[k].shape]
        if missing or unexpected or wrong:
            parts = []
            if wrong:
                k = wrong[0]
                shapes = f"{tuple(state[k].shape)} vs {tuple(own[k].shape)}"
                parts.append(f"{len(wrong)} of another shape (e.g. {k}: {shapes})")
            if missing:
                parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
            if unexpected:
                parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
            raise InputError(f"weights do not fit encoder {self._arch_hint}: " + ", ".join(parts), path)
        self.visual.load_state_dict(state)

    @property
    def _arch_hint(self) -> str:
        v = self.visual
        return f"{type(v).__name__}(width={v.transformer.width}, image={tuple(v.image_size)})"

    def resize(self, images: torch.Tensor) -> torch.Tensor:
        """Bring [B, 3, H, W] images in [0, 1] to the encoder's square input (no-op if already that size).

        Stretches rather than crops: a crop could cut off the hands, which carry the sign."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be [B, 3, H, W] in [0, 1], got shape {tuple(images.shape)}")
        size = tuple(self.visual.image_size)
        images = images.to(self.mean.dtype)
        if tuple(images.shape[-2:]) != size:
            images = F.interpolate(images, size=size, mode="bilinear", antialias=True, align_corners=False)
        return images

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        """Resize, then apply open_clip's normalisation for this architecture."""
        return (self.resize(images) - self.mean) / self.std

    def embed_and_tokens(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One pass: L2-normalised global embeddings [B, D] and patch tokens [B, N, token_dim]."""
        pooled, tokens = self.visual(self._prepare(images))
        return F.normalize(pooled, dim=-1), tokens

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised global embeddings [B, embed_dim]."""
        return self.embed_and_tokens(images)[0]

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        """Patch tokens [B, N, token_dim] (after the final LayerNorm, class token excluded)."""
        return self.embed_and_tokens(images)[1]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.embed(images)
