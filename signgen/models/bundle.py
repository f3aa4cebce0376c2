"""The model bundle: one folder holding everything needed to render, safetensors + JSON only.

Layout (format version 1)::

    bundle.json                      {"format": "signgen-bundle", "version": 1, "meta": {...}}
    unet/       config.json + diffusion_pytorch_model.safetensors   (diffusers save_pretrained)
    vae/        config.json + diffusion_pytorch_model.safetensors   (diffusers save_pretrained)
    scheduler/  scheduler_config.json                               (diffusers save_pretrained)
    stage1/     config.json + model.safetensors   (encoder + fusion; config also in the
    stage2/     config.json + model.safetensors    safetensors metadata, k-diffusion style)

`stage2/` holds the conditioners (class MLP, token projection, pose stack); the UNet they
feed is `unet/`. Loading never unpickles: diffusers components with `use_safetensors=True`,
ours with `safetensors.torch`. A bundle containing any pickle-format file is refused outright.
Saving writes a temporary folder beside the target and renames it into place, so a bundle
on disk is always complete.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import load_file, save_file

from .. import __version__
from ..errors import InputError
from . import Stage1Config
from .stage2 import Stage2, Stage2Config
from .vae import Vae, _config_from_model

if TYPE_CHECKING:
    from .sizes import ModelSize

__all__ = ["BUNDLE_FORMAT", "BUNDLE_VERSION", "Bundle", "BundleMeta", "save_bundle", "load_bundle",
           "build_bundle", "check_bundle", "is_bundle", "make_scheduler", "replace_vae_decoder"]

BUNDLE_FORMAT = "signgen-bundle"
BUNDLE_VERSION = 1
_PICKLE_SUFFIXES = {".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib"}
_DIFFUSERS_WEIGHTS = "diffusion_pytorch_model.safetensors"
_REQUIRED = (
    "stage1/config.json", "stage1/model.safetensors",
    "stage2/config.json", "stage2/model.safetensors",
    "unet/config.json", f"unet/{_DIFFUSERS_WEIGHTS}",
    "vae/config.json", f"vae/{_DIFFUSERS_WEIGHTS}",
    "scheduler/scheduler_config.json",
)


@dataclass
class BundleMeta:
    """Sampling defaults and provenance stored with the weights (bundle.json "meta")."""

    size: str = "tiny"  # the named model size (sizes.py) the bundle was built from
    image_size: tuple[int, int] = (64, 64)  # (H, W) the model renders
    steps: int = 20  # FPDM samples with 20 DDPM steps
    guidance: float = 2.0  # FPDM's w for both guidance terms
    sampler: str = "ddpm"
    extra: dict[str, Any] = field(default_factory=dict)  # free-form: training run, data, notes

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str | Path | None = None) -> "BundleMeta":
        """Defaults for absent keys; unknown keys go to `extra`; bad values -> InputError."""
        if not isinstance(data, dict):
            raise InputError("bundle meta must be a JSON object", where)
        known = {f.name for f in dataclasses.fields(cls)}
        extra = dict(data.get("extra") or {})
        extra.update({k: v for k, v in data.items() if k not in known})
        kwargs = {k: v for k, v in data.items() if k in known and k != "extra"}
        meta = cls(**kwargs, extra=extra)
        size = meta.image_size
        if not (isinstance(size, (list, tuple)) and len(size) == 2
                and all(isinstance(v, int) and v > 0 for v in size)):
            raise InputError(f"meta image_size must be [height, width] positive integers, got {size!r}", where)
        meta.image_size = tuple(size)
        if not (isinstance(meta.steps, int) and meta.steps > 0):
            raise InputError(f"meta steps must be a positive integer, got {meta.steps!r}", where)
        if not (isinstance(meta.guidance, (int, float)) and meta.guidance >= 0):
            raise InputError(f"meta guidance must be a number >= 0, got {meta.guidance!r}", where)
        meta.guidance = float(meta.guidance)
        if not isinstance(meta.size, str) or not isinstance(meta.sampler, str):
            raise InputError("meta size and sampler must be strings", where)
        return meta


@dataclass
class Bundle:
    """A loaded bundle: models on one device in one dtype, eval mode, plus sampling defaults."""

    stage1: torch.nn.Module
    stage2: Stage2
    vae: Vae
    scheduler: Any  # a diffusers SchedulerMixin
    meta: BundleMeta
    folder: Path | None  # None for a bundle built in memory (`build_bundle`)
    device: torch.device
    dtype: torch.dtype

    def save(self, folder: str | Path) -> Path:
        """`save_bundle` with this bundle's parts, scheduler and meta."""
        config = {**dict(self.scheduler.config), "_class_name": type(self.scheduler).__name__}
        config = {k: v for k, v in config.items() if k != "_use_default_values"}
        return save_bundle(folder, stage1=self.stage1, stage2=self.stage2, vae=self.vae,
                           scheduler_config=config, meta=self.meta)


