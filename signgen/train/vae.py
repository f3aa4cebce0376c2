"""`signgen train vae`: a small AutoencoderKL for CPU-sized models, trained on the prepared frames.

Loss: L1 + MSE reconstruction (pixels in [-1, 1]) on posterior samples, plus a small KL term
(`train.kl_weight`), plus a VGG perceptual term only when local VGG16 weights are given
(`train.perceptual_weights`; see `perceptual.py`): nothing is ever downloaded. At the end
the latent scaling factor is measured (1 / std of the latents of held-out frames) and stored
in the VAE's config, so stage 2 sees unit-variance latents as Stable Diffusion's do.

`train.vae_decoder_only` fine-tunes the decoder of a given VAE and keeps its encoder and
scaling factor as they are (as Stability's ft-MSE decoder did for SD): the latents do not
change, so a stage 2 trained on them, and its feature cache, stay valid.

At 128x160 (the `small` size) three more things pay (DESIGN.md, "Resolution and what it costs"):
`train.vae_crop` trains on random square crops, half of them centred on a hand (the VAE is
fully convolutional, so it then runs on whole frames); `train.part_weight` weights the
reconstruction on the hand and face boxes of the frame's pose (MimicMotion amplifies its hand
loss the same way); `train.vae_gan_weight` adds a PatchGAN hinge term, as Stable Diffusion's
autoencoder is trained, because an L1 loss alone blurs fingers into mittens. The discriminator
is checkpointed with the VAE (so a resumed run equals an uninterrupted one) but not exported.

Product: `RUN/vae/` (diffusers `save_pretrained`, safetensors), the folder `model.vae_path` takes.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from ..base.files import replace_folder
from ..pose.parts import box_mask
from .common import EMA, build_size, save_grid, to_uint8
from .data import PairDataset
from .loop import Task

__all__ = ["VaeObjective", "VaeTask", "PatchDiscriminator", "CropDataset"]


class PatchDiscriminator(nn.Module):
    """A small PatchGAN (pix2pix / taming-transformers shape): one real/fake logit per patch."""

    def __init__(self, channels: tuple[int, ...] = (32, 64, 128)) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, channels[0], 4, 2, 1), nn.LeakyReLU(0.2)]
        for a, b in zip(channels, channels[1:]):
            layers += [nn.Conv2d(a, b, 4, 2 if b != channels[-1] else 1, 1), nn.GroupNorm(8, b), nn.LeakyReLU(0.2)]
        layers.append(nn.Conv2d(channels[-1], 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class CropDataset(torch.utils.data.Dataset):
    """Random square crops of a `PairDataset`'s frames (and weight maps), a share of them
    centred on a visible hand. The crop is a pure function of the item key's jitter seed, so
    resuming is exact; unjittered keys (held-out metrics) give whole frames."""

    def __init__(self, base: PairDataset, side: int, hand_share: float) -> None:
        self.base, self.side, self.hand_share = base, int(side), float(hand_share)
        H, W = base.size
        if not 8 <= self.side <= min(H, W):
            raise InputError(f"train.vae_crop must be between 8 and the frame's short side {min(H, W)}, got {side}")

    def __len__(self) -> int:
        return len(self.base)

    def _origin(self, rng: np.random.Generator, boxes: dict) -> tuple[int, int]:
        H, W = self.base.size
        s = self.side
        hands = [b for k, b in boxes.items() if k.endswith("hand") and b is not None]
        if hands and rng.random() < self.hand_share:
            x0, y0, x1, y1 = hands[int(rng.integers(len(hands)))]
            cx, cy = (x0 + x1) / 2 + rng.normal(0, s / 8), (y0 + y1) / 2 + rng.normal(0, s / 8)
            x, y = int(round(cx - s / 2)), int(round(cy - s / 2))
        else:
            x, y = int(rng.integers(0, W - s + 1)), int(rng.integers(0, H - s + 1))
        return min(max(x, 0), W - s), min(max(y, 0), H - s)

    def __getitem__(self, key):
        item = self.base[key]
        i, flip, jseed = (key, False, -1) if isinstance(key, (int, np.integer)) else key
        if jseed < 0:
            return item
        pair = self.base.pairs[int(i)]
        rng = np.random.default_rng(jseed)
        out = {}
        for name, (clip, frame) in (("src", pair.source), ("tgt", pair.target)):
            x, y = self._origin(rng, self.base.part_boxes(clip, frame, flip))
            sl = (slice(None), slice(y, y + self.side), slice(x, x + self.side))
            out[name] = item[name][sl]
            if f"{name}_weight" in item:
                out[f"{name}_weight"] = item[f"{name}_weight"][sl]
        return out


class VaeObjective(nn.Module):
    """Reconstruction + KL on the batch's source and target frames."""

    def __init__(self, vae: nn.Module, kl_weight: float, perceptual: nn.Module | None = None,
                 perceptual_weight: float = 0.0, decoder_only: bool = False,
                 gan_weight: float = 0.0, gan_start: int = 0) -> None:
        super().__init__()
        self.vae = vae
        self.gan_weight, self.gan_start = float(gan_weight), int(gan_start)
        self.disc = PatchDiscriminator() if gan_weight > 0 else None
        self.step = 0
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
        err = rec.float() - x.float()
        if "src_weight" in batch:  # hand and face boxes count more, normalised to a mean of 1
            w = torch.cat([batch["src_weight"], batch["tgt_weight"]]).to(err)
            w = w / w.mean(dim=(1, 2, 3), keepdim=True)
        else:
            w = torch.ones_like(err[:, :1])
        mse = (err.square() * w).mean()
        l1 = (err.abs() * w).mean()
        kl = post.kl().float().mean()
        loss = l1 + mse + self.kl_weight * kl
        metrics = {"mse": float(err.detach().square().mean()), "kl": float(kl.detach())}
        if self.disc is not None and self.step >= self.gan_start:
            # One backward for both players: the generator term sees the discriminator with
            # its parameters detached; the discriminator term sees the reconstruction detached.
            frozen = {k: v.detach() for k, v in self.disc.named_parameters()}
            g_loss = -torch.func.functional_call(self.disc, frozen, (rec.float(),)).mean()
            d_loss = (F.relu(1 - self.disc(x.float())).mean() + F.relu(1 + self.disc(rec.detach().float())).mean())
            loss = loss + self.gan_weight * g_loss + d_loss
            metrics.update(gan_g=float(g_loss.detach()), gan_d=float(d_loss.detach()))
        if self.perceptual is not None:
            p = self.perceptual(rec, x)
            loss = loss + self.perceptual_weight * p
            metrics["perceptual"] = float(p.detach())
        return loss, {"loss": float(loss.detach()), **metrics}


