"""The one training loop every stage runs, on `accelerate.Accelerator`.

A stage is a `Task`: it builds the objective (an `nn.Module` whose forward takes a batch and a
generator and returns (loss, metrics)), names the module that is checkpointed, its parameter
groups, its dataset, and what to evaluate and export. The loop does the rest: devices and
processes (one CPU, several CPU processes over gloo, GPUs), mixed precision, gradient
accumulation, per-step seeding, EMA, checkpoints and exact resume, log.csv, TensorBoard,
a rich progress bar.
"""

from __future__ import annotations

import importlib.util
import json
import math
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from ..config import Config, StageConfig, save_config
from ..errors import InputError
from ..base.files import remove_temp_files
from .common import (EMA, CsvLog, latest_checkpoint, load_checkpoint, lr_at, run_record,
                     save_checkpoint)
from .data import PairDataset, StepBatches, train_seed

__all__ = ["Task", "run_task", "make_accelerator"]


class Task:
    """One training stage. Subclasses fill in the hooks; `run_task` calls them."""

    stage: str = ""
    log_columns: tuple[str, ...] = ("loss",)
    use_ema: bool = False

    def __init__(self, cfg: Config, data_root: str | Path, run: str | Path) -> None:
        from ..data.prepared import PreparedDataset

        self.cfg = cfg
        self.run = Path(run)
        self.prepared = PreparedDataset.open(data_root)
        self.size: Any = None  # the ModelSize, set by setup
        self.objective: nn.Module | None = None
        self.dataset: PairDataset | None = None

    @property
    def stage_cfg(self) -> StageConfig:
        return self.cfg.stage(self.stage)

    def setup(self, accelerator) -> None:
        """Build `self.objective` and `self.dataset` (and anything frozen the objective needs)."""
        raise NotImplementedError

    def trainable(self, objective: nn.Module) -> nn.Module:
        """The part of the (unwrapped) objective that is checkpointed and EMA-averaged."""
        raise NotImplementedError

    def param_groups(self, objective: nn.Module) -> list[dict]:
        """AdamW groups: dicts with "params" and "lr" (the group's base learning rate)."""
        params = [p for p in self.trainable(objective).parameters() if p.requires_grad]
        return [{"params": params, "lr": self.stage_cfg.lr}]

    def val_dataset(self) -> PairDataset | None:
        """Held-out pairs (the first data.val_pairs of data.val_split), or None when there are none."""
        split = self.cfg.data.val_split
        if not split or not (self.prepared.root / "pairs" / f"{split}.jsonl").is_file():
            return None
        try:
            return PairDataset(self.prepared, split, self.size.image_size, resize=self.cfg.data.resize,
                               limit=self.cfg.data.val_pairs)
        except InputError:
            return None

    def at_step(self, objective: nn.Module, step: int) -> None:
        """Called before each micro-batch with its optimiser step (for terms that start late)."""

    def evaluate(self, objective: nn.Module, step: int, ema: EMA | None) -> dict[str, float]:
        """Held-out metrics and sample grids (main process only); returns log columns."""
        return {}

    def export(self, objective: nn.Module, step: int, ema: EMA | None, final: bool) -> None:
        """Write the stage's product (main process only): VAE folder, stage-1 folder, or bundle."""

    def after_step(self, objective: nn.Module) -> None:
        """Called on every process after each optimiser step (distillation updates its target net here)."""


def _tensorboard_available() -> bool:
    return any(importlib.util.find_spec(m) is not None for m in ("tensorboard", "tensorboardX"))


def training_precision(setting: str) -> str:
    """accelerate's mixed_precision for a config's `train.mixed_precision`. "auto" is bf16 only
    where the hardware computes it (a bf16 CUDA GPU, a CPU with AVX512-BF16 or AMX): elsewhere
    bf16 is emulated and costs time (measured: VAE steps more than 4x slower than fp32 on an AVX2-only CPU)."""
    if setting != "auto":
        return setting
    from ..models.device import auto_precision

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return "bf16" if auto_precision(device, torch.float32) == "bf16" else "no"