# ---- helpers ------------------------------------------------------------------------------

def _to_jsonable(config: Any) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(config)))


def _dataclass_from_dict(cls: type, data: dict, where: Path) -> Any:
    """Rebuild a flat config dataclass from JSON (lists back to tuples); unknown keys are errors."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise InputError(f"unknown config keys {unknown} (written by a newer signgen?)", where)
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise InputError(f"invalid config ({e})", where) from None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON ({e.msg} at line {e.lineno}, column {e.colno})", path) from None
    except OSError as e:
        raise InputError(f"cannot read ({e.strerror})", path) from None


def safetensors_state(module: torch.nn.Module, skip_prefix: str | None = None) -> dict[str, torch.Tensor]:
    """A state dict safetensors accepts: CPU, contiguous, and tied weights cloned (safetensors
    refuses tensors that share storage); keys starting with `skip_prefix` left out."""
    state = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()
             if skip_prefix is None or not k.startswith(skip_prefix)}
    seen: set[int] = set()
    for k, v in state.items():
        ptr = v.untyped_storage().data_ptr()
        if ptr in seen and v.numel():
            state[k] = v.clone()
        seen.add(ptr)
    return state


def _write_module(folder: Path, module: torch.nn.Module, config: dict, component: str,
                  skip_prefix: str | None = None) -> None:
    """`<folder>/config.json` + `<folder>/model.safetensors` with the config in its metadata."""
    folder.mkdir(parents=True)
    text = json.dumps(config, indent=2, sort_keys=True)
    (folder / "config.json").write_text(text + "\n", encoding="utf-8")
    state = safetensors_state(module, skip_prefix)
    save_file(state, str(folder / "model.safetensors"),
              metadata={"format": "pt", "signgen_component": component, "config": text})


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path), device="cpu")
    except Exception as e:  # SafetensorError, OSError on a corrupt or truncated file
        raise InputError(f"unreadable safetensors file ({e})", path) from None


def _load_into(module: torch.nn.Module, state: dict[str, torch.Tensor], path: Path,
               ignore_prefix: str | None = None) -> None:
    own = module.state_dict()
    wrong = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    if wrong:
        raise InputError(f"weights do not fit the config: {len(wrong)} shape mismatch(es), e.g. {wrong[0]} "
                         f"{tuple(state[wrong[0]].shape)} vs {tuple(own[wrong[0]].shape)}", path)
    result = module.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if ignore_prefix is None or not k.startswith(ignore_prefix)]
    if missing or result.unexpected_keys:
        raise InputError(f"weights do not fit the config: {len(missing)} missing (e.g. {missing[:2]}), "
                         f"{len(result.unexpected_keys)} unexpected (e.g. {result.unexpected_keys[:2]})", path)


def make_scheduler(config: dict) -> Any:
    """A diffusers noise scheduler from its config dict; the class must be a diffusers scheduler."""
    import diffusers
    from diffusers import SchedulerMixin

    name = config.get("_class_name", "DDPMScheduler")
    cls = getattr(diffusers, name, None) if isinstance(name, str) and name.endswith("Scheduler") else None
    if not (isinstance(cls, type) and issubclass(cls, SchedulerMixin)):
        raise InputError(f"unknown noise scheduler class {name!r}")
    return cls.from_config(config)


def _check_target(folder: Path) -> None:
    """Refuse early (before writing gigabytes) a target that is not ours to replace."""
    if not folder.parent.is_dir():
        raise InputError("parent folder does not exist", folder.parent)
    if folder.exists():
        if not folder.is_dir():
            raise InputError("exists and is not a folder; refusing to overwrite", folder)
        if not (folder / "bundle.json").is_file() and any(folder.iterdir()):
            raise InputError("exists, is not empty and is not a signgen bundle; refusing to overwrite", folder)


def _replace_folder(tmp: Path, folder: Path) -> None:
    """Move a finished temp folder to `folder`, replacing an older bundle only."""
    _check_target(folder)
    if folder.exists():
        if (folder / "bundle.json").is_file():
            old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
            os.replace(folder, old / "bundle")
            try:
                os.replace(tmp, folder)
            except BaseException:
                os.replace(old / "bundle", folder)  # put the previous bundle back
                shutil.rmtree(old, ignore_errors=True)
                raise
            shutil.rmtree(old, ignore_errors=True)
            return
        folder.rmdir()  # empty
    os.replace(tmp, folder)


# ---- public API ---------------------------------------------------------------------------

def is_bundle(folder: str | Path) -> bool:
    """True when `folder` has a bundle.json of our format (no other check)."""
    path = Path(folder) / "bundle.json"
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("format") == BUNDLE_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def save_bundle(folder: str | Path, *, stage1: torch.nn.Module, stage2: Stage2, vae: Vae,
                scheduler_config: dict, meta: BundleMeta | dict | None = None) -> Path:
    """Write a complete bundle atomically (temp folder beside `folder`, then rename).

    `stage1` is any module with `.config` (a `Stage1Config`) and `from_config`. An existing
    bundle at `folder` is replaced; any other non-empty folder is refused. Local `pretrained`
    paths in configs are cleared: the bundle's own weights replace them.
    """
    folder = Path(folder)
    _check_target(folder)
    if not isinstance(meta, BundleMeta):
        meta = BundleMeta.from_dict({"image_size": tuple(vae.config.image_size), **(meta or {})})
    else:
        meta = BundleMeta.from_dict(dataclasses.asdict(meta))  # same checks either way
    scheduler = make_scheduler(scheduler_config)  # validates before anything is written
    s1_config = _to_jsonable(stage1.config)
    if isinstance(s1_config.get("encoder"), dict):
        s1_config["encoder"]["pretrained"] = None
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        _write_module(tmp / "stage1", stage1, s1_config, "stage1")
        _write_module(tmp / "stage2", stage2, _to_jsonable(stage2.config), "stage2", skip_prefix="unet.")
        # One weights file per component (the loader expects exactly that layout).
        stage2.unet.save_pretrained(tmp / "unet", safe_serialization=True, max_shard_size="1000GB")
        vae.model.save_pretrained(tmp / "vae", safe_serialization=True, max_shard_size="1000GB")
        scheduler.save_pretrained(tmp / "scheduler")
        manifest = {
            "format": BUNDLE_FORMAT,
            "version": BUNDLE_VERSION,
            "written_by": f"signgen {__version__}",
            "components": {"stage1": "stage1", "stage2": "stage2", "unet": "unet", "vae": "vae",
                           "scheduler": "scheduler"},
            "meta": json.loads(json.dumps(dataclasses.asdict(meta))),
        }
        (tmp / "bundle.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        _replace_folder(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def check_bundle(folder: str | Path) -> dict:
    """Validate a bundle folder without loading weights; returns its bundle.json.

    InputError when it is not a folder, not a bundle, of a newer format, missing a file,
    or contains a pickle-based file (.bin/.pt/.pth/.ckpt/.pkl...).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("bundle folder does not exist", folder)
    manifest_path = folder / "bundle.json"
    if not manifest_path.is_file():
        raise InputError("not a signgen model bundle (no bundle.json)", folder)
    manifest = _read_json(manifest_path)
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise InputError(f"not a signgen model bundle (bundle.json format is not {BUNDLE_FORMAT!r})", folder)
    version = manifest.get("version")
    if not isinstance(version, int) or not 1 <= version <= BUNDLE_VERSION:
        raise InputError(f"unsupported bundle format version {version!r} (this signgen reads 1..{BUNDLE_VERSION})",
                         folder)
    pickles = sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                     if p.is_file() and p.suffix.lower() in _PICKLE_SUFFIXES)
    if pickles:
        raise InputError(f"bundle contains pickle-based file(s) {', '.join(pickles)}; "
                         f"refusing to load (bundles hold safetensors only)", folder)
    for rel in _REQUIRED:
        if not (folder / rel).is_file():
            raise InputError(f"bundle is incomplete: missing {rel}", folder)
    return manifest


