"""Stage-1 contrastive losses and retrieval metrics.

FPDM's released fusion code uses a ONE-WAY InfoNCE: each true target embedding is the query, and
the softmax runs over the batch's predicted (fused) embeddings; `info_nce(..., symmetric=False)`
is that. The symmetric (CLIP-style, both directions averaged) form is available as an option.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["info_nce", "source_enhanced_info_nce", "retrieval_topk"]


def _similarities(query: torch.Tensor, gallery: torch.Tensor) -> torch.Tensor:
    """Cosine similarities [Nq, Ng]; inputs are re-normalised so un-normalised embeddings work too."""
    if query.ndim != 2 or gallery.ndim != 2 or query.shape[1] != gallery.shape[1]:
        raise ValueError(f"embeddings must be [N, D] with equal D, got {tuple(query.shape)} and {tuple(gallery.shape)}")
    return F.normalize(query, dim=-1) @ F.normalize(gallery, dim=-1).T


def info_nce(
    pred: torch.Tensor, target: torch.Tensor, temperature: float = 0.07, symmetric: bool = False
) -> torch.Tensor:
    """InfoNCE where row i of `pred` and row i of `target` are the positive pair.

    One-way (FPDM): for each target, cross-entropy over all predictions. With `symmetric=True`,
    the mean of that and the prediction->target direction.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}")
    logits = _similarities(target, pred) / temperature
    labels = torch.arange(logits.shape[0], device=logits.device)
    loss = F.cross_entropy(logits, labels)
    if symmetric:
        loss = 0.5 * (loss + F.cross_entropy(logits.T, labels))
    return loss


def source_enhanced_info_nce(
    fused: torch.Tensor,
    target_emb: torch.Tensor,
    source_emb: torch.Tensor,
    source_fused: torch.Tensor | None = None,
    temperature: float = 0.07,
    l1_weight: float = 1e-4,
    symmetric: bool = False,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """FPDM's stage-1 objective: InfoNCE with the source appended to both sides, plus a small L1.

    The batch becomes 2B pairs: (target_i, fused_i) and (source_i, source_side_i). The source side is
    `source_fused` = fusion(source, source pose) when given, so that fusion learns to reproduce the
    source when asked for the source's own pose; without it, it is the source embedding itself, as
    in FPDM's released code. Either way each target must also be told apart from its own source,
    which stops the fusion from just copying the source. The L1 term (mean |source - fused| over the
    first B rows) is a light pull toward the source's appearance.
    Returns (loss, parts) with parts "nce" and "l1".
    """
    side = source_emb if source_fused is None else source_fused
    preds = torch.cat([fused, side], dim=0)
    targets = torch.cat([target_emb, source_emb], dim=0)
    nce = info_nce(preds, targets, temperature=temperature, symmetric=symmetric)
    l1 = (source_emb - fused).abs().mean()
    return nce + l1_weight * l1, {"nce": nce.detach(), "l1": l1.detach()}


@torch.no_grad()
def retrieval_topk(pred: torch.Tensor, target: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """Retrieve each prediction's true target among all targets of the batch (cosine similarity).

    The rank of target i for prediction i is the number of OTHER targets scoring at least as high
    (ties count against the prediction, so a constant predictor scores 0, not 1). Returns
    {"top{k}": fraction with rank < k, ..., "mean_rank": 1 + mean rank}.
    """
    sims = _similarities(pred, target)
    positive = sims.diagonal().unsqueeze(1)
    others = ~torch.eye(sims.shape[0], dtype=torch.bool, device=sims.device)
    rank = ((sims >= positive) & others).sum(dim=1).float()
    out = {f"top{k}": float((rank < k).float().mean()) for k in ks}
    out["mean_rank"] = float(1.0 + rank.mean())
    return out
