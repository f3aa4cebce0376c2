"""Initialise stage 2 from a local Stable Diffusion 2.x diffusers folder.

The folder is the layout `StableDiffusionPipeline.save_pretrained` writes (`unet/`, `vae/`,
`scheduler/`, ...). Only safetensors weights are read (never a pickle). UNet tensors are
copied where name and shape match; `conv_in.weight` gets SD's weights for the latent channels
and zeros for the pose-feature channels. Everything else keeps the initialisation FPDM gives
new layers (PyTorch defaults for the class MLP, token projection and pose stack; the pose
path enters through those zero conv_in channels, so at step 0 the model is SD + class
embedding). The VAE comes from `vae.load_vae(folder, ...)`, the scheduler config from
`sd_scheduler_config(folder)`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file

from ..errors import InputError
from .stage2 import Stage2

__all__ = ["SDInitReport", "init_stage2_from_sd", "read_sd_unet", "sd_scheduler_config"]

_WEIGHTS = "diffusion_pytorch_model.safetensors"


@dataclass
class SDInitReport:
    """What `init_stage2_from_sd` did, by parameter name (names relative to `stage2`)."""

    copied: list[str] = field(default_factory=list)  # taken whole from SD
    partial: list[str] = field(default_factory=list)  # conv_in.weight: SD's channels + zeros
    new: list[str] = field(default_factory=list)  # not in SD: our own initialisation
    mismatched: list[str] = field(default_factory=list)  # in both, different shapes: kept ours
    unused: list[str] = field(default_factory=list)  # in SD, not in our UNet

    def summary(self) -> str:
        return (f"copied {len(self.copied)}, partial {len(self.partial)}, new {len(self.new)}, "
                f"shape-mismatched {len(self.mismatched)}, unused SD tensors {len(self.unused)}")


def _unet_dir(folder: Path) -> Path:
    if not folder.is_dir():
        raise InputError("Stable Diffusion folder does not exist", folder)
    unet = folder / "unet"
    if not (unet / "config.json").is_file():
        raise InputError("not a Stable Diffusion diffusers folder (no unet/config.json)", folder)
    return unet


def read_sd_unet(folder: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """(unet config, unet state dict) from `<folder>/unet`, single-file or sharded safetensors."""
    unet = _unet_dir(Path(folder))
    config = json.loads((unet / "config.json").read_text(encoding="utf-8"))
    single = unet / _WEIGHTS
    index = unet / f"{_WEIGHTS}.index.json"
    if single.is_file():
        files = [single]
    elif index.is_file():
        shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        files = [unet / s for s in shards]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise InputError(f"UNet shard(s) missing: {', '.join(missing)}", unet)
    else:
        fp16 = sorted(unet.glob("diffusion_pytorch_model.*.safetensors"))
        if fp16:
            files = fp16[:1]
        elif any(unet.glob("*.bin")):
            raise InputError("UNet weights are pickle-based (.bin); only .safetensors are loaded", unet)
        else:
            raise InputError(f"UNet weights missing (no {_WEIGHTS})", unet)
    state: dict[str, torch.Tensor] = {}
    for f in files:
        try:
            state.update(load_file(str(f), device="cpu"))
        except Exception as e:  # SafetensorError / OSError on a corrupt or truncated file
            raise InputError(f"unreadable safetensors file ({e})", f) from None
    return config, state


def sd_scheduler_config(folder: str | Path) -> dict:
    """The noise scheduler config of an SD folder (`scheduler/scheduler_config.json`)."""
    path = Path(folder) / "scheduler" / "scheduler_config.json"
    if not path.is_file():
        raise InputError("no scheduler/scheduler_config.json in the Stable Diffusion folder", folder)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON ({e.msg} at line {e.lineno})", path) from None


# Config entries that decide tensor names and shapes: these must agree with the SD UNet.
_ARCH_KEYS = ("block_out_channels", "down_block_types", "up_block_types", "layers_per_block",
              "cross_attention_dim", "use_linear_projection", "norm_num_groups")


def _norm(v):
    return list(v) if isinstance(v, (list, tuple)) else v


@torch.no_grad()
def init_stage2_from_sd(stage2: Stage2, folder: str | Path) -> SDInitReport:
    """Copy Stable Diffusion's UNet weights into `stage2.unet` where they fit; report the rest.

    Raises InputError when the folder is not an SD diffusers folder, or its UNet has another
    architecture than `stage2.config` describes (a partial copy would be a silent mistake).
    """
    sd_config, sd = read_sd_unet(folder)
    want = stage2.config.unet_kwargs()
    differ = [f"{k} {sd_config.get(k)} != {want[k]}" for k in _ARCH_KEYS
              if _norm(sd_config.get(k)) != _norm(want[k])]
    if differ:
        raise InputError(f"UNet architecture differs from stage 2's: {'; '.join(differ)}", folder)
    report = SDInitReport()
    ours = stage2.unet.state_dict()
    latent = stage2.config.latent_channels
    for name, target in ours.items():
        src = sd.get(name)
        full = f"unet.{name}"
        if src is None:
            report.new.append(full)
        elif src.shape == target.shape:
            target.copy_(src.to(target.dtype))
            report.copied.append(full)
        elif name == "conv_in.weight" and src.shape[0] == target.shape[0] and src.shape[1] == latent \
                and src.shape[2:] == target.shape[2:]:
            target[:, :latent].copy_(src.to(target.dtype))
            target[:, latent:].zero_()
            report.partial.append(full)
        else:
            report.mismatched.append(full)
    report.unused = sorted(k for k in sd if k not in ours)
    report.new += [n for n, _ in stage2.named_parameters() if not n.startswith("unet.")]
    if not report.copied:
        raise InputError(
            f"no UNet weight matched stage 2's architecture ({len(report.mismatched)} shape mismatches, "
            f"{len(report.unused)} unknown names)", folder)
    return report
