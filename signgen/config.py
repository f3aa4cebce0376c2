"""Training configuration: dataclasses read from (and written to) YAML.

One YAML file describes a whole training setup (data, model, the optimiser of each stage, the
loop, sampling defaults), so a run is reproducible from `RUN/config.yaml` alone. Every field
is documented where it is declared. `load_config(path, ["a.b=c", ...])` applies command-line
overrides after the file; unknown keys and ill-typed values are `InputError`s naming the file
and the key, because a misspelt key silently ignored is a run wasted.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError
from .base.files import atomic_write_bytes

__all__ = [
    "DataConfig", "ModelConfig", "StageConfig", "DistillConfig", "TrainConfig", "SampleConfig", "Config",
    "load_config", "save_config", "config_from_dict", "config_to_dict", "STAGES",
]

STAGES = ("vae", "fusion", "diffusion", "distill")
DISTILL_LOSSES = ("huber", "l2")


@dataclass
class DataConfig:
    """Where the prepared dataset is and how its frames become model inputs."""

    root: str | None = None  # prepared dataset folder (`signgen train ... --data` sets it)
    split: str = "train"  # pair list to train on (pairs/<split>.jsonl)
    val_split: str | None = "dev"  # held-out pairs for metrics and sample grids; None or missing: skipped
    val_pairs: int = 64  # how many held-out pairs the metrics use (evenly spaced, so they span clips)
    resize: str = "stretch"  # "stretch" (FPDM: frames resized to the model size) or "letterbox" (pad, keep aspect)
    flip_p: float = 0.5  # probability of a horizontal flip (image mirrored, left/right keypoints swapped)
    jitter_px: float = 1.0  # std of Gaussian keypoint jitter, in model pixels, on the pose conditioning image


@dataclass
class ModelConfig:
    """Which network sizes to build and which local weights to start from."""

    size: str = "tiny"  # a named size from signgen/models/sizes.py: tiny, phoenix, deepfashion
    overrides: dict[str, Any] = field(default_factory=dict)  # dotted fields of the size, e.g. {"stage2.layers_per_block": 2}
    sd_path: str | None = None  # local Stable Diffusion 2.x diffusers folder: UNet init + VAE (never downloaded)
    encoder_weights: str | None = None  # local open_clip weights (.safetensors) for the image encoder
    vae_path: str | None = None  # a trained VAE folder (a `train vae` run, or its vae/); overrides sd_path's VAE
    stage1_path: str | None = None  # stage-1 weights for `train diffusion`: a `train fusion` run or its stage1/


@dataclass
class StageConfig:
    """Optimiser and length of one training stage (AdamW with linear warm-up, then constant)."""

    steps: int = 1000  # optimiser steps
    batch_size: int = 16  # per process; the global batch is batch_size x processes x grad_accum
    grad_accum: int = 1  # micro-batches per optimiser step
    lr: float = 1e-4  # learning rate of the trained parts (fusion module, UNet + conditioners, VAE)
    encoder_lr: float = 1e-5  # stage 1 only: the image encoder is fine-tuned with this (FPDM: 1e-5)
    weight_decay: float = 1e-4  # AdamW weight decay (FPDM stage 1: 1e-4)
    betas: tuple[float, float] = (0.9, 0.999)  # AdamW betas
    warmup: int = 0  # linear warm-up steps from 0 to lr
    grad_clip: float = 1.0  # max global gradient norm; 0 disables clipping


@dataclass
class DistillConfig(StageConfig):
    """`train distill`: latent consistency distillation of a bundle's stage 2 into a few-step
    student (LCM, Luo et al. 2023), plus the optimiser and length of the run (StageConfig)."""

    teacher: str | None = None  # the teacher bundle folder (`--teacher`); its VAE and stage 1 are reused frozen
    guidance: float | None = None  # teacher guidance folded into the student; None = the teacher bundle's default
    solver_steps: int = 50  # the teacher's skipping-step DDIM grid (LCM's num_ddim_timesteps): 1000 / 50 = 20-step skips
    target_decay: float = 0.95  # EMA decay of the target network (LCM: 0.95); 0 = the student itself, no gradient
    loss: str = "huber"  # "huber" (LCM's pseudo-Huber, sqrt(d^2 + c^2) - c) or "l2"
    huber_c: float = 0.001  # the pseudo-Huber's c
    timestep_scaling: float = 10.0  # boundary condition c_skip/c_out sharpness (LCM and diffusers' LCMScheduler: 10)
    render_steps: int = 4  # the student bundle's default sampling steps (`--steps` overrides, 1..solver_steps)


@dataclass
class TrainConfig:
    """The training loop, shared by all stages."""

    seed: int = 0  # every random choice (data order, flips, jitter, noise, drops) derives from (seed, step)
    mixed_precision: str = "no"  # "no", "auto" (bf16 where the hardware has it), "bf16" or "fp16" (GPUs)
    checkpoint_every: int = 500  # optimiser steps between checkpoints (RUN/checkpoints/step-XXXXXX/)
    keep_checkpoints: int = 3  # keep the newest K checkpoints
    bundle_every_checkpoint: bool = True  # stage 2: also refresh RUN/bundle at each checkpoint
    sample_every: int = 500  # steps between sample grids / held-out metrics; 0 disables
    log_every: int = 10  # steps between rows of RUN/log.csv
    ema_decay: float = 0.9999  # stage-2 EMA of the weights (the bundle gets the EMA); 0 disables
    num_workers: int = 0  # DataLoader worker processes
    cache: bool = True  # stage 2: cache VAE latents and frozen encoder features on disk
    cache_dir: str | None = None  # cache folder; default RUN/cache
    noise_offset: float = 0.1  # stage 2: offset noise strength (FPDM: 0.1)
    kl_weight: float = 1e-6  # VAE: weight of the KL term next to the L1 + MSE reconstruction
    vae_decoder_only: bool = False  # VAE: train the decoder only; the latent space (and a stage 2 on it) stays valid
    part_weight: float = 0.0  # VAE and stage 2: extra loss weight on the hand and face boxes of the target pose (0 = off; 3 makes them 4x)
    vae_crop: int = 0  # VAE: train on random square crops of this side (0 = whole frames); the VAE is convolutional
    vae_hand_crops: float = 0.5  # VAE: fraction of crops centred on a visible hand (with vae_crop)
    vae_gan_weight: float = 0.0  # VAE: weight of a PatchGAN hinge term that keeps edges (0 = off)
    vae_gan_start: int = 0  # VAE: optimiser step from which the adversarial term counts
    perceptual_weights: str | None = None  # VAE: local torchvision vgg16 features weights; enables a perceptual term
    perceptual_weight: float = 0.1  # VAE: weight of that perceptual term
    tensorboard: bool = False  # also log to TensorBoard (RUN/tb) when tensorboard is installed


@dataclass
class SampleConfig:
    """Sampling defaults stored in the exported bundle (None: `BundleMeta`'s, FPDM's 20 DDPM
    steps and w = 2.0), and the preview grids' settings."""

    steps: int | None = None  # the bundle's default denoising steps
    guidance: float | None = None  # the bundle's default guidance weight w
    sampler: str | None = None  # the bundle's default sampler name
    preview_steps: int | None = None  # steps of the sample grids written during training; None: the bundle's
    preview_count: int = 4  # rows in a sample grid


