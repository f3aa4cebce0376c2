"""`train distill`: a consistency-distillation pass on a tiny random teacher, exact resume, the
student bundle renders in 1-2 LCM steps, and bad settings are one clear error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from signgen.config import load_config
from signgen.errors import InputError
from signgen.train import train_stage
from signgen.train.common import build_size, latest_checkpoint, list_checkpoints
from signgen.train.toy import TOY_MODEL, make_toy_prepared

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml"

# No mixed precision (exactness), frequent checkpoints; the model is the teacher bundle's.
BASE = ["train.mixed_precision=no", "train.log_every=1", "train.sample_every=0", "train.checkpoint_every=2",
        "train.keep_checkpoints=2", "data.val_pairs=4", "data.flip_p=0", "distill.warmup=0",
        "distill.batch_size=4", "distill.solver_steps=10", "distill.render_steps=2", "distill.lr=1e-3"]


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("toy-distill")
    make_toy_prepared(root, clips=3, frames=6, pairs_per_clip=8)
    return root / "prepared"


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> Path:
    """A small random-weight teacher bundle (clean-latent target, like the bundled model)."""
    from signgen.models.bundle import save_bundle
    from signgen.models.fusion import Stage1
    from signgen.models.stage2 import Stage2
    from signgen.models.vae import load_vae

    size = build_size(load_config(CONFIG, TOY_MODEL).model)
    torch.manual_seed(0)
    stage2 = Stage2(size.stage2)
    with torch.no_grad():  # pose and source inputs that matter, as in a trained model
        stage2.unet.conv_in.weight[:, size.stage2.latent_channels:].normal_(0, 0.05)
    folder = tmp_path_factory.mktemp("teacher") / "bundle"
    return save_bundle(folder, stage1=Stage1.from_config(size.stage1), stage2=stage2, vae=load_vae(None, size.vae),
                       scheduler_config=size.scheduler, meta={"size": "tiny", "steps": 20, "guidance": 1.0})


def cfg(teacher: Path, *extra: str):
    return load_config(CONFIG, [*BASE, f"distill.teacher={teacher}", *extra])


def _tensors(folder: Path) -> dict[str, torch.Tensor]:
    out = {}
    for f in sorted(folder.glob("*.safetensors")):
        out.update({f"{f.stem}/{k}": v for k, v in load_file(str(f)).items()})
    return out


def test_distillation_trains_the_student_and_writes_an_lcm_bundle(toy, teacher, tmp_path):
    from signgen.models.bundle import load_bundle

    run = tmp_path / "run"
    summary = train_stage("distill", cfg(teacher, "distill.steps=3", "train.checkpoint_every=1",
                                         "train.cache=true", "distill.guidance=1.5"), toy, run, progress=False)
    assert summary["steps"] == 3 and np.isfinite(summary["metrics"]["loss"])
    rows = (run / "log.csv").read_text().splitlines()
    assert rows[0].startswith("step,lr,loss") and len(rows) == 4

    # The checkpoint holds student and target; the target is the 0.95-EMA of the student.
    ckpts = list_checkpoints(run)
    t1 = load_file(str(ckpts[-2] / "model.safetensors"))
    t2 = load_file(str(ckpts[-1] / "model.safetensors"))
    key = "unet.conv_in.weight"
    assert not torch.equal(t2[f"student.{key}"], t1[f"student.{key}"])  # the student learns
    expected = 0.95 * t1[f"target.{key}"] + 0.05 * t2[f"student.{key}"]
    assert torch.allclose(t2[f"target.{key}"], expected, atol=1e-6)

    student = load_bundle(run / "bundle")
    assert type(student.scheduler).__name__ == "LCMScheduler"
    assert student.scheduler.config.prediction_type == "sample"
    assert student.scheduler.config.original_inference_steps == 10
    assert (student.meta.steps, student.meta.guidance, student.meta.sampler) == (2, 1.0, "lcm")
    assert student.meta.extra["guidance_folded"] == 1.5 and student.meta.extra["trained_steps"] == 3
    assert torch.equal(student.stage2.state_dict()[key], t2[f"student.{key}"])  # the student, not the teacher
    original = load_bundle(teacher)
    for part in ("stage1", "vae"):  # the teacher's frozen parts ride along unchanged
        a, b = getattr(student, part).state_dict(), getattr(original, part).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert not [f for f in run.rglob("*") if f.suffix in (".bin", ".pt", ".pth", ".pkl", ".ckpt")]


def test_resume_equals_uninterrupted_run_exactly(toy, teacher, tmp_path):
    common = ["distill.grad_accum=2", "train.cache=true", "train.sample_every=4"]
    straight, split = tmp_path / "straight", tmp_path / "split"
    train_stage("distill", cfg(teacher, *common, "distill.steps=4"), toy, straight, progress=False)
    train_stage("distill", cfg(teacher, *common, "distill.steps=2"), toy, split, progress=False)
    train_stage("distill", cfg(teacher, *common, "distill.steps=4"), toy, split, resume=True, progress=False)
    a = _tensors(straight / "checkpoints" / "step-000004")
    b = _tensors(split / "checkpoints" / "step-000004")
    assert a.keys() == b.keys() and any(k.startswith("model/target.") for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), k

    def losses(run):
        return [line.split(",")[:3] for line in (run / "log.csv").read_text().splitlines()]
    assert losses(straight) == losses(split) and len(losses(split)) == 5
    assert (straight / "samples" / "step-000004.png").is_file()  # LCM preview at the student's steps


def test_teacher_step_is_a_ddim_step_and_scalings_match_lcm_scheduler(teacher):
    from diffusers import DDIMScheduler, LCMScheduler

    from signgen.models.bundle import load_bundle
    from signgen.train.distill import DistillObjective, boundary_scalings, lcm_scheduler_config

    b = load_bundle(teacher)
    obj = DistillObjective(b.stage2, b.stage2, b.stage1, b.vae, b.scheduler, guidance=1.0, solver_steps=50,
                           target_decay=0.0, loss="l2", huber_c=1e-3, timestep_scaling=10.0)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, 32, 32, generator=g)
    cond = (torch.randn(2, b.stage2.config.fusion_dim, generator=g), torch.randn(2, 17, b.stage2.config.token_dim,
            generator=g), torch.rand(2, 3, 64, 64, generator=g), torch.randn(2, 4, 32, 32, generator=g))
    t = torch.tensor([499, 499])
    ours = obj.teacher_step(x, t, t - 20, cond)
    ddim = DDIMScheduler.from_config(dict(b.scheduler.config), timestep_spacing="trailing")
    ddim.set_timesteps(50)
    keep = torch.zeros(2, 3, dtype=torch.bool)
    out = b.stage2(x, t, *cond[:3], drop_mask=keep, src_latents=cond[3])
    assert torch.allclose(ours, ddim.step(out, 499, x).prev_sample, atol=1e-5)

    lcm = LCMScheduler.from_config(lcm_scheduler_config(b.scheduler.config, 50, 10.0))
    for step in (0, 19, 499, 999):
        c_skip, c_out = boundary_scalings(torch.tensor([step]), 10.0)
        want = lcm.get_scalings_for_boundary_condition_discrete(step)
        assert abs(float(c_skip) - want[0]) < 1e-7 and abs(float(c_out) - want[1]) < 1e-6
    assert boundary_scalings(torch.tensor([0]), 10.0) == (torch.tensor([1.0]), torch.tensor([0.0]))


def test_student_bundle_renders_frames_in_two_steps(toy, teacher, tmp_path):
    from signgen.pose.track import PoseTrack
    from signgen.rendering.pipeline import Renderer
    from signgen.rendering.settings import Settings

    run = tmp_path / "run"
    train_stage("distill", cfg(teacher, "distill.steps=1", "train.cache=false"), toy, run, progress=False)
    renderer = Renderer.load(run / "bundle", "cpu")
    rng = np.random.default_rng(0)
    n, w, h = 7, 48, 40
    track = PoseTrack(xy=rng.uniform([5, 5], [w - 5, h - 5], (n, 128, 2)).astype(np.float32),
                      conf=np.ones((n, 128), np.float32), fps=25, width=w, height=h)
    picture = (rng.random((h, w, 3)) * 255).astype(np.uint8)
    for steps in (2, 1):
        seen = []
        frames = list(renderer.render_video(picture, track, Settings(steps=steps, window=4, overlap=2),
                                            progress=lambda what, d, total: seen.append((what, total))))
        assert len(frames) == n and all(f.shape == (h, w, 3) and f.dtype == np.uint8 for f in frames)
        windows = 3  # 7 frames in windows of 4 overlapping by 2
        assert ("steps", steps * windows) in seen
    again = list(renderer.render_video(picture, track, Settings(steps=2, window=4, overlap=2)))
    assert all(np.array_equal(a, b) for a, b in zip(again, list(renderer.render_video(
        picture, track, Settings(steps=2, window=4, overlap=2)))))  # same seed, same video


@pytest.mark.parametrize("override, message", [
    ("distill.loss=l1", "distill.loss must be huber or l2"),
    ("distill.render_steps=60", r"distill.render_steps must be in \[1, distill.solver_steps = 10\]"),
    ("distill.target_decay=1.0", r"distill.target_decay must be in \[0, 1\)"),
    ("distill.huber_c=0", "distill.huber_c must be > 0"),
    ("distill.guidance=-1", "distill.guidance must be >= 0"),
    ("distill.batch_size=0", "distill.batch_size must be >= 1"),
])
def test_bad_distill_settings_are_input_errors(override, message):
    with pytest.raises(InputError, match=message):
        load_config(CONFIG, [*BASE, override])


def test_teacher_must_be_given_and_be_a_bundle(toy, teacher, tmp_path, cli):
    with pytest.raises(InputError, match="distill.teacher is not set"):
        train_stage("distill", load_config(CONFIG, BASE), toy, tmp_path / "a", progress=False)
    with pytest.raises(InputError, match="solver_steps must be in \\[1, 1000\\]"):
        train_stage("distill", cfg(teacher, "distill.solver_steps=2000", "distill.render_steps=1"), toy,
                    tmp_path / "b", progress=False)
    code, out, err = cli("train", "distill", "--config", CONFIG, "--data", toy, "--out", tmp_path / "c",
                         "--teacher", tmp_path, *[a for s in BASE for a in ("--set", s)])
    assert code == 2 and "not a signgen model bundle" in err and len(err.strip().splitlines()) == 1
    assert latest_checkpoint(tmp_path / "c") is None
