"""The model bundle: one folder holding everything needed to render, safetensors + JSON only.

Layout (format version 1)::

    bundle.json                      {"format": "signgen-bundle", "version": 1, "meta": {...}}
    unet/       config.json + diffusion_pytorch_model.safetensors   (diffusers save_pretrained)
    vae/        config.json + diffusion_pytorch_model.safetensors   (diffusers save_pretrained)
    scheduler/  scheduler_config.json                               (diffusers save_pretrained)
    stage1/     config.json + model.safetensors   (encoder + fusion; config also in the
    stage2/     config.json + model.safetensors    safetensors metadata, k-diffusion style)

`stage2/` holds the conditioners (class MLP, token projection, pose stack); the UNet they
feed is `unet/`. Loading never unpickles (no `torch.load` anywhere): diffusers components with
`use_safetensors=True`, ours with `safetensors.torch`. A bundle containing any pickle-format
file is refused outright. A bundle is self-contained: a symbolic link leading out of its folder,
a special file, or a config naming a file (stage 1's encoder `pretrained`) is refused; every
JSON file is read with the size and depth limits and checked against `bundle_schema` BEFORE any
model is built, and the parameter count of each component is checked on the meta device
(max_model_params, `signgen.limits`) before it is built for real.
Saving writes a temporary folder beside the target and renames it into place, so a bundle
on disk is always complete.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import load_file, save_file

from ..base.files import replace_folder
from ..base.version import __version__
from ..errors import InputError
from ..limits import check_limit
from ..pose.io.files import load_json
from . import Stage1Config
from .bundle_schema import (UNET_SPEC, VAE_SPEC, check_diffusers_config, check_scheduler_config,
                            check_stage1_config, check_stage2_config)
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
MODEL_INDEX = "model_index.json"
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
        if not isinstance(data.get("extra") or {}, dict):
            raise InputError("meta extra must be a JSON object", where)
        extra = dict(data.get("extra") or {})
        extra.update({k: v for k, v in data.items() if k not in known})
        kwargs = {k: v for k, v in data.items() if k in known and k != "extra"}
        meta = cls(**kwargs, extra=extra)
        size = meta.image_size
        if not (isinstance(size, (list, tuple)) and len(size) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 16384 for v in size)):
            raise InputError(f"meta image_size must be [height, width] integers in 1..16384, got {size!r:.60}", where)
        meta.image_size = tuple(size)
        if not (isinstance(meta.steps, int) and not isinstance(meta.steps, bool) and 0 < meta.steps <= 10_000):
            raise InputError(f"meta steps must be an integer in 1..10000, got {meta.steps!r:.60}", where)
        if not (isinstance(meta.guidance, (int, float)) and not isinstance(meta.guidance, bool)
                and 0 <= meta.guidance <= 100):
            raise InputError(f"meta guidance must be a number in [0, 100], got {meta.guidance!r:.60}", where)
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


def _read_json(path: Path, folder: Path | None = None) -> Any:
    """A JSON file with the size and depth limits, UTF-8, a regular file (inside `folder` when given)."""
    return load_json(path, inside=folder)


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


def _read_state(path: Path, folder: Path | None = None) -> dict[str, torch.Tensor]:
    if folder is not None:
        _check_inside(path, folder)
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


def stage1_config_from(doc: Any, path: Path) -> Stage1Config:
    """A `Stage1Config` from a checked stage1/config.json (bundle or `train fusion` output)."""
    check_stage1_config(doc, path)
    try:
        return Stage1Config.from_dict(doc)
    except (TypeError, ValueError) as e:
        raise InputError(f"invalid stage-1 config ({e})", path) from None


def make_scheduler(config: dict) -> Any:
    """A diffusers noise scheduler from its config dict; the class must be a diffusers scheduler."""
    import diffusers
    from diffusers import SchedulerMixin

    name = config.get("_class_name", "DDPMScheduler")
    cls = getattr(diffusers, name, None) if isinstance(name, str) and name.endswith("Scheduler") else None
    if not (isinstance(cls, type) and issubclass(cls, SchedulerMixin)):
        raise InputError(f"unknown noise scheduler class {name!r}")
    try:
        return cls.from_config(config)
    except (TypeError, ValueError, KeyError, NotImplementedError) as e:
        raise InputError(f"invalid {name} config ({type(e).__name__}: {str(e).splitlines()[0][:200]})") from None


def _check_inside(path: Path, folder: Path) -> None:
    """A file a bundle names: a regular file whose real path lies inside the bundle folder."""
    from ..base.files import open_checked

    open_checked(path, inside=folder).close()


def _walk_bundle(folder: Path) -> list[Path]:
    """Every file of a bundle, refusing symbolic links out of it and special files (FIFOs,
    devices) anywhere in it; symbolic links are not followed into other folders."""
    root = os.path.realpath(folder)
    files = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            try:
                st = os.stat(p)
            except OSError:
                raise InputError("broken symbolic link (or an unreadable entry) in the bundle", p) from None
            real = os.path.realpath(p)
            if p.is_symlink() and not (real == root or real.startswith(root + os.sep)):
                raise InputError("symbolic link leads out of the bundle folder; bundles must be self-contained", p)
            if name in filenames:
                if not stat.S_ISREG(st.st_mode):
                    raise InputError("is not a regular file (a FIFO, a device or a socket in a bundle)", p)
                files.append(p)
    return files


def _meta_params(build, what: str, path: Path) -> None:
    """Build a component on the meta device (no memory) and check its parameter count."""
    try:
        with torch.device("meta"):
            module = build()
    except InputError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, AssertionError, RuntimeError, IndexError) as e:
        raise InputError(f"invalid {what} config ({type(e).__name__}: {str(e).splitlines()[0][:200]})", path) from None
    check_limit("max_model_params", sum(p.numel() for p in module.parameters()), path, f"{what} size")


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
    replace_folder(tmp, folder)


# ---- public API ---------------------------------------------------------------------------

def is_bundle(folder: str | Path) -> bool:
    """True when `folder` has a bundle.json of our format (no other check)."""
    path = Path(folder) / "bundle.json"
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("format") == BUNDLE_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def model_index(scheduler_class: str) -> dict[str, Any]:
    """A bundle's `model_index.json`: its parts as diffusers lists a pipeline's, so the folder
    loads as `signgen.rendering.diffusers_pipeline.SigngenPipeline.from_pretrained(folder)`."""
    from diffusers import __version__ as diffusers_version

    return {
        "_class_name": "SigngenPipeline",
        "_diffusers_version": diffusers_version,
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
        "scheduler": ["diffusers", scheduler_class],
        "stage1": ["signgen.models.fusion", "Stage1"],
        "stage2": ["signgen.models.stage2", "Stage2"],
    }


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
        (tmp / MODEL_INDEX).write_text(json.dumps(model_index(type(scheduler).__name__), indent=2) + "\n",
                                       encoding="utf-8")
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
    manifest = _read_json(manifest_path, folder)
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise InputError(f"not a signgen model bundle (bundle.json format is not {BUNDLE_FORMAT!r})", folder)
    version = manifest.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= BUNDLE_VERSION:
        raise InputError(f"unsupported bundle format version {version!r} (this signgen reads 1..{BUNDLE_VERSION})",
                         folder)
    pickles = sorted(str(p.relative_to(folder)) for p in _walk_bundle(folder)
                     if p.suffix.lower() in _PICKLE_SUFFIXES)
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

    from .fusion import FusionModule, Stage1

    folder = Path(folder)
    manifest = check_bundle(folder)
    device = torch.device(device)
    meta = BundleMeta.from_dict(manifest.get("meta") or {}, folder / "bundle.json")

    # 1. every config read and checked against the schema, before anything is built
    s1_path, s2_path = folder / "stage1" / "config.json", folder / "stage2" / "config.json"
    unet_path, vae_path = folder / "unet" / "config.json", folder / "vae" / "config.json"
    sched_path = folder / "scheduler" / "scheduler_config.json"
    s1_config = stage1_config_from(_read_json(s1_path, folder), s1_path)
    s2_config = _dataclass_from_dict(Stage2Config, check_stage2_config(_read_json(s2_path, folder), s2_path), s2_path)
    unet_cfg = check_diffusers_config(_read_json(unet_path, folder), unet_path, "UNet2DConditionModel", UNET_SPEC)
    vae_cfg = check_diffusers_config(_read_json(vae_path, folder), vae_path, "AutoencoderKL", VAE_SPEC)
    sched_cfg = check_scheduler_config(_read_json(sched_path, folder), sched_path)
    # 2. their sizes, counted on the meta device
    # (the encoder is one of the allowed architectures; its fusion module is what a config sizes)
    fusion_cfg = dataclasses.replace(s1_config.fusion, embed_dim=s1_config.fusion.embed_dim or 1024)
    _meta_params(lambda: FusionModule(fusion_cfg), "stage-1 fusion", s1_path)
    _meta_params(lambda: Stage2(s2_config), "stage-2", s2_path)
    _meta_params(lambda: UNet2DConditionModel.from_config(unet_cfg), "UNet", unet_path)
    _meta_params(lambda: AutoencoderKL.from_config(vae_cfg), "VAE", vae_path)
    scheduler = make_scheduler(sched_cfg)
    # 3. built and filled from files confined to the folder (checked just before each read)
    s1_dir = folder / "stage1"
    stage1 = Stage1.from_config(s1_config)
    _load_into(stage1, _read_state(s1_dir / "model.safetensors", folder), s1_dir / "model.safetensors")

    s2_dir = folder / "stage2"
    try:
        for part in ("unet", "vae"):
            _check_inside(folder / part / _DIFFUSERS_WEIGHTS, folder)
        unet = UNet2DConditionModel.from_pretrained(folder / "unet", use_safetensors=True, torch_dtype=dtype)
        vae_model = AutoencoderKL.from_pretrained(folder / "vae", use_safetensors=True, torch_dtype=dtype)
    except (OSError, ValueError, RuntimeError) as e:
        raise InputError(f"cannot load a diffusers component ({str(e).splitlines()[0]})", folder) from None
    try:
        stage2 = Stage2(s2_config, unet=unet)
    except ValueError as e:
        raise InputError(str(e), folder / "unet" / "config.json") from None
    _load_into(stage2, _read_state(s2_dir / "model.safetensors", folder), s2_dir / "model.safetensors",
               ignore_prefix="unet.")
    vae = Vae(vae_model, _config_from_model(vae_model, meta.image_size))

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
