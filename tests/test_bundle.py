"""The model bundle: exact save/load round trip, safetensors only, atomic writes, clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from signgen.errors import InputError
from signgen.models.bundle import BundleMeta, is_bundle, load_bundle, save_bundle
from signgen.models.device import pick_device
from signgen.models.fusion import Stage1
from signgen.models.sizes import get_size
from signgen.models.stage2 import Stage2
from signgen.models.vae import load_vae


@pytest.fixture(scope="module")
def parts():
    torch.manual_seed(0)
    size = get_size("tiny")
    stage1 = Stage1.from_config(size.stage1).eval()
    stage2 = Stage2(size.stage2).eval()
    with torch.no_grad():  # as if trained: the pose path is live
        stage2.unet.conv_in.weight.normal_(0, 0.05)
    vae = load_vae(None, size.vae).eval()
    return size, stage1, stage2, vae


@pytest.fixture(scope="module")
def bundle_dir(parts, tmp_path_factory) -> Path:
    size, stage1, stage2, vae = parts
    folder = tmp_path_factory.mktemp("bundles") / "tiny"
    save_bundle(folder, stage1=stage1, stage2=stage2, vae=vae, scheduler_config=size.scheduler,
                meta={"size": "tiny", "steps": 12, "run": "test"})
    return folder


def _states_equal(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert sa[k].dtype == sb[k].dtype and torch.equal(sa[k], sb[k]), k


def test_round_trip_is_exact(parts, bundle_dir):
    _, stage1, stage2, vae = parts
    b = load_bundle(bundle_dir, "cpu", torch.float32)
    _states_equal(stage1, b.stage1)
    _states_equal(stage2, b.stage2)
    _states_equal(vae, b.vae)
    g = torch.Generator().manual_seed(3)
    src, pose = torch.rand(1, 3, 64, 64, generator=g), torch.rand(2, 3, 64, 64, generator=g)
    x = torch.randn(2, 4, 32, 32, generator=g)
    with torch.no_grad():
        fused, fused2 = stage1(src, pose[:1]), b.stage1(src, pose[:1])
        toks, toks2 = stage1.encoder.tokens(src), b.stage1.encoder.tokens(src)
        z, z2 = vae.encode(src), b.vae.encode(src)
        out = stage2.forward_branches(x, 500, fused, toks, pose, src_latents=z)
        out2 = b.stage2.forward_branches(x, 500, fused2, toks2, pose, src_latents=z2)
        img, img2 = vae.decode(x), b.vae.decode(x)
    assert z.shape == (1, 4, 32, 32) and torch.equal(z, z2)
    assert b.stage2.config.src_latent_channels == 4  # the config round-trips too
    assert torch.equal(fused, fused2) and torch.equal(toks, toks2)
    for o, o2 in zip(out, out2):
        assert torch.equal(o, o2)
    assert torch.equal(img, img2)


def test_meta_scheduler_and_layout(bundle_dir):
    b = load_bundle(bundle_dir)
    assert b.meta == BundleMeta(size="tiny", image_size=(64, 64), steps=12, guidance=2.0, sampler="ddpm",
                                extra={"run": "test"})
    assert type(b.scheduler).__name__ == "DDPMScheduler"
    assert b.scheduler.config.beta_schedule == "linear"
    assert not b.stage2.training and b.device == torch.device("cpu")
    manifest = json.loads((bundle_dir / "bundle.json").read_text())
    assert manifest["format"] == "signgen-bundle" and manifest["version"] == 1
    files = sorted(str(p.relative_to(bundle_dir)) for p in bundle_dir.rglob("*") if p.is_file())
    assert files == ["bundle.json", "model_index.json", "scheduler/scheduler_config.json",
                     "stage1/config.json", "stage1/model.safetensors",
                     "stage2/config.json", "stage2/model.safetensors",
                     "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
                     "vae/config.json", "vae/diffusion_pytorch_model.safetensors"]
    # The stage-2 file holds the conditioners only (the UNet is unet/), and describes itself.
    with safe_open(str(bundle_dir / "stage2" / "model.safetensors"), "pt") as f:
        assert not any(k.startswith("unet.") for k in f.keys())
        assert json.loads(f.metadata()["config"]) == json.loads((bundle_dir / "stage2" / "config.json").read_text())
    assert is_bundle(bundle_dir) and not is_bundle(bundle_dir / "unet")


def test_load_in_bfloat16(bundle_dir):
    b = load_bundle(bundle_dir, torch.device("cpu"), torch.bfloat16)
    assert b.dtype == torch.bfloat16
    assert {p.dtype for m in (b.stage1, b.stage2, b.vae) for p in m.parameters()} == {torch.bfloat16}
    # fp32 latents and conditions go in, fp32 predictions come out (the UNet runs in bf16).
    with torch.no_grad():
        out = b.stage2(torch.randn(2, 4, 32, 32), 10, torch.randn(2, 128), torch.randn(1, 5, 128),
                       torch.rand(2, 3, 64, 64), src_latents=torch.randn(1, 4, 32, 32))
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


def _copy(bundle_dir: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(bundle_dir, dst)
    return dst


def test_pickle_file_in_bundle_is_refused(bundle_dir, tmp_path):
    bad = _copy(bundle_dir, tmp_path)
    torch.save({"w": torch.zeros(1)}, bad / "unet" / "diffusion_pytorch_model.bin")
    with pytest.raises(InputError, match=r"pickle-based file\(s\) unet/diffusion_pytorch_model.bin; refusing"):
        load_bundle(bad)


def test_not_a_bundle_and_missing_files(bundle_dir, tmp_path):
    with pytest.raises(InputError, match="bundle folder does not exist"):
        load_bundle(tmp_path / "nothing")
    (tmp_path / "plain").mkdir()
    with pytest.raises(InputError, match=r"plain: not a signgen model bundle \(no bundle.json\)"):
        load_bundle(tmp_path / "plain")
    bad = _copy(bundle_dir, tmp_path)
    (bad / "stage2" / "model.safetensors").unlink()
    with pytest.raises(InputError, match="bundle is incomplete: missing stage2/model.safetensors"):
        load_bundle(bad)


def test_bad_manifest_and_corrupt_weights(bundle_dir, tmp_path):
    bad = _copy(bundle_dir, tmp_path)
    manifest = json.loads((bad / "bundle.json").read_text())
    (bad / "bundle.json").write_text(json.dumps(dict(manifest, version=99)))
    with pytest.raises(InputError, match="unsupported bundle format version 99"):
        load_bundle(bad)
    (bad / "bundle.json").write_text("{oops")
    with pytest.raises(InputError, match=r"bundle.json: invalid JSON"):
        load_bundle(bad)
    (bad / "bundle.json").write_text(json.dumps(manifest))
    (bad / "stage1" / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(InputError, match=r"model.safetensors: unreadable safetensors file"):
        load_bundle(bad)


def test_bad_meta_and_config_values(bundle_dir, tmp_path):
    bad = _copy(bundle_dir, tmp_path)
    manifest = json.loads((bad / "bundle.json").read_text())
    manifest["meta"]["steps"] = 0
    (bad / "bundle.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match=r"bundle.json: meta steps must be an integer in 1..10000, got 0"):
        load_bundle(bad)
    manifest["meta"]["steps"] = 20
    (bad / "bundle.json").write_text(json.dumps(manifest))
    cfg = json.loads((bad / "stage2" / "config.json").read_text())
    (bad / "stage2" / "config.json").write_text(json.dumps(dict(cfg, drop_pose=1.5)))
    with pytest.raises(InputError, match=r"stage2/config.json: drop_pose: must be a finite number in \[0, 1\], got 1.5"):
        load_bundle(bad)
    (bad / "stage2" / "config.json").write_text(json.dumps(dict(cfg, future_option=1)))
    with pytest.raises(InputError, match=r"future_option: unknown config key"):
        load_bundle(bad)


def test_weights_that_do_not_fit_the_config(bundle_dir, tmp_path):
    bad = _copy(bundle_dir, tmp_path)
    cfg = json.loads((bad / "stage2" / "config.json").read_text())
    (bad / "stage2" / "config.json").write_text(json.dumps(dict(cfg, class_hidden_dim=64)))
    with pytest.raises(InputError, match="weights do not fit the config"):
        load_bundle(bad)


def test_save_replaces_a_bundle_but_not_other_folders(parts, bundle_dir, tmp_path):
    size, stage1, stage2, vae = parts
    target = _copy(bundle_dir, tmp_path)
    save_bundle(target, stage1=stage1, stage2=stage2, vae=vae, scheduler_config=size.scheduler,
                meta=BundleMeta(size="tiny", steps=7))
    assert load_bundle(target).meta.steps == 7
    other = tmp_path / "photos"
    other.mkdir()
    (other / "me.jpg").write_bytes(b"x")
    with pytest.raises(InputError, match="not empty and is not a signgen bundle; refusing to overwrite"):
        save_bundle(other, stage1=stage1, stage2=stage2, vae=vae, scheduler_config=size.scheduler)
    assert sorted(p.name for p in other.iterdir()) == ["me.jpg"]
    # No temp folders are left behind, on success or failure.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy", "photos"]


def test_unknown_scheduler_is_refused_before_writing(parts, tmp_path):
    size, stage1, stage2, vae = parts
    with pytest.raises(InputError, match="unknown noise scheduler class 'os.system'"):
        save_bundle(tmp_path / "b", stage1=stage1, stage2=stage2, vae=vae,
                    scheduler_config={"_class_name": "os.system"})
    assert list(tmp_path.iterdir()) == []


def test_pick_device():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto").type in {"cpu", "cuda", "mps"}
    with pytest.raises(InputError, match="unknown device 'banana'"):
        pick_device("banana")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA is not available"):
            pick_device("cuda")


def test_build_bundle_from_a_size_then_save_and_load(tmp_path):
    from signgen.models.bundle import build_bundle

    torch.manual_seed(0)
    b = build_bundle(get_size("tiny"))
    assert b.folder is None and b.meta.size == "tiny" and b.meta.image_size == (64, 64)
    assert (b.stage2.unet.conv_in.weight[:, 4:] == 0).all()
    b.save(tmp_path / "fresh")
    again = load_bundle(tmp_path / "fresh")
    _states_equal(b.stage2, again.stage2)
    assert again.meta == b.meta
    public = lambda c: {k: v for k, v in c.items() if not k.startswith("_")}  # noqa: E731
    assert public(again.scheduler.config) == public(b.scheduler.config)
    assert torch.equal(again.scheduler.betas, b.scheduler.betas)


def test_replace_vae_decoder_takes_only_the_same_encoder(parts, bundle_dir, tmp_path):
    from signgen.models.bundle import replace_vae_decoder

    folder = _copy(bundle_dir, tmp_path)
    vae = load_bundle(folder).vae
    with torch.no_grad():
        vae.model.decoder.conv_out.bias.add_(0.5)  # a "fine-tuned" decoder
    vae.model.save_pretrained(tmp_path / "dec", safe_serialization=True)
    replace_vae_decoder(folder, tmp_path / "dec")
    loaded = load_bundle(folder)
    _states_equal(loaded.vae.model, vae.model)
    _states_equal(loaded.stage2, load_bundle(bundle_dir).stage2)  # the rest is untouched
    assert loaded.meta.extra["vae_decoder"] == str(tmp_path / "dec")

    with torch.no_grad():
        vae.model.encoder.conv_in.bias.add_(0.5)  # another encoder: other latents
    vae.model.save_pretrained(tmp_path / "enc", safe_serialization=True)
    with pytest.raises(InputError, match="enc: this VAE's encoder or scaling factor differs from the bundle's"):
        replace_vae_decoder(folder, tmp_path / "enc")
    _states_equal(load_bundle(folder).vae.model, loaded.vae.model)  # nothing written
