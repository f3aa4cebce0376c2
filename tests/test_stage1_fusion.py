"""Stage-1 fusion module and Stage1 model: mixing, gate, save/load round trip, a real training run."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
import torch.nn.functional as F

from signgen.errors import InputError
from signgen.models import EncoderConfig, FusionConfig, Stage1Config
from signgen.models.fusion import FusionModule, Stage1


def _unit(n: int, d: int, seed: int) -> torch.Tensor:
    return F.normalize(torch.randn(n, d, generator=torch.Generator().manual_seed(seed)), dim=-1)


def _blobs(n: int, size: int, seed: int) -> tuple[torch.Tensor, ...]:
    """Synthetic triples where the target needs both inputs: a disc with the SOURCE's colour at the
    POSE's position. Four colours shared by n samples, so colour alone cannot identify a target.
    Returns (source, target pose, target, source pose) images [n, 3, size, size] in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    palette = torch.tensor([[0.9, 0.1, 0.1], [0.1, 0.8, 0.2], [0.1, 0.2, 0.9], [0.9, 0.9, 0.1]])
    colour = palette[torch.arange(n) % 4].view(n, 3, 1, 1)
    p_src = torch.rand(n, 2, generator=g) * (size - 8) + 4
    p_tgt = torch.rand(n, 2, generator=g) * (size - 8) + 4
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")

    def disc(p: torch.Tensor, r: float) -> torch.Tensor:
        return (((yy - p[:, 0, None, None]) ** 2 + (xx - p[:, 1, None, None]) ** 2) < r * r).float()[:, None]

    bg = torch.full((n, 3, size, size), 0.5)
    src = bg * (1 - disc(p_src, size / 6)) + colour * disc(p_src, size / 6)
    tgt = bg * (1 - disc(p_tgt, size / 6)) + colour * disc(p_tgt, size / 6)
    pose = disc(p_tgt, size / 12).expand(n, 3, size, size).clone()
    src_pose = disc(p_src, size / 12).expand(n, 3, size, size).clone()
    return src, pose, tgt, src_pose


def test_fusion_shapes_norm_and_gate_range() -> None:
    torch.manual_seed(0)
    fusion = FusionModule(FusionConfig(embed_dim=16, hidden_dim=32)).eval()
    src, pose = _unit(9, 16, 1), _unit(9, 16, 2)
    fused, gate = fusion.fuse(src, pose)
    assert fused.shape == (9, 16) and gate.shape == (9, 1)
    torch.testing.assert_close(fused.norm(dim=-1), torch.ones(9))
    assert bool(((gate > 0) & (gate < 1)).all())
    # Extreme inputs saturate the sigmoid but never leave [0, 1].
    _, g_big = fusion.fuse(1e4 * src, -1e4 * pose)
    assert bool(((g_big >= 0) & (g_big <= 1)).all())
    with pytest.raises(ValueError, match=r"\[B, 16\]"):
        fusion(src[:, :8], pose[:, :8])


def test_fusion_is_a_gated_residual_mix() -> None:
    # With the MLP branch's last layer zeroed, the output is exactly normalize(g*pose + (1-g)*src).
    torch.manual_seed(0)
    fusion = FusionModule(FusionConfig(embed_dim=16, hidden_dim=32)).eval()
    with torch.no_grad():
        fusion.combine[-1].weight.zero_()
        fusion.combine[-1].bias.zero_()
    src, pose = _unit(5, 16, 3), _unit(5, 16, 4)
    fused, gate = fusion.fuse(src, pose)
    torch.testing.assert_close(fused, F.normalize(gate * pose + (1 - gate) * src, dim=-1))
    # The gate is per sample (FPDM's dynamic scalar), not one global number.
    assert gate.std() > 0


def test_dropout_only_in_training() -> None:
    torch.manual_seed(0)
    fusion = FusionModule(FusionConfig(embed_dim=16, hidden_dim=32, dropout=0.5))
    src, pose = _unit(4, 16, 5), _unit(4, 16, 6)
    assert not torch.equal(fusion(src, pose), fusion(src, pose))
    fusion.eval()
    assert torch.equal(fusion(src, pose), fusion(src, pose))