def load_bundle(folder: str | Path, device: torch.device | str = "cpu",
                dtype: torch.dtype = torch.float32) -> Bundle:
    """Load every component onto `device` in `dtype`, in eval mode. Never unpickles."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    from .fusion import Stage1

    folder = Path(folder)
    manifest = check_bundle(folder)
    device = torch.device(device)
    meta = BundleMeta.from_dict(manifest.get("meta") or {}, folder / "bundle.json")

    s1_dir = folder / "stage1"
    try:
        stage1 = Stage1.from_config(Stage1Config.from_dict(_read_json(s1_dir / "config.json")))
    except (TypeError, ValueError) as e:
        raise InputError(f"invalid stage-1 config ({e})", s1_dir / "config.json") from None
    _load_into(stage1, _read_state(s1_dir / "model.safetensors"), s1_dir / "model.safetensors")

    s2_dir = folder / "stage2"
    s2_config = _dataclass_from_dict(Stage2Config, _read_json(s2_dir / "config.json"), s2_dir / "config.json")
    try:
        unet = UNet2DConditionModel.from_pretrained(folder / "unet", use_safetensors=True, torch_dtype=dtype)
        vae_model = AutoencoderKL.from_pretrained(folder / "vae", use_safetensors=True, torch_dtype=dtype)
    except (OSError, ValueError, RuntimeError) as e:
        raise InputError(f"cannot load a diffusers component ({str(e).splitlines()[0]})", folder) from None
    try:
        stage2 = Stage2(s2_config, unet=unet)
    except ValueError as e:
        raise InputError(str(e), folder / "unet" / "config.json") from None
    _load_into(stage2, _read_state(s2_dir / "model.safetensors"), s2_dir / "model.safetensors",
               ignore_prefix="unet.")
    vae = Vae(vae_model, _config_from_model(vae_model, meta.image_size))
    scheduler = make_scheduler(_read_json(folder / "scheduler" / "scheduler_config.json"))

    for m in (stage1, stage2, vae):
        m.to(device=device, dtype=dtype).eval()
    return Bundle(stage1=stage1, stage2=stage2, vae=vae, scheduler=scheduler, meta=meta,
                  folder=folder, device=device, dtype=dtype)


def replace_vae_decoder(folder: str | Path, vae_path: str | Path) -> Path:
    """Put a fine-tuned VAE decoder (`train vae` with `train.vae_decoder_only`) into a bundle.

    Stage 2 was trained on the latents of the bundle's VAE encoder, so only a VAE with the very
    same encoder and scaling factor is accepted (InputError otherwise); the rest is rewritten
    atomically as `save_bundle` does.
    """
    from .vae import load_vae

    bundle = load_bundle(folder, "cpu", torch.float32)
    vae = load_vae(vae_path, bundle.vae.config)
    mine, theirs = bundle.vae.model.state_dict(), vae.model.state_dict()
    encoder = [k for k in mine if k.startswith(("encoder.", "quant_conv."))]
    same = (vae.scaling_factor == bundle.vae.scaling_factor and mine.keys() == theirs.keys()
            and all(torch.equal(mine[k], theirs[k]) for k in encoder))
    if not same:
        raise InputError("this VAE's encoder or scaling factor differs from the bundle's, so stage 2's latents "
                         "would not match; fine-tune the bundle's VAE with train.vae_decoder_only=true", vae_path)
    bundle.vae = vae
    bundle.meta.extra = {**bundle.meta.extra, "vae_decoder": str(vae_path)}
    return bundle.save(folder)


def build_bundle(size: "ModelSize", *, sd_folder: str | Path | None = None,
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> Bundle:
    """A fresh, untrained bundle for a named size: where training starts.

    With `sd_folder` (a local Stable Diffusion 2.x diffusers folder) the UNet is initialised
    from SD (`sd_init.init_stage2_from_sd`), and the VAE and scheduler are SD's; without it,
    everything is built from the size's configs. The encoder loads `size.encoder.pretrained`
    when that is set. Models are in train mode; nothing is frozen here (training decides).
    """
    from .fusion import Stage1
    from .sd_init import init_stage2_from_sd, sd_scheduler_config
    from .vae import load_vae

    stage1 = Stage1.from_config(size.stage1)
    stage2 = Stage2(size.stage2)
    extra: dict[str, Any] = {}
    if sd_folder is not None:
        report = init_stage2_from_sd(stage2, sd_folder)
        extra["sd_init"] = {"folder": str(sd_folder), "summary": report.summary()}
        vae = load_vae(sd_folder, size.vae)
        scheduler_config = sd_scheduler_config(sd_folder)
    else:
        vae = load_vae(None, size.vae)
        scheduler_config = dict(size.scheduler)
    if vae.factor != size.stage2.pose_factor:
        raise InputError(f"the VAE downsamples by {vae.factor} but size {size.name!r} expects "
                         f"{size.stage2.pose_factor}", sd_folder)
    device = torch.device(device)
    for m in (stage1, stage2, vae):
        m.to(device=device, dtype=dtype)
    meta = BundleMeta(size=size.name, image_size=tuple(size.image_size), steps=size.steps,
                      guidance=size.guidance, sampler=size.sampler, extra=extra)
    return Bundle(stage1=stage1, stage2=stage2, vae=vae, scheduler=make_scheduler(scheduler_config),
                  meta=meta, folder=None, device=device, dtype=dtype)
