"""Training: losses go down, resume is exact, checkpoints are safetensors, bundles load, 2 CPU processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from signgen.config import load_config
from signgen.errors import InputError
from signgen.train import train_stage
from signgen.train.common import latest_checkpoint, list_checkpoints
from signgen.train.data import PairDataset, StepBatches
from signgen.train.toy import TOY_MODEL, make_toy_prepared

# Most runs here use an untrained VAE / stage 1 on purpose; the warning saying so is expected.
pytestmark = pytest.mark.filterwarnings("ignore:.*UNTRAINED:UserWarning")

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml"

# Small and fast: no mixed precision (exactness), no warm-up, frequent checkpoints.
BASE = [
    "train.mixed_precision=no", "train.log_every=1", "train.sample_every=0", "train.checkpoint_every=3",
    "train.keep_checkpoints=2", "train.ema_decay=0.9", "data.jitter_px=0.5", "data.val_pairs=4",
    "vae.warmup=0", "fusion.warmup=0", "diffusion.warmup=0",
    "vae.batch_size=6", "fusion.batch_size=8", "diffusion.batch_size=6",
    *TOY_MODEL,  # a small UNet, encoder and VAE with the tiny geometry
]


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("toy")
    make_toy_prepared(root, clips=3, frames=6, pairs_per_clip=8)
    return root / "prepared"


def cfg(*extra: str):
    return load_config(CONFIG, BASE + list(extra))


def _fixed_loss(stage: str, config, data: Path, run: Path, weights: dict | None) -> float:
    """The objective's loss on a fixed batch with a fixed generator, at init or with `weights`."""
    import importlib

    from signgen.train import TASKS
    from signgen.train.loop import make_accelerator

    module, name = TASKS[stage].split(":")
    task = getattr(importlib.import_module(module), name)(config, data, run)
    torch.manual_seed(config.train.seed)
    task.setup(make_accelerator(config, task.stage_cfg, run))
    if weights is not None:
        task.trainable(task.objective).load_state_dict(weights)
    obj = task.objective.eval()
    items = [task.dataset[i] for i in range(len(task.dataset))][:12]
    batch = {k: torch.stack([it[k] for it in items]) for k in items[0] if torch.is_tensor(items[0][k])}
    losses = []
    for seed in range(3):
        gen = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        with torch.no_grad():
            losses.append(float(obj(batch, gen)[0]))
    return float(np.mean(losses))


@pytest.mark.parametrize("stage, extra", [
    ("vae", ["vae.steps=6", "vae.lr=3e-3", "vae.batch_size=4"]),
    ("fusion", ["fusion.steps=16", "fusion.lr=1e-3", "fusion.encoder_lr=5e-4"]),
    ("diffusion", ["diffusion.steps=10", "diffusion.lr=2e-3", "train.cache=true"]),
])
def test_a_few_steps_lower_the_loss(toy, tmp_path, stage, extra):
    config = cfg(*extra)
    run = tmp_path / stage
    before = _fixed_loss(stage, config, toy, tmp_path / "probe", None)
    summary = train_stage(stage, config, toy, run, progress=False)
    assert summary["steps"] == config.stage(stage).steps
    weights = load_file(str(latest_checkpoint(run) / "model.safetensors"))
    after = _fixed_loss(stage, config, toy, tmp_path / "probe", weights)
    assert after < 0.93 * before, (before, after)
    rows = (run / "log.csv").read_text().splitlines()
    assert rows[0].startswith("step,lr,loss") and len(rows) == 1 + config.stage(stage).steps
    product = {"vae": "vae/config.json", "fusion": "stage1/model.safetensors", "diffusion": "bundle/bundle.json"}
    assert (run / product[stage]).is_file()


def _checkpoint_tensors(folder: Path) -> dict[str, torch.Tensor]:
    out = {}
    for f in sorted(folder.glob("*.safetensors")):
        out.update({f"{f.stem}/{k}": v for k, v in load_file(str(f)).items()})
    return out


