"""SIGKILL the three long jobs (`export`, `prep phoenix`, `train`) at several points.

Each job runs as a real `python -m signgen` process, killed with SIGKILL as soon as the file
marking a kill point appears (an event, not a timer), then rerun. The rerun must finish, skip
the finished work, leave no partial or hidden temp file, and produce the same bytes as one
uninterrupted run. KILLS counts the kills that landed, for the README's figure.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
KILLS: dict[str, int] = {}
pytestmark = pytest.mark.filterwarnings("ignore")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}


def same_safetensors(a: bytes, b: bytes) -> bool:
    """Equal tensors and equal metadata; the header's key order is not compared (safetensors
    writes its metadata map in a per-process order)."""
    import json

    def split(raw: bytes):
        n = int.from_bytes(raw[:8], "little")
        return json.loads(raw[8:8 + n]), raw[8 + n:]
    return split(a) == split(b)


def killed_at(job: str, args: list, point) -> bool:
    """Run `signgen args`, SIGKILL it once `point()` is true; True if the kill landed before it ended."""
    proc = subprocess.Popen([sys.executable, "-m", "signgen", *map(str, args)], env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while proc.poll() is None:
            if point():
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.002)  # polling for the event, not timing the job
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    landed = proc.returncode == -signal.SIGKILL
    KILLS[job] = KILLS.get(job, 0) + landed
    return landed


def files(root: Path, skip=()) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not any(s in p.name for s in skip)}


def no_temps(root: Path) -> list[str]:
    return [str(p) for p in root.rglob(".*") if ".tmp" in p.name or ".old-" in p.name]


# ---- export ------------------------------------------------------------------------------

def test_killed_export_resumes_to_the_same_bytes(tiny_prepared, bundle, tmp_path, cli):
    args = ["export", tiny_prepared, "--split", "test", "--model", bundle, "-q", "--steps", "2"]
    straight = tmp_path / "straight"
    assert cli(*args, "-o", straight)[0] == 0
    out = tmp_path / "killed"
    a = killed_at("export", [*args, "-o", out], lambda: (out / "pred" / "c2" / "00001.png").exists())
    b = killed_at("export", [*args, "-o", out], lambda: (out / "pred" / "c3" / "00000.png").exists())
    assert a or b
    (out / "videos").mkdir(parents=True, exist_ok=True)
    (out / "videos" / ".c3.0123456789ab.tmp.mp4").write_bytes(b"half a video")  # as ffmpeg leaves it
    code, stdout, err = cli(*args, "-o", out)
    assert code == 0, err
    assert " 0 already done" not in stdout  # the clips the killed runs finished are skipped
    assert no_temps(out) == []
    assert files(out) == files(straight)


# ---- prep phoenix ------------------------------------------------------------------------

def test_killed_prep_phoenix_resumes_to_the_same_bytes(tmp_path, cli):
    from signgen.synth import write_synthetic_release

    release = tmp_path / "release"
    write_synthetic_release(release, num_signers=3, sentences_per_signer=2, seed=0, fashion_poses=2,
                            min_glosses=2, max_glosses=2, progress=False)
    raw, kp = release / "PHOENIX-2014-T", release / "groundtruth" / "phoenix"
    args = ["prep", "phoenix", raw, "--keypoints", kp, "--pairs", "50"]
    straight = tmp_path / "straight"
    assert cli(*args, "-o", straight)[0] == 0
    out = tmp_path / "killed"

    def poses(n):
        return lambda: len(list((out / "poses").glob("*.npz"))) >= n if (out / "poses").is_dir() else False

    a = killed_at("prep phoenix", [*args, "-o", out], poses(1))
    b = killed_at("prep phoenix", [*args, "-o", out], poses(3))
    assert a or b
    (out / "poses" / ".x.npz.abc123.tmp").write_bytes(b"partial")  # as atomic_write_bytes leaves it
    code, stdout, err = cli(*args, "-o", out)
    assert code == 0, err
    assert no_temps(out) == []
    assert files(out) == files(straight)


# ---- train -------------------------------------------------------------------------------

def test_killed_training_resumes_to_the_same_bytes(tmp_path, cli):
    from test_train import BASE, CONFIG

    from signgen.train.toy import make_toy_prepared

    make_toy_prepared(tmp_path / "toy", clips=3, frames=6, pairs_per_clip=8)
    sets = [a for s in BASE + ["diffusion.steps=6", "train.checkpoint_every=2", "train.cache=false"]
            for a in ("--set", s)]
    args = ["train", "diffusion", "--config", CONFIG, "--data", tmp_path / "toy" / "prepared", "--no-progress", *sets]
    straight = tmp_path / "straight"
    assert cli(*args, "--out", straight)[0] == 0
    out = tmp_path / "killed"
    ckpt = out / "checkpoints"
    a = killed_at("train", [*args, "--out", out], lambda: (ckpt / "step-000002" / "state.json").exists())
    b = killed_at("train", [*args, "--out", out], lambda: (ckpt / "step-000004" / "state.json").exists())
    assert a or b
    (out / ".bundle.tmp-abc123").mkdir(exist_ok=True)  # as a kill during the bundle export leaves it
    code, _, err = cli(*args, "--out", out)
    assert code == 0, err
    assert no_temps(out) == []
    mine, theirs = (files(run, skip=("log.csv",)) for run in (out, straight))
    assert mine.keys() == theirs.keys() and any(k.endswith(".safetensors") for k in mine)
    for k in mine:
        if k.endswith(".safetensors"):
            assert same_safetensors(mine[k], theirs[k]), k
        elif k.endswith("optimizer.json"):  # (state.json and configs name the run folder)
            assert mine[k] == theirs[k], k
    losses = lambda run: [r.split(",")[:3] for r in (run / "log.csv").read_text().splitlines()]  # noqa: E731
    assert losses(out) == losses(straight)
