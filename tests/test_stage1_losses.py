"""Stage-1 losses and retrieval metrics on constructed embeddings with known answers."""

from __future__ import annotations

import math

import pytest
import torch

from signgen.models.losses import info_nce, retrieval_topk, source_enhanced_info_nce


def test_info_nce_matches_closed_form_on_orthogonal_embeddings() -> None:
    b, tau = 6, 0.5  # a loss well above float32 round-off
    e = torch.eye(b)
    expected = -math.log(math.exp(1 / tau) / (math.exp(1 / tau) + (b - 1)))
    assert info_nce(e, e, temperature=tau).item() == pytest.approx(expected, rel=1e-5)
    # Cosine similarity: scaling the inputs changes nothing.
    assert info_nce(3 * e, 0.5 * e, temperature=tau).item() == pytest.approx(expected, rel=1e-5)


def test_info_nce_is_one_way_target_to_prediction() -> None:
    # Two targets, three-way asymmetric case: each TARGET row is softmaxed over predictions.
    pred = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    target = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    tau = 0.5
    s = target @ pred.T / tau  # rows: targets, cols: predictions
    row = -(s.diagonal() - torch.logsumexp(s, dim=1)).mean()
    col = -(s.diagonal() - torch.logsumexp(s, dim=0)).mean()
    assert not torch.isclose(row, col)
    assert info_nce(pred, target, temperature=tau).item() == pytest.approx(row.item(), rel=1e-6)
    assert info_nce(pred, target, temperature=tau, symmetric=True).item() == pytest.approx(
        0.5 * (row + col).item(), rel=1e-6
    )
    with pytest.raises(ValueError, match="same shape"):
        info_nce(pred, target[:1])


def test_source_enhanced_appends_source_on_both_sides() -> None:
    g = torch.Generator().manual_seed(0)
    unit = torch.nn.functional.normalize
    fused, tgt, src, src_fused = (unit(torch.randn(4, 8, generator=g), dim=-1) for _ in range(4))
    loss, parts = source_enhanced_info_nce(fused, tgt, src, src_fused, temperature=0.1, l1_weight=1e-4)
    nce = info_nce(torch.cat([fused, src_fused]), torch.cat([tgt, src]), temperature=0.1)
    l1 = (src - fused).abs().mean()
    assert parts["nce"].item() == pytest.approx(nce.item(), rel=1e-6)
    assert parts["l1"].item() == pytest.approx(l1.item(), rel=1e-6)
    assert loss.item() == pytest.approx((nce + 1e-4 * l1).item(), rel=1e-6)
    # FPDM release variant: the source embedding itself is the appended prediction.
    _, parts0 = source_enhanced_info_nce(fused, tgt, src, None, temperature=0.1)
    nce0 = info_nce(torch.cat([fused, src]), torch.cat([tgt, src]), temperature=0.1)
    assert parts0["nce"].item() == pytest.approx(nce0.item(), rel=1e-6)


def test_source_enhanced_penalises_copying_the_source() -> None:
    # Predicting the source embedding for every target is worse than predicting the targets.
    e = torch.eye(8)
    src, tgt = e[:4], e[4:]
    copy, _ = source_enhanced_info_nce(src.clone(), tgt, src)
    right, _ = source_enhanced_info_nce(tgt.clone(), tgt, src)
    assert right.item() < copy.item() - 1.0


def test_retrieval_topk_exact_ranks() -> None:
    target = torch.eye(7)
    weights = torch.tensor(
        [
            [5, 0, 0, 0, 0, 0, 0],  # rank 0
            [3, 2, 0, 0, 0, 0, 0],  # one target scores higher: rank 1
            [0, 0, 1, 2, 3, 4, 5],  # four higher: rank 4
            [9, 9, 9, 1, 9, 9, 9],  # six higher: rank 6
            [0, 0, 0, 0, 1, 1, 0],  # a tie counts against: rank 1
            [0, 0, 0, 0, 0, 1, 0],  # rank 0
            [1, 1, 1, 1, 1, 2, 1],  # one higher, five ties: rank 6
        ],
        dtype=torch.float32,
    )
    out = retrieval_topk(weights, target, ks=(1, 5))
    ranks = [0, 1, 4, 6, 1, 0, 6]
    assert out["top1"] == pytest.approx(2 / 7)
    assert out["top5"] == pytest.approx(5 / 7)
    assert out["mean_rank"] == pytest.approx(1 + sum(ranks) / 7)
    assert retrieval_topk(weights, target, ks=(2,)) == pytest.approx({"top2": 4 / 7, "mean_rank": 1 + sum(ranks) / 7})


def test_retrieval_constant_predictor_scores_zero() -> None:
    target = torch.eye(4)
    out = retrieval_topk(torch.ones(4, 4), target)
    assert out["top1"] == 0.0 and out["mean_rank"] == 4.0