def test_resume_equals_uninterrupted_run_exactly(toy, tmp_path):
    common = ["diffusion.grad_accum=2", "train.cache=true", "train.sample_every=6"]
    straight = tmp_path / "straight"
    train_stage("diffusion", cfg(*common, "diffusion.steps=6"), toy, straight, progress=False)
    split = tmp_path / "split"
    train_stage("diffusion", cfg(*common, "diffusion.steps=3"), toy, split, progress=False)
    assert [p.name for p in list_checkpoints(split)] == ["step-000003"]
    train_stage("diffusion", cfg(*common, "diffusion.steps=6"), toy, split, resume=True, progress=False)

    a = _checkpoint_tensors(straight / "checkpoints" / "step-000006")
    b = _checkpoint_tensors(split / "checkpoints" / "step-000006")
    assert a.keys() == b.keys() and any(k.startswith("ema/") for k in a) and any(k.startswith("optimizer/") for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # The training log of the resumed run is that of the straight run (the split run also
    # evaluated at its end, step 3, so only the loss columns are compared).
    def losses(run):
        return [line.split(",")[:3] for line in (run / "log.csv").read_text().splitlines()]
    assert losses(straight) == losses(split) and len(losses(split)) == 7
    assert (straight / "samples" / "step-000006.png").is_file()


def test_checkpoints_are_safetensors_and_bundle_loads(toy, tmp_path):
    from signgen.models.bundle import load_bundle

    run = tmp_path / "run"
    config = cfg("diffusion.steps=4", "train.checkpoint_every=1", "train.keep_checkpoints=2", "train.cache=false")
    train_stage("diffusion", config, toy, run, progress=False)
    ckpts = list_checkpoints(run)
    assert [p.name for p in ckpts] == ["step-000003", "step-000004"]  # only the newest 2 kept
    for p in ckpts:
        names = sorted(f.name for f in p.iterdir())
        assert names == ["ema.safetensors", "model.safetensors", "optimizer.json", "optimizer.safetensors",
                         "state.json"]
        for f in p.glob("*.safetensors"):
            assert load_file(str(f))  # readable, non-empty, never a pickle
    pickles = [f for f in run.rglob("*") if f.suffix in (".bin", ".pt", ".pth", ".pkl", ".ckpt")]
    assert not pickles
    assert not [f for f in run.rglob("*") if f.name.startswith(".")]  # no temp leftovers

    bundle = load_bundle(run / "bundle")
    assert bundle.meta.steps == 20 and bundle.meta.guidance == 2.0 and bundle.meta.image_size == (64, 64)
    # The bundle holds the EMA weights of stage 2.
    ema = load_file(str(ckpts[-1] / "ema.safetensors"))
    k = "unet.conv_in.weight"
    torch.testing.assert_close(bundle.stage2.state_dict()[k], ema[k])
    assert not torch.equal(ema[k], load_file(str(ckpts[-1] / "model.safetensors"))[k])
    x = torch.randn(2, 4, 32, 32)
    pose, src = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        fused = bundle.stage1(src, pose)
        tokens = bundle.stage1.encoder.tokens(src)
        src_latents = bundle.vae.encode(src)
        assert src_latents.shape == x.shape and bundle.stage2.config.src_latent_channels == 4
        out = bundle.stage2.forward_branches(x, torch.tensor(500), fused, tokens, pose, src_latents=src_latents)
    assert all(o.shape == x.shape and torch.isfinite(o).all() for o in out)


def test_cache_gives_the_same_inputs_as_the_frozen_networks(toy, tmp_path):
    from signgen.train.diffusion import DiffusionTask
    from signgen.train.loop import make_accelerator

    config = cfg("train.cache=true", "data.jitter_px=0")
    tasks = {}
    for cached in (True, False):
        config.train.cache = cached
        task = DiffusionTask(config, toy, tmp_path / f"run{cached}")
        torch.manual_seed(0)
        task.setup(make_accelerator(config, task.stage_cfg, task.run))
        tasks[cached] = task
    keys = [(0, False, -1), (1, True, -1), (5, True, -1), (9, False, -1)]
    batches = {}
    for cached, task in tasks.items():
        items = [task.dataset[k] for k in keys]
        batches[cached] = {k: torch.stack([it[k] for it in items]) for k in items[0] if torch.is_tensor(items[0][k])}
    assert "latent" in batches[True] and "tgt" not in batches[True] and "tgt" in batches[False]
    assert "src_latent" in batches[True] and "src" not in batches[True] and "src" in batches[False]
    a = tasks[True].objective.conditions(batches[True])
    b = tasks[False].objective.conditions(batches[False])
    # (target latents, fusion embedding, source tokens, source latents): the tiny stage 2 takes all four
    assert len(a) == len(b) == 4 and a[3] is not None and b[3] is not None
    assert a[3].shape == b[3].shape == a[0].shape == (len(keys), 4, 32, 32)
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, atol=1e-4, rtol=1e-4)
    # The source latents are the source frames' (not the targets'), as the frozen VAE encodes them.
    with torch.no_grad():
        torch.testing.assert_close(b[3], tasks[False].objective.vae.encode(batches[False]["src"]).float())
    assert (a[3] - a[0]).abs().max() > 1e-3
    n_frames = len(tasks[True].dataset.frames())
    assert len(tasks[True].dataset.cache) == 2 * n_frames  # both flip states


