"""Training on accelerate: the tiny VAE, stage 1 (fusion), stage 2 (diffusion) and its few-step
student (distill).

`train_stage("vae" | "fusion" | "diffusion" | "distill", cfg, data, run)` is the library entry point the
CLI (`signgen train ...`) calls. Submodules are imported lazily so `import signgen.train`
stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["train_stage", "TASKS"]

TASKS = {"vae": "signgen.train.vae:VaeTask", "fusion": "signgen.train.fusion:FusionTask",
         "diffusion": "signgen.train.diffusion:DiffusionTask", "distill": "signgen.train.distill:DistillTask"}


def train_stage(stage: str, cfg: Any, data: str | Path | None, run: str | Path, *, resume: bool = False,
                progress: bool = True) -> dict[str, Any]:
    """Train one stage into the run folder `run` (resuming from its newest checkpoint if any).

    `data` (a prepared dataset folder) overrides `cfg.data.root`. Returns a summary dict.
    """
    import importlib

    from ..errors import InputError
    from .loop import run_task

    if stage not in TASKS:
        raise InputError(f"unknown training stage {stage!r}; stages: {', '.join(TASKS)}")
    root = data if data is not None else cfg.data.root
    if root is None:
        raise InputError("no prepared dataset given (--data PREPARED or data.root in the config)")
    if data is not None:
        cfg.data.root = str(Path(data).resolve())  # config-<stage>.yaml then works from anywhere
    module, name = TASKS[stage].split(":")
    task = getattr(importlib.import_module(module), name)(cfg, root, run)
    return run_task(task, resume=resume, progress=progress)