@dataclass
class Config:
    """A whole training setup."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    vae: StageConfig = field(default_factory=lambda: StageConfig(lr=1e-4, weight_decay=0.0))
    fusion: StageConfig = field(default_factory=lambda: StageConfig(lr=1e-4))
    diffusion: StageConfig = field(default_factory=lambda: StageConfig(lr=1e-4, weight_decay=1e-2))
    distill: DistillConfig = field(default_factory=lambda: DistillConfig(lr=5e-5, weight_decay=0.0))
    train: TrainConfig = field(default_factory=TrainConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)

    def stage(self, name: str) -> StageConfig:
        if name not in STAGES:
            raise InputError(f"unknown stage {name!r}; stages: {', '.join(STAGES)}")
        return getattr(self, name)

    def check(self, where: str | Path | None = None) -> None:
        """Value checks that types cannot express; InputError naming the key."""
        bad = []
        if self.train.mixed_precision not in ("no", "auto", "bf16", "fp16"):
            bad.append(f"train.mixed_precision must be no, auto, bf16 or fp16, got {self.train.mixed_precision!r}")
        if self.data.resize not in ("stretch", "letterbox"):
            bad.append(f"data.resize must be stretch or letterbox, got {self.data.resize!r}")
        if not 0.0 <= self.data.flip_p <= 1.0:
            bad.append(f"data.flip_p must be in [0, 1], got {self.data.flip_p}")
        if self.train.part_weight < 0 or self.train.vae_crop < 0 or self.train.vae_gan_weight < 0:
            bad.append("train.part_weight, train.vae_crop and train.vae_gan_weight must be >= 0")
        if not 0.0 <= self.train.vae_hand_crops <= 1.0:
            bad.append(f"train.vae_hand_crops must be in [0, 1], got {self.train.vae_hand_crops}")
        if self.data.jitter_px < 0:
            bad.append(f"data.jitter_px must be >= 0, got {self.data.jitter_px}")
        if not 0.0 <= self.train.ema_decay < 1.0:
            bad.append(f"train.ema_decay must be in [0, 1), got {self.train.ema_decay}")
        for name in ("checkpoint_every", "log_every", "keep_checkpoints"):
            if getattr(self.train, name) < 1:
                bad.append(f"train.{name} must be >= 1")
        for s in STAGES:
            st = self.stage(s)
            for name in ("steps", "batch_size", "grad_accum"):
                if getattr(st, name) < 1:
                    bad.append(f"{s}.{name} must be >= 1, got {getattr(st, name)}")
            if st.lr <= 0 or st.encoder_lr < 0:
                bad.append(f"{s}.lr must be > 0 and {s}.encoder_lr >= 0")
        bad += self.distill_problems()
        if bad:
            raise InputError(bad[0], where)

    def distill_problems(self) -> list[str]:
        """What is wrong with the `distill` section (the teacher's own schedule is checked when loaded)."""
        d, bad = self.distill, []
        if d.loss not in DISTILL_LOSSES:
            bad.append(f"distill.loss must be {' or '.join(DISTILL_LOSSES)}, got {d.loss!r}")
        if d.solver_steps < 1:
            bad.append(f"distill.solver_steps must be >= 1, got {d.solver_steps}")
        if not 1 <= d.render_steps <= max(d.solver_steps, 1):
            bad.append(f"distill.render_steps must be in [1, distill.solver_steps = {d.solver_steps}], "
                       f"got {d.render_steps}")
        if not 0.0 <= d.target_decay < 1.0:
            bad.append(f"distill.target_decay must be in [0, 1), got {d.target_decay}")
        if d.huber_c <= 0:
            bad.append(f"distill.huber_c must be > 0, got {d.huber_c}")
        if d.timestep_scaling <= 0:
            bad.append(f"distill.timestep_scaling must be > 0, got {d.timestep_scaling}")
        if d.guidance is not None and d.guidance < 0:
            bad.append(f"distill.guidance must be >= 0 (or null: the teacher's), got {d.guidance}")
        return bad


# ---- dict <-> dataclass ----------------------------------------------------------------------

def _convert(value: Any, tp: Any, key: str, where: Path | None) -> Any:
    """Check/convert one YAML value to a field's annotated type (tuples from lists, ints to floats)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(value, a, key, where)
            except InputError as e:
                errors.append(e)
        raise errors[0]
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise InputError(f"{key}: expected a mapping, got {type(value).__name__}", where)
        return _merge(tp(), value, key, where)
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise InputError(f"{key}: expected a list of {len(args)} values, got {value!r}", where)
        return tuple(_convert(v, a, f"{key}[{i}]", where) for i, (v, a) in enumerate(zip(value, args)))
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise InputError(f"{key}: expected a mapping, got {value!r}", where)
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise InputError(f"{key}: expected true or false, got {value!r}", where)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise InputError(f"{key}: expected an integer, got {value!r}", where)
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise InputError(f"{key}: expected a number, got {value!r}", where)
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, bool):  # YAML 1.1 reads a bare no/off/yes/on as a boolean
            return "yes" if value else "no"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise InputError(f"{key}: expected text, got {value!r}", where)
    return value


def _merge(obj: Any, data: dict, prefix: str, where: Path | None) -> Any:
    """`obj` (a dataclass) with the keys of `data` replaced, type-checked."""
    hints = typing.get_type_hints(type(obj))
    names = {f.name for f in dataclasses.fields(obj)}
    changes = {}
    for k, v in data.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if k not in names:
            raise InputError(f"unknown config key {key!r} (known here: {', '.join(sorted(names))})", where)
        if dataclasses.is_dataclass(hints[k]) and isinstance(v, dict):
            changes[k] = _merge(getattr(obj, k), v, key, where)
        else:
            changes[k] = _convert(v, hints[k], key, where)
    return dataclasses.replace(obj, **changes)


def config_from_dict(data: dict | None, where: str | Path | None = None) -> Config:
    """A `Config` from a plain mapping (as YAML gives it); missing keys keep their defaults."""
    where = None if where is None else Path(where)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError("a config file must be a YAML mapping", where)
    cfg = _merge(Config(), data, "", where) if data else Config()
    cfg.check(where)
    return cfg


def config_to_dict(cfg: Config) -> dict:
    """Plain data (tuples as lists) for YAML / JSON."""

    def plain(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: plain(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [plain(v) for v in x]
        return x

    return plain(dataclasses.asdict(cfg))


def _parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise InputError(f"override {item!r} is not key=value (e.g. diffusion.steps=100)")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise InputError(f"override {item!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a YAML config (yaml.safe_load), then apply "a.b=c" overrides (values parsed as YAML).

    `path` None starts from the defaults. Overrides of `model.overrides.<field>` set one
    model-size field. InputError names the file and the bad key or value.
    """
    data: dict = {}
    where = None if path is None else Path(path)
    if where is not None:
        try:
            text = where.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputError("config file not found", where) from None
        except OSError as e:
            raise InputError(f"cannot read config file ({e.strerror})", where) from None
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            raise InputError(f"invalid YAML{at}: {getattr(e, 'problem', None) or e}", where) from None
        if not isinstance(data, dict):
            raise InputError("a config file must be a YAML mapping", where)
    for item in overrides:
        keys, value = _parse_override(item)
        node = data
        for k in keys[:-1]:
            nxt = node.get(k)
            if nxt is None:
                nxt = node[k] = {}
            if not isinstance(nxt, dict):
                raise InputError(f"override {item!r}: {k} is not a section")
            node = nxt
        node[keys[-1]] = value
    label = where if where is not None else ("--set" if overrides else None)
    return config_from_dict(data, label)


def save_config(cfg: Config, path: str | Path) -> None:
    """Write the config as YAML, atomically; `load_config` reads it back to an equal Config."""
    text = yaml.safe_dump(config_to_dict(cfg), sort_keys=False, default_flow_style=None)
    atomic_write_bytes(path, text.encode("utf-8"))