def test_stage2_without_src_latents_gets_none(toy, tmp_path):
    """src_latent_channels=0 (FPDM's design, the SD sizes): no source latents, cached or not."""
    from signgen.train.diffusion import DiffusionTask
    from signgen.train.loop import make_accelerator

    config = cfg("data.jitter_px=0", "model.overrides.stage2.src_latent_channels=0")
    for cached in (True, False):
        config.train.cache = cached
        task = DiffusionTask(config, toy, tmp_path / f"run{cached}")
        torch.manual_seed(0)
        task.setup(make_accelerator(config, task.stage_cfg, task.run))
        assert task.objective.stage2.config.src_latent_channels == 0
        items = [task.dataset[k] for k in [(0, False, -1), (3, True, -1)]]
        batch = {k: torch.stack([it[k] for it in items]) for k in items[0] if torch.is_tensor(items[0][k])}
        latents, fusion, tokens, src_latents = task.objective.conditions(batch)
        assert src_latents is None and latents.shape == (2, 4, 32, 32)
        with torch.no_grad():
            loss, _ = task.objective(batch, torch.Generator().manual_seed(0))
        assert torch.isfinite(loss)


def test_step_batches_are_deterministic_disjoint_across_processes_and_flip_pose(toy):
    from signgen.data.prepared import PreparedDataset

    ds = PairDataset(PreparedDataset.open(toy), "train", (64, 64), jitter_px=1.0)
    r0 = StepBatches(len(ds), 4, seed=3, start=0, stop=5, rank=0, world_size=2)
    r1 = StepBatches(len(ds), 4, seed=3, start=0, stop=5, rank=1, world_size=2)
    late = StepBatches(len(ds), 4, seed=3, start=3, stop=5, rank=0, world_size=2)
    b0, b1 = list(r0), list(r1)
    assert list(late) == b0[3:]  # resuming at micro-step 3 sees the same batches
    assert len(b0) == 5 and all(len(b) == 4 for b in b0)
    epoch = [k[0] for b0_, b1_ in zip(b0[:2], b1[:2]) for k in b0_ + b1_]  # 16 positions of epoch 0
    assert len(set(epoch)) == len(epoch) == len(ds)  # one permutation, split between the processes
    flips = [k[1] for b in b0 + b1 for k in b]
    assert 0 < sum(flips) < len(flips)

    (clip, frame) = ds.pairs[0].target
    xy, conf = ds.pose_points(clip, frame, False)
    fxy, fconf = ds.pose_points(clip, frame, True)
    from signgen.pose.layouts import canonical as C

    rw, lw = C.NAMES.index("right_wrist"), C.NAMES.index("left_wrist")
    assert conf[rw] > 0 and fconf[lw] > 0
    np.testing.assert_allclose(fxy[lw], [64 - xy[rw, 0], xy[rw, 1]], atol=1e-4)  # mirrored AND swapped
    img = ds.image(clip, frame, False)
    np.testing.assert_array_equal(ds.image(clip, frame, True), img[:, ::-1])
    item = ds[(0, True, 123)]
    assert item["pose"].shape == (3, 64, 64) and not torch.equal(item["pose"], item["pose_clean"])
    assert torch.equal(ds[(0, True, 123)]["pose"], item["pose"])  # jitter is a function of its seed


def test_two_cpu_processes_under_accelerate(toy, tmp_path):
    run = tmp_path / "ddp"
    import socket

    with socket.socket() as sock:  # a free rendezvous port: other test runs may share this machine
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    args = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "2", "--multi_gpu",
            "--main_process_port", str(port),
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
            "-m", "signgen.cli.train", "diffusion", "--config", str(CONFIG), "--data", str(toy), "--out", str(run),
            "--no-progress"]
    for s in BASE + ["diffusion.steps=2", "train.checkpoint_every=2", "diffusion.batch_size=3",
                     "train.mixed_precision=bf16"]:
        args += ["--set", s]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    proc = subprocess.run(args, capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])
    assert summary["steps"] == 2 and np.isfinite(summary["metrics"]["loss"])
    state = json.loads((run / "checkpoints" / "step-000002" / "state.json").read_text())
    assert state["world_size"] == 2 and state["config"]["train"]["mixed_precision"] == "bf16"
    assert (run / "bundle" / "bundle.json").is_file()


