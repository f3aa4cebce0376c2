"""Stage-1 image encoder: shapes, normalisation, configs, and safe local weight loading."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import open_clip
import pytest
import torch
from safetensors.torch import save_file

from signgen.errors import InputError
from signgen.models import EncoderConfig
from signgen.models.encoder import ImageEncoder, TINY_MODEL_CFG, _STUB_TEXT_CFG


@pytest.fixture(scope="module")
def tiny() -> ImageEncoder:
    torch.manual_seed(0)
    return ImageEncoder(EncoderConfig(arch="tiny", image_size=64)).eval()


class Evil:
    """Any non-tensor object in a checkpoint needs a full unpickle, which the loader refuses."""


def _reference_clip(seed: int = 1) -> torch.nn.Module:
    """A full open_clip CLIP model (image + text towers) with the tiny vision config."""
    torch.manual_seed(seed)
    return open_clip.create_model(
        "ViT-B-32", pretrained=None, pretrained_text=False, **{**TINY_MODEL_CFG, "text_cfg": _STUB_TEXT_CFG}
    ).eval()


def test_package_import_is_light() -> None:
    code = "import sys, signgen.models as m; m.EncoderConfig(); m.FusionConfig(8, 8); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_shapes_and_unit_norm(tiny: ImageEncoder) -> None:
    x = torch.rand(5, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        emb, tok = tiny.embed_and_tokens(x)
        assert emb.shape == (5, 128)
        assert tok.shape == (5, 64, 128)  # (64 / 8) ** 2 patches, class token excluded
        torch.testing.assert_close(emb.norm(dim=-1), torch.ones(5))
        torch.testing.assert_close(tiny.embed(x), emb)
        torch.testing.assert_close(tiny.tokens(x), tok)
        assert not torch.allclose(emb[0], emb[1])


def test_other_input_sizes_are_resized(tiny: ImageEncoder) -> None:
    x = torch.rand(2, 3, 96, 80)
    with torch.no_grad():
        assert tiny.embed(x).shape == (2, 128)
        assert tiny.tokens(x).shape == (2, 64, 128)
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        tiny.embed(torch.rand(2, 64, 64))


def test_config_is_filled_and_json_round_trips(tiny: ImageEncoder) -> None:
    cfg = tiny.config
    assert (cfg.embed_dim, cfg.token_dim, cfg.pretrained) == (128, 128, None)
    again = ImageEncoder.from_config(json.loads(json.dumps(dataclasses.asdict(cfg))))
    assert again.config == cfg
    again.load_state_dict(tiny.state_dict())
    x = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(again.eval().embed(x), tiny.embed(x))


def test_named_open_clip_arch_with_forced_size() -> None:
    enc = ImageEncoder(EncoderConfig(arch="ViT-S-32", image_size=64)).eval()
    assert (enc.config.embed_dim, enc.config.token_dim) == (384, 384)
    with torch.no_grad():
        emb, tok = enc.embed_and_tokens(torch.rand(2, 3, 64, 64))
    assert emb.shape == (2, 384) and tok.shape == (2, 4, 384)


def test_bad_configs_raise_clear_errors() -> None:
    with pytest.raises(InputError, match="unknown encoder architecture 'ViT-Nope'"):
        ImageEncoder(EncoderConfig(arch="ViT-Nope"))
    with pytest.raises(InputError, match="embed_dim=64 does not match architecture 'tiny' \\(128\\)"):
        ImageEncoder(EncoderConfig(arch="tiny", embed_dim=64))


@pytest.mark.parametrize("prefixed", [True, False], ids=["full-clip-checkpoint", "visual-only"])
def test_local_safetensors_weights_give_identical_outputs(tmp_path, prefixed: bool) -> None:
    ref = _reference_clip()
    state = ref.state_dict() if prefixed else ref.visual.state_dict()
    path = tmp_path / "open_clip_model.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))

    enc = ImageEncoder(EncoderConfig(arch="tiny", image_size=64, pretrained=str(path))).eval()
    assert enc.pretrained_from == str(path) and enc.config.pretrained is None
    x = torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    mean = torch.tensor(open_clip.OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(open_clip.OPENAI_DATASET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = ref.encode_image((x - mean) / std, normalize=True)
        torch.testing.assert_close(enc.embed(x), expected, rtol=0, atol=1e-6)
    # A folder holding that one file works too.
    enc2 = ImageEncoder(EncoderConfig(arch="tiny", pretrained=str(tmp_path))).eval()
    with torch.no_grad():
        assert torch.equal(enc2.embed(x), enc.embed(x))


def test_pickle_checkpoints_are_refused_never_unpickled(tmp_path, monkeypatch) -> None:
    ref = _reference_clip(seed=3)
    calls = []
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(a))
    for name, obj in (("weights.pt", {"state_dict": ref.state_dict()}), ("evil.bin", {"x": Evil()})):
        path = tmp_path / name
        path.write_bytes(b"a pickle")  # never opened: refused by its type
        with pytest.raises(InputError, match=rf"{name}: refusing to load a pickle-format checkpoint.*safetensors"):
            ImageEncoder(EncoderConfig(arch="tiny", pretrained=str(path)))
    assert calls == []


def test_bad_pretrained_paths(tmp_path) -> None:
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(InputError, match=r"nope\.safetensors: pretrained encoder weights not found"):
        ImageEncoder(EncoderConfig(pretrained=str(missing)))
    ckpt = tmp_path / "model.ckpt"
    ckpt.write_bytes(b"xx")
    with pytest.raises(InputError, match=r"model\.ckpt: unsupported weights file type '\.ckpt'"):
        ImageEncoder(EncoderConfig(pretrained=str(ckpt)))
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not safetensors")
    with pytest.raises(InputError, match=r"broken\.safetensors: not a readable safetensors file"):
        ImageEncoder(EncoderConfig(pretrained=str(broken)))
    other = tmp_path / "other.safetensors"
    save_file({"visual.conv1.weight": torch.zeros(8, 3, 4, 4)}, str(other))
    shape_msg = r"other\.safetensors: weights do not fit encoder.*another shape \(e\.g\. conv1\.weight.*missing"
    with pytest.raises(InputError, match=shape_msg):
        ImageEncoder(EncoderConfig(pretrained=str(other)))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="empty: expected exactly one .safetensors"):
        ImageEncoder(EncoderConfig(pretrained=str(empty)))


def test_pretrained_from_another_image_size_interpolates_positions(tmp_path) -> None:
    ref = _reference_clip(seed=4)  # 64 px: 8x8 patch grid
    path = tmp_path / "clip64.safetensors"
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(path))
    enc = ImageEncoder(EncoderConfig(arch="tiny", image_size=32, pretrained=str(path))).eval()
    assert enc.visual.positional_embedding.shape == (1 + 4 * 4, 128)
    assert torch.equal(enc.visual.conv1.weight, ref.visual.conv1.weight)
    assert torch.equal(enc.visual.positional_embedding[0], ref.visual.positional_embedding[0])  # class token kept
    with torch.no_grad():
        assert enc.tokens(torch.rand(2, 3, 32, 32)).shape == (2, 16, 128)
