"""`signgen train fusion`: stage 1, FPDM's source-enhanced InfoNCE.

The image encoder is fine-tuned at its own small learning rate (`fusion.encoder_lr`, FPDM
1e-5, weight decay 1e-4); the fusion module trains at `fusion.lr`. The source's own pose image
is passed, so the appended positive is fusion(src, src_pose) ~ embed(src). Held-out metric:
retrieval of each predicted target embedding among the held-out targets (top-1 / top-5).
Product: `RUN/stage1/` (config.json + model.safetensors), the folder `model.stage1_path` takes.
"""

from __future__ import annotations

import torch
from torch import nn

from ..models.losses import retrieval_topk
from .common import EMA, build_size, save_stage1
from .data import PairDataset
from .loop import Task

__all__ = ["FusionObjective", "FusionTask"]


class FusionObjective(nn.Module):
    """Stage 1's loss on a batch (a module, so DDP sees the forward pass)."""

    def __init__(self, stage1: nn.Module) -> None:
        super().__init__()
        self.stage1 = stage1

    def forward(self, batch: dict, generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        loss, metrics = self.stage1.loss(batch["src"], batch["pose"], batch["tgt"], batch["src_pose"])
        return loss, {k: metrics[k] for k in ("loss", "nce", "top1", "top5")}


class FusionTask(Task):
    stage = "fusion"
    log_columns = ("loss", "nce", "top1", "top5", "val_top1", "val_top5", "val_mean_rank")

    def setup(self, accelerator) -> None:
        from ..models.fusion import Stage1

        self.size = build_size(self.cfg.model)
        s1 = self.size.stage1
        if self.cfg.model.encoder_weights:
            s1.encoder.pretrained = self.cfg.model.encoder_weights
        stage1 = Stage1.from_config(s1)
        if self.stage_cfg.encoder_lr <= 0:
            stage1.encoder.requires_grad_(False)
        self.objective = FusionObjective(stage1)
        self.dataset = PairDataset(self.prepared, self.cfg.data.split, self.size.image_size,
                                   resize=self.cfg.data.resize, jitter_px=self.cfg.data.jitter_px)
        self.val = self.val_dataset()

    def trainable(self, objective: nn.Module) -> nn.Module:
        return objective.stage1

    def param_groups(self, objective: nn.Module) -> list[dict]:
        s1 = objective.stage1
        groups = [{"params": list(s1.fusion.parameters()), "lr": self.stage_cfg.lr}]
        enc = [p for p in s1.encoder.parameters() if p.requires_grad]
        if enc:
            groups.append({"params": enc, "lr": self.stage_cfg.encoder_lr})
        return groups

    @torch.no_grad()
    def evaluate(self, objective: nn.Module, step: int, ema: EMA | None) -> dict[str, float]:
        if self.val is None or len(self.val) < 2:
            return {}
        s1 = objective.stage1
        device = next(s1.parameters()).device
        fused, target = [], []
        for start in range(0, len(self.val), 32):
            items = [self.val[i] for i in range(start, min(start + 32, len(self.val)))]
            src, pose, tgt = (torch.stack([it[k] for it in items]).to(device) for k in ("src", "pose", "tgt"))
            fused.append(s1(src, pose))
            target.append(s1.encoder.embed(tgt))
        m = retrieval_topk(torch.cat(fused), torch.cat(target))
        return {"val_top1": m["top1"], "val_top5": m["top5"], "val_mean_rank": m["mean_rank"]}

    def export(self, objective: nn.Module, step: int, ema: EMA | None, final: bool) -> None:
        save_stage1(self.run / "stage1", objective.stage1)