def test_cli_errors_are_one_line(toy, tmp_path, capsys):
    from signgen.cli.train import main

    assert main(["diffusion", "--config", str(CONFIG), "--data", str(tmp_path / "nope"), "--out",
                 str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("nope: prepared dataset folder does not exist") and "\n" not in err

    assert main(["fusion", "--config", str(CONFIG), "--data", str(toy), "--out", str(tmp_path / "r"),
                 "--set", "fusion.stepz=3"]) == 2
    err = capsys.readouterr().err.strip()
    assert "tiny.yaml: unknown config key 'fusion.stepz'" in err

    with pytest.raises(InputError, match="--resume given but the run has no checkpoint"):
        train_stage("fusion", cfg(), toy, tmp_path / "fresh", resume=True, progress=False)


def test_cli_chains_vae_fusion_diffusion_into_a_bundle(toy, tmp_path, capsys):
    from signgen.cli.train import main
    from signgen.models.bundle import load_bundle

    sets = [a for s in BASE + ["vae.steps=1", "fusion.steps=1", "diffusion.steps=2", "train.cache=false"]
            for a in ("--set", s)]
    common = ["--config", str(CONFIG), "--data", str(toy), "--no-progress", *sets]
    assert main(["vae", "--out", str(tmp_path / "vae"), *common]) == 0
    assert main(["fusion", "--out", str(tmp_path / "fusion"), *common]) == 0
    vae_config = json.loads((tmp_path / "vae" / "vae" / "config.json").read_text())
    assert vae_config["scaling_factor"] != 1.0  # measured from the latents at export
    assert main(["diffusion", "--out", str(tmp_path / "diff"), *common,
                 "--set", f"model.vae_path={tmp_path / 'vae'}", "--set", f"model.stage1_path={tmp_path / 'fusion'}"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["stage"] == "diffusion" and summary["steps"] == 2
    bundle = load_bundle(tmp_path / "diff" / "bundle")
    trained_stage1 = load_file(str(tmp_path / "fusion" / "stage1" / "model.safetensors"))
    for k, v in bundle.stage1.state_dict().items():
        assert torch.equal(v, trained_stage1[k]), k  # the frozen stage 1 went into the bundle unchanged
    assert bundle.vae.scaling_factor == pytest.approx(vae_config["scaling_factor"])

    with pytest.raises(InputError, match="holds a 'fusion' run, not 'vae'"):
        train_stage("vae", cfg("vae.steps=2"), toy, tmp_path / "fusion", progress=False)
    with pytest.raises(InputError, match="checkpoint has batch_size=8, this run 4"):
        train_stage("fusion", cfg("fusion.steps=2", "fusion.batch_size=4"), toy, tmp_path / "fusion", progress=False)


def test_vae_perceptual_term_only_from_local_weights(toy, tmp_path):
    from safetensors.torch import save_file
    from torchvision.models import vgg16

    weights = tmp_path / "vgg16-features.safetensors"
    torch.manual_seed(0)
    save_file({f"features.{k}": v for k, v in vgg16(weights=None).features.state_dict().items()}, str(weights))
    run = tmp_path / "vae"
    train_stage("vae", cfg("vae.steps=2", "vae.batch_size=2", f"train.perceptual_weights={weights}"), toy, run,
                progress=False)
    import csv

    rows = list(csv.DictReader(open(run / "log.csv")))
    assert len(rows) == 2 and all(float(r["perceptual"]) > 0 for r in rows)
    # The checkpoint holds the VAE only, not the frozen VGG.
    assert not any(k.startswith("features.") or "perceptual" in k
                   for k in load_file(str(latest_checkpoint(run) / "model.safetensors")))
    with pytest.raises(InputError, match="nope.safetensors: perceptual-loss weights not found"):
        train_stage("vae", cfg("vae.steps=1", f"train.perceptual_weights={tmp_path / 'nope.safetensors'}"), toy,
                    tmp_path / "vae2", progress=False)


def test_vae_decoder_only_keeps_the_latent_space(toy, tmp_path):
    train_stage("vae", cfg("vae.steps=2"), toy, tmp_path / "base", progress=False)
    base = load_file(str(tmp_path / "base" / "vae" / "diffusion_pytorch_model.safetensors"))
    train_stage("vae", cfg("vae.steps=2", "vae.lr=1e-2", f"model.vae_path={tmp_path / 'base'}",
                           "train.vae_decoder_only=true"), toy, tmp_path / "dec", progress=False)
    tuned = load_file(str(tmp_path / "dec" / "vae" / "diffusion_pytorch_model.safetensors"))
    frozen = [k for k in base if k.startswith(("encoder.", "quant_conv."))]
    assert frozen and all(torch.equal(base[k], tuned[k]) for k in frozen)
    assert any(not torch.equal(base[k], tuned[k]) for k in base if k.startswith("decoder."))
    scale = [json.loads((tmp_path / r / "vae" / "config.json").read_text())["scaling_factor"] for r in ("base", "dec")]
    assert scale[0] == scale[1]  # the latents stage 2 sees are unchanged
    with pytest.raises(InputError, match="vae_decoder_only fine-tunes a given VAE's decoder: set model.vae_path"):
        train_stage("vae", cfg("vae.steps=1", "train.vae_decoder_only=true"), toy, tmp_path / "none", progress=False)


def test_held_out_pairs_are_spread_across_clips(toy):
    from signgen.data.prepared import PreparedDataset
    from signgen.train.data import PairDataset

    ds = PairDataset(PreparedDataset.open(toy), "train", (32, 32), limit=2, load_images=False)
    assert len(ds.pairs) == 2  # the list is grouped by clip, 8 pairs each
    assert len({p.target[0] for p in ds.pairs}) == 2  # not two pairs of the first clip


def test_vae_on_hand_crops_with_part_weights_and_gan_resumes_exactly(toy, tmp_path):
    """The `small` size's VAE recipe: crops (half on a hand), hand/face boxes weighted, a PatchGAN
    term from step 2. The discriminator is checkpointed, so a resumed run equals a straight one;
    the exported VAE has no discriminator in it."""
    from signgen.data.prepared import PreparedDataset
    from signgen.train.vae import CropDataset

    common = ["train.vae_crop=32", "train.part_weight=3", "train.vae_gan_weight=0.1", "train.vae_gan_start=2",
              "train.sample_every=4"]
    straight, split = tmp_path / "straight", tmp_path / "split"
    train_stage("vae", cfg(*common, "vae.steps=4"), toy, straight, progress=False)
    train_stage("vae", cfg(*common, "vae.steps=2"), toy, split, progress=False)
    train_stage("vae", cfg(*common, "vae.steps=4"), toy, split, resume=True, progress=False)
    a = _checkpoint_tensors(straight / "checkpoints" / "step-000004")
    b = _checkpoint_tensors(split / "checkpoints" / "step-000004")
    assert any(k.startswith("model/disc.") for k in a) or any("disc." in k for k in a)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    log = (straight / "log.csv").read_text().splitlines()
    head = log[0].split(",")
    rows = [dict(zip(head, line.split(","))) for line in log[1:]]
    assert rows[0]["gan_d"] == "" and rows[-1]["gan_d"] != ""  # the adversarial term starts at step 2
    assert rows[-1]["val_hand_psnr"] not in ("", "nan")
    exported = load_file(str(straight / "vae" / "diffusion_pytorch_model.safetensors"))
    assert not any("disc" in k for k in exported)

    ds = PairDataset(PreparedDataset.open(toy), "train", (64, 64), part_weight=3.0)
    crops = CropDataset(ds, 32, hand_share=1.0)
    item = crops[(0, False, 123)]
    assert item["src"].shape == (3, 32, 32) and item["tgt_weight"].shape == (1, 32, 32)
    assert float(item["tgt_weight"].max()) == 4.0  # a hand-centred crop holds a hand box
    assert crops[(0, False, 123)]["tgt"].equal(item["tgt"])  # a pure function of the key
    assert crops[0]["src"].shape == (3, 64, 64)  # held-out keys: whole frames
    with pytest.raises(InputError, match="vae_crop"):
        CropDataset(ds, 100, 0.5)


def test_diffusion_loss_weights_the_hand_and_face_boxes(toy):
    """train.part_weight: an error inside the target's hand boxes costs more than the same error
    elsewhere; without it, both cost the same."""
    from signgen.data.prepared import PreparedDataset
    from signgen.train.diffusion import DiffusionObjective

    ds = PairDataset(PreparedDataset.open(toy), "train", (64, 64), part_weight=3.0)
    w = ds[0]["tgt_weight"]
    assert w.shape == (1, 64, 64) and float(w.max()) == 4.0 and float(w.min()) == 1.0

    class Fixed(torch.nn.Module):  # a "UNet" that predicts target + a chosen error
        def __init__(self, err):
            super().__init__()
            self.err, self.config = err, type("C", (), {"src_latent_channels": 0})()

        def sample_drop_mask(self, b, dev, g):
            return torch.zeros(b, 3, dtype=torch.bool)

        def forward(self, noisy, t, fusion, tokens, pose, drop_mask=None, src_latents=None):
            return self.target + self.err

    class Sched:
        config = type("C", (), {"num_train_timesteps": 10, "prediction_type": "sample"})()

        def add_noise(self, x, n, t):
            return x

    latents = torch.zeros(1, 4, 32, 32)
    inside = (torch.nn.functional.interpolate(w[None], size=(32, 32), mode="area") > 1)[0, 0]
    err_in, err_out = torch.zeros_like(latents), torch.zeros_like(latents)
    err_in[..., inside] = 1.0
    idx = (~inside).nonzero()[: int(inside.sum())]
    err_out[..., idx[:, 0], idx[:, 1]] = 1.0
    batch = {"latent": latents, "src_emb": torch.zeros(1, 8), "src_tokens": torch.zeros(1, 2, 8),
             "pose_emb": torch.zeros(1, 8), "pose": torch.zeros(1, 3, 64, 64), "tgt_weight": w[None]}
    losses = {}
    for name, err in (("in", err_in), ("out", err_out)):
        net = Fixed(err)
        net.target = latents
        obj = DiffusionObjective.__new__(DiffusionObjective)
        torch.nn.Module.__init__(obj)
        obj.stage2, obj.scheduler, obj.noise_offset = net, Sched(), 0.0
        obj.conditions = lambda b: (latents, torch.zeros(1, 8), torch.zeros(1, 2, 8), None)
        weighted = float(obj(batch, torch.Generator().manual_seed(0))[0])
        plain = float(obj({k: v for k, v in batch.items() if k != "tgt_weight"}, torch.Generator().manual_seed(0))[0])
        losses[name] = (weighted, plain)
    assert losses["in"][1] == pytest.approx(losses["out"][1])
    assert losses["in"][0] > 2 * losses["out"][0]


def test_cache_fingerprint_follows_the_encoder_side_not_the_decoder():
    """A decoder fine-tuned after stage 2's cache was built keeps the cache; any encoder change
    (weights or latent scale) rebuilds it."""
    from signgen.models.vae import Vae, VAEConfig
    from signgen.train.cache import frozen_fingerprint

    torch.manual_seed(0)
    vae = Vae.from_config(VAEConfig(block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4))
    encoder = torch.nn.Linear(3, 2)
    before = frozen_fingerprint(encoder, vae, {"size": (64, 64)})
    with torch.no_grad():
        next(vae.model.decoder.parameters()).add_(1.0)
    assert frozen_fingerprint(encoder, vae, {"size": (64, 64)}) == before
    with torch.no_grad():
        next(vae.model.encoder.parameters()).add_(1.0)
    after_encoder = frozen_fingerprint(encoder, vae, {"size": (64, 64)})
    assert after_encoder != before
    vae.model.register_to_config(scaling_factor=0.5)
    assert frozen_fingerprint(encoder, vae, {"size": (64, 64)}) != after_encoder
    assert frozen_fingerprint(encoder, vae, {"size": (32, 32)}) != frozen_fingerprint(encoder, vae, {"size": (64, 64)})


def test_auto_precision_is_bf16_only_where_the_hardware_has_it(monkeypatch):
    """`train.mixed_precision: auto`: emulated bf16 is slower than fp32, so auto falls back."""
    import signgen.models.device as device
    from signgen.train.loop import training_precision

    assert training_precision("bf16") == "bf16" and training_precision("no") == "no"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: False)
    assert training_precision("auto") == "no"
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: True)
    assert training_precision("auto") == "bf16"
    assert load_config(CONFIG).train.mixed_precision == "auto"