def test_bad_fusion_configs() -> None:
    with pytest.raises(InputError, match="dropout must be in"):
        FusionModule(FusionConfig(embed_dim=16, hidden_dim=32, dropout=1.0))
    with pytest.raises(InputError, match="fusion embed_dim 64 does not match the encoder's 128"):
        Stage1(EncoderConfig(image_size=32), FusionConfig(embed_dim=64, hidden_dim=32))


def test_stage1_forward_and_exact_round_trip() -> None:
    torch.manual_seed(0)
    model = Stage1(EncoderConfig(arch="tiny", image_size=32), FusionConfig(embed_dim=0, hidden_dim=64)).eval()
    cfg = model.config
    assert cfg.fusion.embed_dim == 128 and cfg.encoder.embed_dim == 128
    as_json = json.loads(json.dumps(dataclasses.asdict(cfg)))
    assert Stage1Config.from_dict(as_json) == cfg

    torch.manual_seed(123)  # a different random init, overwritten by the state dict
    again = Stage1.from_config(as_json).eval()
    again.load_state_dict(model.state_dict())
    for k, v in model.state_dict().items():
        assert torch.equal(v, again.state_dict()[k]), k
    src, pose, _, _ = _blobs(3, 32, seed=1)
    with torch.no_grad():
        out = model(src, pose)
        assert out.shape == (3, 128)
        torch.testing.assert_close(out.norm(dim=-1), torch.ones(3))
        assert torch.equal(again(src, pose), out)
        # The pose image goes through the same encoder as the source.
        e = model.encoder.embed(torch.cat([src, pose]))
        assert torch.equal(model.fusion(e[:3], e[3:]), out)
        # One source encoded once, fused with several poses (the video path).
        src_emb, src_tokens = model.encode_source(src[:1])
        assert src_tokens.shape == (1, 16, 128)
        per_frame = model.fuse_poses(src_emb, pose)
        torch.testing.assert_close(per_frame, model(src[:1].expand(3, -1, -1, -1), pose))


def test_stage1_training_lowers_loss_and_learns_the_pose() -> None:
    torch.manual_seed(0)
    model = Stage1(EncoderConfig(arch="tiny", image_size=32), FusionConfig(embed_dim=0, hidden_dim=128))
    data = _blobs(16, 32, seed=0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    history = []
    for _ in range(30):
        loss, metrics = model.loss(*data)
        assert torch.isfinite(loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(metrics)
    first, last = history[0], history[-1]
    assert set(first) >= {"loss", "nce", "l1", "top1", "top5", "mean_rank", "gate_mean"}
    assert 0.0 <= last["gate_mean"] <= 1.0
    assert last["loss"] < 0.5 * first["loss"]
    model.eval()
    with torch.no_grad():
        _, final = model.loss(*data)
    # Four samples share each colour, so telling their targets apart needs the pose image.
    assert first["top1"] < 0.5
    assert final["top1"] >= 0.9


def test_stage1_loss_wiring_matches_the_loss_functions() -> None:
    from signgen.models.losses import source_enhanced_info_nce

    torch.manual_seed(0)
    model = Stage1(EncoderConfig(arch="tiny", image_size=32), FusionConfig(embed_dim=0, hidden_dim=32)).eval()
    src, pose, tgt, src_pose = _blobs(4, 32, seed=2)
    with torch.no_grad():
        e_src, e_pose, e_tgt, e_sp = (model.encoder.embed(x) for x in (src, pose, tgt, src_pose))
        fused = model.fusion(e_src, e_pose)
        with_sp, _ = source_enhanced_info_nce(fused, e_tgt, e_src, model.fusion(e_src, e_sp))
        release, _ = source_enhanced_info_nce(fused, e_tgt, e_src, None)
        loss_sp, m_sp = model.loss(src, pose, tgt, src_pose)
        loss_rel, _ = model.loss(src, pose, tgt)
    assert loss_sp.item() == pytest.approx(with_sp.item(), rel=1e-5)
    assert loss_rel.item() == pytest.approx(release.item(), rel=1e-5)
    assert loss_sp.item() != pytest.approx(loss_rel.item())
    assert m_sp["loss"] == pytest.approx(loss_sp.item())
