"""`signgen train vae|fusion|diffusion|distill`: thin wrappers over `signgen.train.train_stage`.

Registered by the root CLI as `app.add_typer(train_cli.app, name="train")`. Also runnable as
`python -m signgen.cli.train ...`, which is what `accelerate launch` needs for several processes:
`accelerate launch --multi_gpu --num_processes 2 -m signgen.cli.train diffusion --config ...`
(on a CPU-only machine this runs 2 CPU processes over gloo; accelerate's own `--cpu` multi-process
mode needs MPI).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from .output import group

app = group("Train the models: a small VAE (CPU sizes), stage 1 (fusion), stage 2 (diffusion) and a few-step "
            "student of it (distill), on accelerate;\n"
            "and the legibility score's hand classifier.")

_CONFIG = typer.Option(..., "--config", "-c", help="YAML config (configs/tiny.yaml, configs/phoenix.yaml, ...).")
_DATA = typer.Option(None, "--data", "-d", help="Prepared dataset folder (overrides data.root).")
_OUT = typer.Option(..., "--out", "-o", help="Run folder: checkpoints, log.csv, samples, the product.")
_SET = typer.Option(None, "--set", "-s", help="Override a config value, e.g. --set diffusion.steps=200 (repeatable).")
_RESUME = typer.Option(False, "--resume", help="Insist on resuming (a run with checkpoints resumes anyway).")
_PROGRESS = typer.Option(True, "--progress/--no-progress", help="Show a progress bar.")


def _run(stage: str, config: Path, data: Optional[Path], out: Path, sets: Optional[List[str]], resume: bool,
         progress: bool, teacher: Optional[Path] = None) -> None:
    from ..config import load_config
    from ..errors import InputError
    from ..train import train_stage

    cfg = load_config(config, sets or [])
    if teacher is not None:
        cfg.distill.teacher = str(teacher)
    if data is not None and not data.is_dir():
        raise InputError("prepared dataset folder does not exist", data)
    if not out.parent.is_dir():
        raise InputError("parent folder of the run does not exist", out)
    summary = train_stage(stage, cfg, data, out, resume=resume, progress=progress)
    from accelerate.state import PartialState

    if PartialState().is_main_process:
        typer.echo(json.dumps(summary))


@app.command("vae")
def vae(config: Path = _CONFIG, data: Optional[Path] = _DATA, out: Path = _OUT, sets: Optional[List[str]] = _SET,
        resume: bool = _RESUME, progress: bool = _PROGRESS) -> None:
    """Train a small VAE (AutoencoderKL) on the prepared frames; writes RUN/vae/."""
    _run("vae", config, data, out, sets, resume, progress)


@app.command("fusion")
def fusion(config: Path = _CONFIG, data: Optional[Path] = _DATA, out: Path = _OUT,
           sets: Optional[List[str]] = _SET, resume: bool = _RESUME, progress: bool = _PROGRESS) -> None:
    """Train stage 1 (encoder + fusion module, source-enhanced InfoNCE); writes RUN/stage1/."""
    _run("fusion", config, data, out, sets, resume, progress)


@app.command("diffusion")
def diffusion(config: Path = _CONFIG, data: Optional[Path] = _DATA, out: Path = _OUT,
              sets: Optional[List[str]] = _SET, resume: bool = _RESUME, progress: bool = _PROGRESS) -> None:
    """Train stage 2 (the conditioned UNet; VAE and stage 1 frozen); writes RUN/bundle/."""
    _run("diffusion", config, data, out, sets, resume, progress)


@app.command("legibility")
def legibility(
    release: Path = typer.Option(..., "--release", "-r", help="A synthetic release (signgen prep synthetic) with hand labels."),
    out: Path = _OUT,
    steps: int = typer.Option(1500, "--steps", min=1, help="Optimiser steps (batch 128)."),
    every: int = typer.Option(1, "--every", min=1, help="Use every N-th frame of the training clips."),
    seed: int = typer.Option(0, "--seed"),
    progress: bool = _PROGRESS,
) -> None:
    """Train the legibility score's hand classifier on ground-truth hand crops of the release's train
    signers (handshapes and fingerspelled letters); writes OUT/classifier.safetensors + .json and
    reports its accuracy on the train and dev signers' ground truth.

    Example: signgen train legibility --release data/synthetic --out runs/legibility
    """
    from ..errors import InputError
    from ..eval.legibility import legibility as score
    from ..eval.legibility import release_crops, save_classifier, train_classifier

    if not out.parent.is_dir():
        raise InputError("parent folder of the run does not exist", out)
    train = release_crops(release, "train", every)
    model = train_classifier(train, steps=steps, seed=seed, progress=progress)
    info = {"release": str(release), "steps": steps, "every": every, "seed": seed,
            "train": score(model, train)}
    try:
        info["dev"] = score(model, release_crops(release, "dev"))
    except InputError:
        pass
    save_classifier(model, out, info)
    typer.echo(json.dumps({k: _headline(info[k]) for k in ("train", "dev") if k in info}))


def _headline(scores: dict) -> dict:
    """A split's scalar scores; the per-label counts stay in OUT/classifier.json (two screens of them)."""
    return {k: v for k, v in scores.items() if not isinstance(v, dict)}


@app.command("distill")
def distill(config: Path = _CONFIG, data: Optional[Path] = _DATA, out: Path = _OUT,
            teacher: Optional[Path] = typer.Option(None, "--teacher", "-t",
                                                   help="Teacher bundle (sets distill.teacher), e.g. "
                                                        "signgen/assets/default-model."),
            sets: Optional[List[str]] = _SET, resume: bool = _RESUME, progress: bool = _PROGRESS) -> None:
    """Distil a bundle's stage 2 into a 1-4 step student (latent consistency distillation); writes RUN/bundle/.

    Example: signgen train distill --config configs/tiny.yaml --data data/prepared
    --teacher signgen/assets/default-model --out runs/distill, then
    signgen render --model runs/distill/bundle --steps 2 ...
    """
    _run("distill", config, data, out, sets, resume, progress, teacher)


def main(argv: Optional[List[str]] = None) -> int:
    """`python -m signgen.cli.train`: same error handling as the root CLI (one line, exit 2)."""
    import sys

    from typer._click import exceptions as click_exc

    from ..errors import InputError

    try:
        app(args=argv if argv is not None else sys.argv[1:], prog_name="signgen train", standalone_mode=False)
    except click_exc.ClickException as e:
        e.show()
        return 2
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
