"""What every training stage shares: model sizes from the config, checkpoints, EMA, logs, grids.

Checkpoints are our own files, not `accelerator.save_state`'s: that one pickles the optimizer
and RNG states (`optimizer.bin`, `random_states_*.pkl`), and signgen never unpickles a file.
A checkpoint folder holds `model.safetensors` (the trained module), `optimizer.safetensors` +
`optimizer.json` (AdamW's tensors; its hyper-parameters as JSON), `ema.safetensors` (stage 2)
and `state.json` (step, seed, world size). RNG states need no saving: every random draw of a
step is seeded from (seed, process, micro-step), so step N+1 after a resume draws exactly what
it would have drawn in one go.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..config import Config, ModelConfig, StageConfig, config_to_dict
from ..errors import InputError
from ..models.bundle import safetensors_state
from ..base.files import atomic_write_bytes, replace_folder

__all__ = [
    "build_size", "lr_at", "EMA", "CsvLog", "save_checkpoint", "load_checkpoint", "list_checkpoints",
    "latest_checkpoint", "save_stage1", "load_stage1", "save_grid", "CHECKPOINTS",
]

CHECKPOINTS = "checkpoints"
_STEP_DIR = re.compile(r"^step-(\d{6,})$")


# ---- model size ----------------------------------------------------------------------------

def _flatten(d: dict, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict):
            yield from _flatten(v, key)
        else:
            yield key, v


def build_size(model: ModelConfig, where: str | Path | None = None):
    """The named `ModelSize` with `model.overrides` applied (dotted field paths), checked."""
    from ..models.sizes import get_size

    size = get_size(model.size)
    for key, value in _flatten(model.overrides):
        *path, last = key.split(".")
        obj = size
        for part in path:
            if not hasattr(obj, part):
                raise InputError(f"model.overrides: unknown field {key!r} of model size {model.size!r}", where)
            obj = getattr(obj, part)
        if not dataclasses.is_dataclass(obj) or last not in {f.name for f in dataclasses.fields(obj)}:
            raise InputError(f"model.overrides: unknown field {key!r} of model size {model.size!r}", where)
        setattr(obj, last, tuple(value) if isinstance(value, list) else value)
    try:
        size.check()
    except ValueError as e:
        raise InputError(f"model.overrides: {e}", where) from None
    return size


def lr_at(step: int, stage: StageConfig, base: float | None = None) -> float:
    """Learning rate at optimiser step `step` (0-based): linear warm-up, then constant."""
    lr = stage.lr if base is None else base
    if stage.warmup > 0 and step < stage.warmup:
        return lr * (step + 1) / stage.warmup
    return lr


# ---- EMA -------------------------------------------------------------------------------------

class EMA:
    """Exponential moving average of a module's trainable parameters (fp32 shadow copies).

    The decay warms up as min(decay, (1 + n) / (10 + n)) (diffusers' EMAModel does the same),
    so early averages are not dominated by the random initialisation.
    """

    def __init__(self, module: nn.Module, decay: float) -> None:
        self.decay = float(decay)
        self.num_updates = 0
        self.shadow = {n: p.detach().float().clone() for n, p in module.named_parameters() if p.requires_grad}

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        self.num_updates += 1
        d = min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))
        for n, p in module.named_parameters():
            if n in self.shadow:
                s = self.shadow[n]
                if s.device != p.device:
                    self.shadow[n] = s = s.to(p.device)
                s.lerp_(p.detach().float(), 1.0 - d)

    @contextlib.contextmanager
    def applied(self, module: nn.Module) -> Iterator[nn.Module]:
        """Temporarily load the averaged weights into `module` (restored afterwards)."""
        params = dict(module.named_parameters())
        backup = {n: params[n].detach().clone() for n in self.shadow}
        with torch.no_grad():
            for n, s in self.shadow.items():
                params[n].copy_(s.to(params[n].dtype))
        try:
            yield module
        finally:
            with torch.no_grad():
                for n, b in backup.items():
                    params[n].copy_(b)

    def save(self, path: Path) -> None:
        save_file({k: v.detach().cpu().contiguous() for k, v in self.shadow.items()}, str(path),
                  metadata={"decay": str(self.decay), "num_updates": str(self.num_updates)})

    def load(self, path: Path) -> None:
        from safetensors import safe_open

        state = _read(path)
        if set(state) != set(self.shadow):
            raise InputError("EMA weights do not match the model", path)
        with safe_open(str(path), "pt") as f:
            self.num_updates = int((f.metadata() or {}).get("num_updates", 0))
        self.shadow = {k: state[k].float() for k in self.shadow}


# ---- checkpoints ----------------------------------------------------------------------------

def _read(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path), device="cpu")
    except Exception as e:  # SafetensorError, OSError
        raise InputError(f"unreadable safetensors file ({e})", path) from None


def _optimizer_files(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """AdamW's state dict split into tensors (safetensors) and everything else (JSON)."""
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for idx, st in sd["state"].items():
        for name, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{idx}.{name}"] = v.detach().cpu().contiguous()
            else:
                scalars[f"{idx}.{name}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _optimizer_state(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict[str, Any]] = {}
    for key, v in list(tensors.items()) + list(meta.get("scalars", {}).items()):
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = v
    groups = [dict(g, betas=tuple(g["betas"])) if "betas" in g else dict(g) for g in meta["param_groups"]]
    return {"state": state, "param_groups": groups}


def list_checkpoints(run: str | Path) -> list[Path]:
    """Complete checkpoint folders of a run, oldest first."""
    folder = Path(run) / CHECKPOINTS
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir()
             if (m := _STEP_DIR.match(p.name)) and (p / "state.json").is_file()]
    return [p for _, p in sorted(found)]


def latest_checkpoint(run: str | Path) -> Path | None:
    found = list_checkpoints(run)
    return found[-1] if found else None


def save_checkpoint(run: Path, step: int, *, module: nn.Module, optimizer: torch.optim.Optimizer,
                    ema: EMA | None, state: dict, keep: int) -> Path:
    """Write RUN/checkpoints/step-XXXXXX/ atomically (temp folder, then rename); keep the newest `keep`."""
    root = Path(run) / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(".step-*.tmp-*"):  # left by a run killed while writing
        shutil.rmtree(stale, ignore_errors=True)
    final = root / f"step-{step:06d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=root))
    try:
        save_file(safetensors_state(module), str(tmp / "model.safetensors"), metadata={"format": "pt"})
        tensors, meta = _optimizer_files(optimizer)
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        (tmp / "optimizer.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        if ema is not None:
            ema.save(tmp / "ema.safetensors")
        (tmp / "state.json").write_text(json.dumps(dict(state, step=step), indent=1) + "\n", encoding="utf-8")
        replace_folder(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in list_checkpoints(run)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(folder: Path, *, module: nn.Module, optimizer: torch.optim.Optimizer,
                    ema: EMA | None) -> dict:
    """Restore module, optimizer and EMA from a checkpoint folder; returns its state.json."""
    try:
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        meta = json.loads((folder / "optimizer.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"unreadable checkpoint ({e})", folder) from None
    result = module.load_state_dict(_read(folder / "model.safetensors"), strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise InputError(f"checkpoint does not fit the model ({len(result.missing_keys)} missing, "
                         f"{len(result.unexpected_keys)} unexpected weights); was the config changed?", folder)
    try:
        optimizer.load_state_dict(_optimizer_state(_read(folder / "optimizer.safetensors"), meta))
    except (ValueError, KeyError) as e:
        raise InputError(f"optimizer state does not fit ({e})", folder) from None
    if ema is not None:
        if not (folder / "ema.safetensors").is_file():
            raise InputError("checkpoint has no ema.safetensors but EMA is on", folder)
        ema.load(folder / "ema.safetensors")
    return state


# ---- stage-1 weights (what `train fusion` hands to `train diffusion`) -----------------------

def save_stage1(folder: Path, stage1: nn.Module) -> None:
    """`folder/config.json` + `folder/model.safetensors` (config also in the metadata), atomically."""
    folder = Path(folder)
    config = json.loads(json.dumps(dataclasses.asdict(stage1.config)))
    config["encoder"]["pretrained"] = None  # the weights are in the file now
    text = json.dumps(config, indent=2, sort_keys=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        (tmp / "config.json").write_text(text + "\n", encoding="utf-8")
        save_file(safetensors_state(stage1), str(tmp / "model.safetensors"),
                  metadata={"format": "pt", "signgen_component": "stage1", "config": text})
        replace_folder(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load_stage1(path: str | Path) -> nn.Module:
    """A trained stage 1 from a `train fusion` run folder, its `stage1/`, or a bundle."""
    from ..models.bundle import stage1_config_from
    from ..models.fusion import Stage1
    from ..pose.io.files import load_json

    path = Path(path)
    for cand in (path, path / "stage1"):
        if (cand / "config.json").is_file() and (cand / "model.safetensors").is_file():
            folder = cand
            break
    else:
        raise InputError("no stage-1 weights here (expected config.json + model.safetensors, or stage1/)", path)
    config = stage1_config_from(load_json(folder / "config.json", inside=folder), folder / "config.json")
    model = Stage1.from_config(config)
    result = model.load_state_dict(_read(folder / "model.safetensors"), strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise InputError("stage-1 weights do not fit its config", folder / "model.safetensors")
    return model


# ---- logs and pictures ----------------------------------------------------------------------

class CsvLog:
    """RUN/log.csv with fixed columns; a resumed run first drops rows past its checkpoint."""

    def __init__(self, path: Path, columns: Iterable[str], resume_step: int | None = None) -> None:
        self.path = Path(path)
        self.columns = ["step", "lr", *[c for c in columns if c not in ("step", "lr")]]
        rows: list[dict] = []
        if resume_step is not None and self.path.is_file():
            with open(self.path, newline="", encoding="utf-8") as f:
                rows = [r for r in csv.DictReader(f) if r.get("step", "").isdigit() and int(r["step"]) <= resume_step]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=self.columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
        atomic_write_bytes(self.path, buf.getvalue().encode("utf-8"))

    def write(self, row: dict[str, Any]) -> None:
        with open(self.path, "a", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=self.columns, extrasaction="ignore")
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})


def to_uint8(images: torch.Tensor) -> list[np.ndarray]:
    """[B, 3, H, W] in [0, 1] -> list of uint8 [H, W, 3]."""
    x = images.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return list(x)


def save_grid(path: Path, rows: list[list[np.ndarray]]) -> None:
    """A PNG grid (rows of equally sized uint8 images, 2-pixel gaps), written atomically."""
    from PIL import Image

    gap = 2
    h, w = rows[0][0].shape[:2]
    cols = max(len(r) for r in rows)
    canvas = np.full((len(rows) * (h + gap) - gap, cols * (w + gap) - gap, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            canvas[i * (h + gap):i * (h + gap) + h, j * (w + gap):j * (w + gap) + w] = img
    buf = io.BytesIO()
    Image.fromarray(canvas).save(buf, format="PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buf.getvalue())


def run_record(cfg: Config, stage: str, world_size: int) -> dict:
    """What state.json records besides the step: enough to refuse a mismatched resume."""
    return {"stage": stage, "seed": cfg.train.seed, "world_size": world_size,
            "batch_size": cfg.stage(stage).batch_size, "grad_accum": cfg.stage(stage).grad_accum,
            "config": config_to_dict(cfg)}