def make_accelerator(cfg: Config, stage: StageConfig, run: Path):
    """An Accelerator for this run: processes as launched, the config's precision and accumulation."""
    from accelerate import Accelerator, DistributedDataParallelKwargs
    from accelerate.state import AcceleratorState, GradientState

    # Several runs in one Python process (tests, notebooks): start from a clean accelerate state.
    AcceleratorState._reset_state()
    GradientState._reset_state()
    mp = training_precision(cfg.train.mixed_precision)
    if mp == "fp16" and not torch.cuda.is_available():
        raise InputError("train.mixed_precision=fp16 needs a GPU; use bf16 on a CPU")
    log_with = "tensorboard" if cfg.train.tensorboard and _tensorboard_available() else None
    mps = getattr(torch.backends, "mps", None)
    has_accel = torch.cuda.is_available() or (mps is not None and mps.is_available())
    return Accelerator(
        # cpu=True on a CPU-only machine makes a torchrun-style launch (`accelerate launch
        # --multi_gpu --num_processes N`, or `torchrun`) run N CPU processes over gloo.
        cpu=not has_accel,
        mixed_precision=mp,
        gradient_accumulation_steps=stage.grad_accum,
        log_with=log_with,
        project_dir=str(run),
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=False)],
    )


def _to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def _check_resumable(ckpt: Path, record: dict) -> None:
    """Refuse a resume that could not continue the same run (other stage, other data order)."""
    try:
        state = json.loads((ckpt / "state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"unreadable checkpoint state ({e})", ckpt) from None
    if state.get("stage") != record["stage"]:
        raise InputError(f"the run folder holds a {state.get('stage')!r} run, not {record['stage']!r}; "
                         "use another --out", ckpt.parent.parent)
    for k in ("world_size", "batch_size", "grad_accum", "seed"):
        if state.get(k) != record[k]:
            raise InputError(f"cannot resume: checkpoint has {k}={state.get(k)!r}, this run {record[k]!r} "
                             "(the same data order needs the same setting)", ckpt)


def run_task(task: Task, *, resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Train `task` to its configured number of steps; resume from RUN's newest checkpoint if any.

    `resume=True` insists on a checkpoint (InputError without one). Returns a summary dict
    (steps done, last logged metrics, run folder).
    """
    cfg, st, run = task.cfg, task.stage_cfg, task.run
    run.mkdir(parents=True, exist_ok=True)
    acc = make_accelerator(cfg, st, run)
    main = acc.is_main_process
    if main:  # what a killed run left half-written (checkpoints clean their own temps)
        for folder in (run, run / "samples"):
            remove_temp_files(folder)
    ckpt = latest_checkpoint(run)
    if resume and ckpt is None:
        raise InputError("--resume given but the run has no checkpoint", run / "checkpoints")
    torch.manual_seed(cfg.train.seed)  # the same initial weights in every run of this config
    task.setup(acc)
    objective = task.objective
    groups = task.param_groups(objective)
    base_lrs = [g["lr"] for g in groups]
    optimizer = torch.optim.AdamW(groups, lr=st.lr, betas=st.betas, weight_decay=st.weight_decay)
    ema = EMA(task.trainable(objective), cfg.train.ema_decay) if task.use_ema and cfg.train.ema_decay > 0 else None
    record = run_record(cfg, task.stage, acc.num_processes)
    start = 0
    if ckpt is not None:
        _check_resumable(ckpt, record)
        state = load_checkpoint(ckpt, module=task.trainable(objective), optimizer=optimizer, ema=ema)
        start = int(state["step"])
    if main:
        save_config(cfg, run / f"config-{task.stage}.yaml")

    model, optimizer = acc.prepare(objective, optimizer)
    accum, steps = st.grad_accum, st.steps
    sampler = StepBatches(len(task.dataset), st.batch_size, seed=cfg.train.seed, start=start * accum,
                          stop=steps * accum, flip_p=cfg.data.flip_p, rank=acc.process_index,
                          world_size=acc.num_processes)
    loader = DataLoader(task.dataset, batch_sampler=sampler, num_workers=cfg.train.num_workers,
                        pin_memory=acc.device.type == "cuda")
    log = CsvLog(run / "log.csv", [*task.log_columns, "elapsed"], resume_step=start if ckpt is not None else None) \
        if main else None
    if acc.log_with:
        acc.init_trackers(task.stage)

    bar = None
    if main and progress and start < steps:
        from ..base.progress import progress_bar

        bar = progress_bar(info=True)
        bar_id = bar.add_task(f"[bold]{task.stage}[/]", total=steps, completed=start, info="")
        bar.start()

    sums: dict[str, float] = {}
    count = 0
    t0 = time.perf_counter()
    last: dict[str, float] = {}
    done = start
    try:
        model.train()
        for micro, batch in zip(range(start * accum, steps * accum), loader):
            step = micro // accum
            torch.manual_seed(train_seed(cfg.train.seed, 10, acc.process_index, micro))  # dropout etc.
            gen = torch.Generator(device=acc.device)
            gen.manual_seed(train_seed(cfg.train.seed, 11, acc.process_index, micro))
            for g, base in zip(optimizer.param_groups, base_lrs):
                g["lr"] = lr_at(step, st, base)
            task.at_step(acc.unwrap_model(model), step)
            with acc.accumulate(model):
                loss, metrics = model(_to_device(batch, acc.device), gen)
                if not torch.isfinite(loss):
                    raise RuntimeError(f"{task.stage}: loss is {float(loss)} at step {step}; lower the learning rate")
                acc.backward(loss)
                if acc.sync_gradients and st.grad_clip > 0:
                    acc.clip_grad_norm_(model.parameters(), st.grad_clip)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            for k, v in metrics.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            count += 1
            if not acc.sync_gradients:
                continue
            done = step + 1
            unwrapped = acc.unwrap_model(model)
            if ema is not None:
                ema.update(task.trainable(unwrapped))
            task.after_step(unwrapped)
            row: dict[str, Any] = {}
            if done % cfg.train.log_every == 0 or done == steps:
                keys = sorted(sums)
                means = torch.tensor([sums[k] / count for k in keys], device=acc.device)
                means = acc.reduce(means, reduction="mean") if acc.num_processes > 1 else means
                row.update({k: float(v) for k, v in zip(keys, means.tolist())})
                sums, count = {}, 0
            if cfg.train.sample_every and (done % cfg.train.sample_every == 0 or done == steps):
                if main:
                    unwrapped.eval()
                    row.update(task.evaluate(unwrapped, done, ema))
                    unwrapped.train()
                acc.wait_for_everyone()
            if row and main:
                row.update(step=done, lr=lr_at(step, st), elapsed=time.perf_counter() - t0)
                log.write(row)
                last = row
                if acc.log_with:
                    acc.log({k: v for k, v in row.items() if isinstance(v, float)}, step=done)
            if done % cfg.train.checkpoint_every == 0 or done == steps:
                if main:
                    save_checkpoint(run, done, module=task.trainable(unwrapped), optimizer=optimizer.optimizer
                                    if hasattr(optimizer, "optimizer") else optimizer, ema=ema, state=record,
                                    keep=cfg.train.keep_checkpoints)
                    unwrapped.eval()
                    task.export(unwrapped, done, ema, final=done == steps)
                    unwrapped.train()
                acc.wait_for_everyone()
            if bar is not None:
                info = f"loss {row['loss']:.4f}" if "loss" in row and isinstance(row["loss"], float) else None
                bar.update(bar_id, completed=done, **({"info": info} if info else {}))
        if start >= steps and main:  # nothing left to train: make sure the product exists
            task.export(acc.unwrap_model(model).eval(), done, ema, final=True)
    finally:
        if bar is not None:
            bar.stop()
        if acc.log_with:
            acc.end_training()
    return {"stage": task.stage, "steps": done, "run": str(run),
            "metrics": {k: v for k, v in last.items() if isinstance(v, float) and math.isfinite(v) and k != "elapsed"}}