class VaeTask(Task):
    stage = "vae"
    log_columns = ("loss", "mse", "kl", "perceptual", "gan_g", "gan_d", "val_mse", "val_psnr", "val_hand_psnr")

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
        self.objective = VaeObjective(vae, t.kl_weight, perceptual, t.perceptual_weight, t.vae_decoder_only,
                                      t.vae_gan_weight, t.vae_gan_start)
        self.dataset = PairDataset(self.prepared, self.cfg.data.split, self.size.image_size,
                                   resize=self.cfg.data.resize, part_weight=t.part_weight)
        if t.vae_crop:
            self.dataset = CropDataset(self.dataset, t.vae_crop, t.vae_hand_crops)
        self.val = self.val_dataset() or PairDataset(self.prepared, self.cfg.data.split, self.size.image_size,
                                                     resize=self.cfg.data.resize, limit=self.cfg.data.val_pairs)

    def trainable(self, objective: nn.Module) -> nn.Module:
        # with the adversarial term the discriminator is part of the run's state
        return objective.vae if objective.disc is None else nn.ModuleDict({"vae": objective.vae, "disc": objective.disc})

    def at_step(self, objective: nn.Module, step: int) -> None:
        objective.step = step

    def _val_batch(self, n: int) -> torch.Tensor:
        items = [self.val[i] for i in range(min(n, len(self.val)))]
        return torch.stack([it["tgt"] for it in items])

    def _val_hand_mask(self, n: int) -> torch.Tensor:
        """bool [n, 1, H, W]: the hand boxes of the held-out targets."""
        H, W = self.size.image_size
        masks = []
        for p in self.val.pairs[:n]:
            boxes = self.val.part_boxes(*p.target, False)
            masks.append(box_mask([boxes["left_hand"], boxes["right_hand"]], W, H))
        return torch.from_numpy(np.stack(masks))[:, None]

    @torch.no_grad()
    def evaluate(self, objective: nn.Module, step: int, ema: EMA | None) -> dict[str, float]:
        vae = objective.vae
        device = next(vae.parameters()).device
        x = self._val_batch(self.cfg.data.val_pairs).to(device)
        rec = vae.decode(vae.encode(x))
        mse = float(F.mse_loss(rec.float(), x.float()))  # in [0, 1] pixels
        hand = self._val_hand_mask(len(x)).to(device).expand_as(x)
        hand_mse = float((rec.float() - x.float()).square()[hand].mean()) if hand.any() else float("nan")
        n = self.cfg.sample.preview_count
        save_grid(self.run / "samples" / f"vae-step-{step:06d}.png",
                  [[a, b] for a, b in zip(to_uint8(x[:n]), to_uint8(rec[:n]))])
        return {"val_mse": mse, "val_psnr": 10 * math.log10(1.0 / max(mse, 1e-10)),
                "val_hand_psnr": 10 * math.log10(1.0 / max(hand_mse, 1e-10)) if math.isfinite(hand_mse) else hand_mse}

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
        replace_folder(tmp, self.run / "vae")
