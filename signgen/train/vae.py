"""`signgen train vae`: a small AutoencoderKL for CPU-sized models, trained on the prepared frames.

Loss: L1 + MSE reconstruction (pixels in [-1, 1]) on posterior samples, plus a small KL term
(`train.kl_weight`), plus a VGG perceptual term only when local VGG16 weights are given
(`train.perceptual_weights`; see `perceptual.py`): nothing is ever downloaded. At the end
the latent scaling factor is measured (1 / std of the latents of held-out frames) and stored
in the VAE's config, so stage 2 sees unit-variance latents as Stable Diffusion's do.

`train.vae_decoder_only` fine-tunes the decoder of a given VAE and keeps its encoder and
scaling factor as they are (as Stability's ft-MSE decoder did for SD): the latents do not
change, so a stage 2 trained on them, and its feature cache, stay valid.

Product: `RUN/vae/` (diffusers `save_pretrained`, safetensors), the folder `model.vae_path` takes.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from .common import EMA, build_size, replace_dir, save_grid, to_uint8
from .data import PairDataset
from .loop import Task

__all__ = ["VaeObjective", "VaeTask"]


class VaeObjective(nn.Module):
    """Reconstruction + KL on the batch's source and target frames."""

    def __init__(self, vae: nn.Module, kl_weight: float, perceptual: nn.Module | None = None,
                 perceptual_weight: float = 0.0, decoder_only: bool = False) -> None:
        super().__init__()
        self.vae = vae
        self.decoder_only = bool(decoder_only)
        if decoder_only:  # the encoder side is frozen: no gradients, no optimiser state
            for part in (vae.model.encoder, vae.model.quant_conv):
                if part is not None:
                    part.requires_grad_(False)
        self.kl_weight = float(kl_weight)
        self.perceptual = perceptual  # frozen; not part of the checkpoint (trainable() is the VAE)
        self.perceptual_weight = float(perceptual_weight)

    def forward(self, batch: dict, generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        x = torch.cat([batch["src"], batch["tgt"]]) * 2 - 1
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.decoder_only):
            post = self.vae.model.encode(x).latent_dist
            z = post.sample(generator)
        rec = self.vae.model.decode(z).sample
        mse = F.mse_loss(rec.float(), x.float())
        l1 = (rec.float() - x.float()).abs().mean()
        kl = post.kl().float().mean()
        loss = l1 + mse + self.kl_weight * kl
        metrics = {"mse": float(mse.detach()), "kl": float(kl.detach())}
        if self.perceptual is not None:
            p = self.perceptual(rec, x)
            loss = loss + self.perceptual_weight * p
            metrics["perceptual"] = float(p.detach())
        return loss, {"loss": float(loss.detach()), **metrics}


class VaeTask(Task):
    stage = "vae"
    log_columns = ("loss", "mse", "kl", "perceptual", "val_mse", "val_psnr")

    def setup(self, accelerator) -> None:
        from ..models.vae import load_vae

        self.size = build_size(self.cfg.model)
        m = self.cfg.model
        # Fine-tune a given VAE, else train the size's architecture from scratch.
        vae = load_vae(m.vae_path or m.sd_path, self.size.vae)
        t = self.cfg.train
        perceptual = None
        if t.perceptual_weights:
            from .perceptual import VGGPerceptual

            perceptual = VGGPerceptual(t.perceptual_weights)
        if t.vae_decoder_only and not (m.vae_path or m.sd_path):
            raise InputError("train.vae_decoder_only fine-tunes a given VAE's decoder: set model.vae_path")
        self.objective = VaeObjective(vae, t.kl_weight, perceptual, t.perceptual_weight, t.vae_decoder_only)
        self.dataset = PairDataset(self.prepared, self.cfg.data.split, self.size.image_size,
                                   resize=self.cfg.data.resize)
        self.val = self.val_dataset() or PairDataset(self.prepared, self.cfg.data.split, self.size.image_size,
                                                     resize=self.cfg.data.resize, limit=self.cfg.data.val_pairs)

    def trainable(self, objective: nn.Module) -> nn.Module:
        return objective.vae

    def _val_batch(self, n: int) -> torch.Tensor:
        items = [self.val[i] for i in range(min(n, len(self.val)))]
        return torch.stack([it["tgt"] for it in items])

    @torch.no_grad()
    def evaluate(self, objective: nn.Module, step: int, ema: EMA | None) -> dict[str, float]:
        vae = objective.vae
        device = next(vae.parameters()).device
        x = self._val_batch(self.cfg.data.val_pairs).to(device)
        rec = vae.decode(vae.encode(x))
        mse = float(F.mse_loss(rec.float(), x.float()))  # in [0, 1] pixels
        n = self.cfg.sample.preview_count
        save_grid(self.run / "samples" / f"vae-step-{step:06d}.png",
                  [[a, b] for a, b in zip(to_uint8(x[:n]), to_uint8(rec[:n]))])
        return {"val_mse": mse, "val_psnr": 10 * math.log10(1.0 / max(mse, 1e-10))}

    @torch.no_grad()
    def export(self, objective: nn.Module, step: int, ema: EMA | None, final: bool) -> None:
        vae = objective.vae
        device = next(vae.parameters()).device
        if not objective.decoder_only:  # a frozen encoder keeps its latents' scale
            x = self._val_batch(64).to(device)
            latents = vae.encode(x) / vae.scaling_factor  # raw latents
            std = float(latents.float().std())
            scale = 1.0 / std if std > 1e-6 and math.isfinite(std) else 1.0
            vae.model.register_to_config(scaling_factor=scale)
        tmp = Path(tempfile.mkdtemp(prefix=".vae.tmp-", dir=self.run))
        vae.model.save_pretrained(tmp, safe_serialization=True)
        replace_dir(tmp, self.run / "vae")
