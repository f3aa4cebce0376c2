"""A random-weight bundle of a named size, for tests, benchmarks and plumbing checks.

Tests and benchmarks exercise the whole render path (encoders, batched guidance branches,
sampler, VAE, video writer) with it, independent of the trained bundle in
`signgen/assets/default-model/`. Its pictures are noise-like; its speed and memory are those of
the real architecture.
"""

from __future__ import annotations

from pathlib import Path

import torch


def random_bundle(folder: str | Path, size: str = "tiny", *, seed: int = 0, steps: int = 20,
                  guidance: float = 2.0) -> Path:
    """Write a bundle of size `size` with seeded random weights to `folder` (reused if it is one)."""
    from ..models.bundle import is_bundle, save_bundle
    from ..models.fusion import Stage1
    from ..models.sizes import get_size
    from ..models.stage2 import Stage2
    from ..models.vae import Vae

    folder = Path(folder)
    if is_bundle(folder):
        return folder
    spec = get_size(size)
    torch.manual_seed(seed)
    stage2 = Stage2(spec.stage2)
    with torch.no_grad():  # random pose inputs, so the pose path visibly changes the output
        stage2.unet.conv_in.weight[:, spec.stage2.latent_channels:].normal_(0, 0.02)
    return save_bundle(folder, stage1=Stage1.from_config(spec.stage1), stage2=stage2,
                       vae=Vae.from_config(spec.vae), scheduler_config=spec.scheduler,
                       meta={"size": size, "steps": steps, "guidance": guidance,
                             "extra": {"random_weights": True}})
