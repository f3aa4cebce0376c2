"""`signgen train diffusion`: stage 2, FPDM's recipe.

The whole UNet and its three conditioners train; the VAE and stage 1 (encoder + fusion) are
frozen. Per step: target latents, noise with offset (`train.noise_offset`, FPDM 0.1), uniform
timesteps, each condition dropped with p = 0.2 (Stage2Config), MSE against the scheduler's
prediction type (epsilon, v or sample), weighted on the target's hand and face boxes when
`train.part_weight` is set (the `small` size: 4x). Flips (left/right keypoints swapped) and keypoint
jitter come from the dataset. With `train.cache` the frozen features come from a disk cache
(`cache.FeatureCache`) instead of being recomputed every step.

Products: `RUN/bundle/` (`signgen render --model RUN/bundle`), EMA weights, refreshed at every
checkpoint and at the end; sample grids `RUN/samples/step-XXXXXX.png` (source | pose |
generated | target), each generated picture rendered by the same `Renderer` and sampler as
`signgen synthesize`, from the bundle the run would export at that step.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from .cache import FeatureCache, frame_features, frozen_fingerprint
from .common import EMA, build_size, load_stage1, save_grid, to_uint8
from .data import PairDataset
from .loop import Task

__all__ = ["DiffusionObjective", "DiffusionTask"]


class DiffusionObjective(nn.Module):
    """Stage 2's denoising loss; stage 1 and the VAE ride along frozen (no gradients, eval mode)."""

    def __init__(self, stage2: nn.Module, stage1: nn.Module, vae: nn.Module, scheduler, noise_offset: float) -> None:
        super().__init__()
        self.stage2 = stage2
        self.stage1 = stage1.requires_grad_(False).eval()
        self.vae = vae.requires_grad_(False).eval()
        self.scheduler = scheduler
        self.noise_offset = float(noise_offset)

    def train(self, mode: bool = True) -> "DiffusionObjective":
        super().train(mode)
        self.stage1.eval()
        self.vae.eval()
        return self

    @torch.no_grad()
    def conditions(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(target latents, fusion embedding, source tokens, source latents or None when stage 2
        does not take them): from the cache or the frozen nets."""
        wants_src = bool(self.stage2.config.src_latent_channels)
        if "latent" in batch:
            latents, src_emb, tokens, pose_emb = batch["latent"], batch["src_emb"], batch["src_tokens"], batch["pose_emb"]
            src_latents = batch["src_latent"] if wants_src else None
        else:
            tgt = frame_features(self.stage1, self.vae, batch["tgt"], batch["pose_clean"])
            emb, tokens = self.stage1.encoder.embed_and_tokens(batch["src"])
            latents, src_emb, pose_emb = tgt["latent"], emb, tgt["pose_emb"]
            src_latents = self.vae.encode(batch["src"]) if wants_src else None
        fusion = self.stage1.fusion(src_emb.float(), pose_emb.float())
        return latents.float(), fusion, tokens.float(), None if src_latents is None else src_latents.float()

    def forward(self, batch: dict, generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        latents, fusion, tokens, src_latents = self.conditions(batch)
        b, c = latents.shape[:2]
        dev = latents.device
        noise = torch.randn(latents.shape, generator=generator, device=dev)
        if self.noise_offset:
            noise = noise + self.noise_offset * torch.randn((b, c, 1, 1), generator=generator, device=dev)
        t = torch.randint(0, self.scheduler.config.num_train_timesteps, (b,), generator=generator, device=dev)
        noisy = self.scheduler.add_noise(latents, noise, t)
        kind = self.scheduler.config.prediction_type
        target = {"epsilon": noise, "sample": latents}.get(kind)
        if target is None:
            target = self.scheduler.get_velocity(latents, noise, t)
        drop = self.stage2.sample_drop_mask(b, dev, generator)
        pred = self.stage2(noisy, t, fusion, tokens, batch["pose"], drop_mask=drop, src_latents=src_latents)
        err = (pred.float() - target.float()).square()
        if "tgt_weight" in batch:  # `train.part_weight`: the target's hand and face boxes count more
            w = F.interpolate(batch["tgt_weight"].float(), size=err.shape[-2:], mode="area")
            loss = (err * (w / w.mean(dim=(1, 2, 3), keepdim=True))).mean()
        else:
            loss = err.mean()
        return loss, {"loss": float(loss.detach()), "mse": float(err.detach().mean())}


class DiffusionTask(Task):
    stage = "diffusion"
    log_columns = ("loss", "mse", "val_loss")
    use_ema = True

    def setup(self, accelerator) -> None:
        from ..models.bundle import make_scheduler
        from ..models.fusion import Stage1
        from ..models.sd_init import init_stage2_from_sd, sd_scheduler_config
        from ..models.stage2 import Stage2
        from ..models.vae import load_vae

        cfg, m = self.cfg, self.cfg.model
        self.size = size = build_size(m)
        if m.stage1_path:
            stage1 = load_stage1(m.stage1_path)
        else:
            warnings.warn("model.stage1_path not set: stage 2 is conditioned on an UNTRAINED stage 1 "
                          "(train one with `signgen train fusion`)", stacklevel=2)
            if m.encoder_weights:
                size.stage1.encoder.pretrained = m.encoder_weights
            torch.manual_seed(cfg.train.seed)
            stage1 = Stage1.from_config(size.stage1)
        if not (m.vae_path or m.sd_path):
            warnings.warn("neither model.vae_path nor model.sd_path set: using an UNTRAINED VAE "
                          "(train one with `signgen train vae`)", stacklevel=2)
        torch.manual_seed(cfg.train.seed)
        vae = load_vae(m.vae_path or m.sd_path, size.vae)
        stage2 = Stage2(size.stage2)
        if m.sd_path:
            report = init_stage2_from_sd(stage2, m.sd_path)
            if accelerator.is_main_process:
                print(f"stage 2 from {m.sd_path}: {report.summary()}")
        self.scheduler_config = dict(sd_scheduler_config(m.sd_path) if m.sd_path else size.scheduler)
        scheduler = make_scheduler(self.scheduler_config)
        self._check_fit(stage1, vae, stage2)
        self.objective = DiffusionObjective(stage2, stage1, vae, scheduler, cfg.train.noise_offset)
        self._datasets(accelerator, stage1, vae)

    def _datasets(self, accelerator, stage1, vae) -> None:
        """`self.dataset` (on the feature cache when `train.cache`) and `self.val`."""
        cfg, size = self.cfg, self.size
        cache = None
        if cfg.train.cache:
            cache = self._build_cache(accelerator, stage1, vae)
        self.dataset = PairDataset(self.prepared, cfg.data.split, size.image_size, resize=cfg.data.resize,
                                   jitter_px=cfg.data.jitter_px, load_images=cache is None, cache=cache,
                                   part_weight=cfg.train.part_weight)
        self.val = self.val_dataset() or PairDataset(self.prepared, cfg.data.split, size.image_size,
                                                     resize=cfg.data.resize, limit=cfg.data.val_pairs)

    def _check_fit(self, stage1, vae, stage2) -> None:
        c = stage2.config
        enc = stage1.encoder.config
        problems = []
        if enc.embed_dim != c.fusion_dim:
            problems.append(f"stage-1 embedding width {enc.embed_dim} != stage 2's fusion_dim {c.fusion_dim}")
        if enc.token_dim != c.token_dim:
            problems.append(f"encoder token width {enc.token_dim} != stage 2's token_dim {c.token_dim}")
        if vae.factor != c.pose_factor or vae.config.latent_channels != c.latent_channels:
            problems.append(f"VAE (factor {vae.factor}, {vae.config.latent_channels} channels) does not fit "
                            f"stage 2 (factor {c.pose_factor}, {c.latent_channels} channels)")
        if problems:
            raise InputError("; ".join(problems) + f" (model size {self.size.name!r})")

    def _build_cache(self, accelerator, stage1, vae) -> FeatureCache:
        cfg = self.cfg
        folder = Path(cfg.train.cache_dir) if cfg.train.cache_dir else self.run / "cache"
        plain = PairDataset(self.prepared, cfg.data.split, self.size.image_size, resize=cfg.data.resize)
        fp = frozen_fingerprint(stage1.encoder, vae, {"size": self.size.image_size, "resize": cfg.data.resize,
                                                      "data": str(self.prepared.root.resolve())})
        if accelerator.is_main_process:
            FeatureCache.build(folder, plain, stage1.to(accelerator.device), vae.to(accelerator.device),
                               flips=cfg.data.flip_p > 0, device=accelerator.device, fp=fp)
        accelerator.wait_for_everyone()
        return FeatureCache(folder)

    def trainable(self, objective: nn.Module) -> nn.Module:
        return objective.stage2

    def _val_inputs(self, objective: DiffusionObjective, n: int) -> dict:
        items = [self.val[i] for i in range(min(n, len(self.val)))]
        device = next(objective.stage2.parameters()).device
        return {k: torch.stack([it[k] for it in items]).to(device) for k in ("src", "tgt", "pose", "pose_clean")}

    @torch.no_grad()
    def evaluate(self, objective: nn.Module, step: int, ema: EMA | None) -> dict[str, float]:
        batch = self._val_inputs(objective, self.cfg.data.val_pairs)
        gen = torch.Generator(device=batch["src"].device).manual_seed(self.cfg.train.seed)
        # Held-out loss with a fixed generator: comparable from one evaluation to the next.
        val_loss = float(objective(batch, gen)[0])
        n = min(self.cfg.sample.preview_count, len(self.val))
        stage2 = objective.stage2
        ctx = ema.applied(stage2) if ema is not None else contextlib.nullcontext(stage2)
        with ctx:
            generated = self._previews(objective, n)
        small = {k: v[:n] for k, v in batch.items()}
        rows = [list(r) for r in zip(to_uint8(small["src"]), to_uint8(small["pose"]), generated,
                                      to_uint8(small["tgt"]))]
        save_grid(self.run / "samples" / f"step-{step:06d}.png", rows)
        return {"val_loss": val_loss}

    def _meta(self, step: int, ema: EMA | None):
        """The bundle meta of this run: the config's sampling defaults where it sets them."""
        from ..models.bundle import BundleMeta

        s = self.cfg.sample
        given = {k: v for k, v in (("steps", s.steps), ("guidance", s.guidance), ("sampler", s.sampler))
                 if v is not None}
        return BundleMeta(size=self.size.name, image_size=tuple(self.size.image_size), **given,
                          extra={"trained_steps": step, "data": str(self.prepared.root), "ema": ema is not None})

    def _previews(self, objective: DiffusionObjective, n: int) -> list:
        """The first `n` held-out pairs rendered exactly as `signgen synthesize` would with the
        bundle this step exports: source picture and target keypoints in, picture out."""
        from ..models.bundle import Bundle, make_scheduler
        from ..pose.track import PoseTrack
        from ..rendering.pipeline import Renderer
        from ..rendering.settings import Settings

        stage2 = objective.stage2
        device = next(stage2.parameters()).device
        bundle = Bundle(stage1=objective.stage1, stage2=stage2, vae=objective.vae,
                        scheduler=make_scheduler(self.scheduler_config), meta=self._meta(0, None), folder=None,
                        device=device, dtype=torch.float32)
        renderer = Renderer(bundle, resize=self.cfg.data.resize)
        settings = Settings.given(steps=self._preview_steps(), seed=self.cfg.train.seed)
        H, W = self.size.image_size
        out = []
        for pair in self.val.pairs[:n]:
            (sc, sf), (tc, tf) = pair.source, pair.target
            xy, conf = self.val.pose_points(tc, tf, False)
            target = PoseTrack(xy=xy[None], conf=conf[None], fps=25.0, width=W, height=H)
            out.append(renderer.synthesize(self.val.image(sc, sf, False), target, 1, settings)[0])
        return out

    def _preview_steps(self) -> int | None:
        """Steps of the sample grids (None: the exported bundle's own)."""
        return self.cfg.sample.preview_steps

    def export(self, objective: nn.Module, step: int, ema: EMA | None, final: bool) -> None:
        from ..models.bundle import save_bundle

        if not (final or self.cfg.train.bundle_every_checkpoint):
            return
        meta = self._meta(step, ema)
        stage2 = objective.stage2
        ctx = ema.applied(stage2) if ema is not None else contextlib.nullcontext(stage2)
        with ctx:
            save_bundle(self.run / "bundle", stage1=objective.stage1, stage2=stage2, vae=objective.vae,
                        scheduler_config=self.scheduler_config, meta=meta)

