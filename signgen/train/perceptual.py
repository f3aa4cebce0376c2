"""An optional perceptual term for VAE training, from LOCAL VGG16 weights only.

LPIPS proper needs its learned linear heads and a downloaded backbone; this is the
head-less form of the same idea: compare channel-normalised VGG16 activations at five depths
(relu1_2 .. relu5_3). It runs only when `train.perceptual_weights` names a local file with
torchvision's `vgg16().features` weights (.safetensors, or a tensors-only .pth read with
`torch.load(weights_only=True)`). Without it the VAE trains on L1 + MSE + KL alone.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import InputError

__all__ = ["VGGPerceptual"]

_TAPS = (3, 8, 15, 22, 29)  # indices of relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 in vgg16().features


class VGGPerceptual(nn.Module):
    """Frozen VGG16 feature distance between two image batches in [-1, 1]."""

    def __init__(self, weights: str | Path) -> None:
        super().__init__()
        from torchvision.models import vgg16

        from ..models.encoder import load_weights_file

        path = Path(weights)
        if not path.is_file():
            raise InputError("perceptual-loss weights not found (a local torchvision vgg16 features file)", path)
        state = load_weights_file(path)
        state = {k[len("features."):] if k.startswith("features.") else k: v for k, v in state.items()
                 if not k.startswith("classifier.")}
        self.features = vgg16(weights=None).features[: _TAPS[-1] + 1]
        result = self.features.load_state_dict(state, strict=False)
        if result.missing_keys:
            raise InputError(f"not torchvision vgg16 features weights ({len(result.missing_keys)} missing, "
                             f"e.g. {result.missing_keys[0]})", path)
        self.features.requires_grad_(False).eval()
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> "VGGPerceptual":
        return super().train(False)  # always frozen

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean over the five depths of the squared distance of unit-normalised activations."""
        h = (torch.cat([x, y]).float() + 1) / 2
        h = (h - self.mean) / self.std
        total = h.new_zeros(())
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in _TAPS:
                a, b = h.chunk(2)
                a = a / (a.norm(dim=1, keepdim=True) + 1e-10)
                b = b / (b.norm(dim=1, keepdim=True) + 1e-10)
                total = total + (a - b).pow(2).sum(dim=1).mean()
        return total / len(_TAPS)
