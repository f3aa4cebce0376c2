"""The schema of a bundle's JSON configs, checked before any model is built.

A bundle is data someone else may have written: a config could name an encoder that builds a
7.9 GB model, a width that asks for terabytes, a scheduler with a billion timesteps, or a
weights path anywhere on the machine. Every config file is checked here first (types, allowed
names, bounded sizes, no paths), each problem an `InputError` naming the file and the key; the
parameter count of what the configs describe is checked afterwards on the meta device
(`bundle.py`, the max_model_params limit). Torch-free.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

from ..errors import InputError

__all__ = ["ENCODER_ARCHS", "SCHEDULERS", "check_diffusers_config", "check_scheduler_config",
           "check_stage1_config", "check_stage2_config", "UNET_SPEC", "VAE_SPEC"]

ENCODER_ARCHS = ("tiny", "ViT-B-32", "ViT-B-16", "ViT-L-14", "ViT-L-14-336")
"""Encoders a bundle may name: our CPU ViT and the open_clip ViTs FPDM-scale models use."""
SCHEDULERS = ("DDPMScheduler", "DDIMScheduler", "DPMSolverMultistepScheduler", "UniPCMultistepScheduler",
              "EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler", "PNDMScheduler", "LMSDiscreteScheduler",
              "HeunDiscreteScheduler", "DEISMultistepScheduler", "LCMScheduler")
DOWN_BLOCKS = ("DownBlock2D", "CrossAttnDownBlock2D", "AttnDownBlock2D", "ResnetDownsampleBlock2D",
               "SimpleCrossAttnDownBlock2D", "DownEncoderBlock2D", "AttnDownEncoderBlock2D")
UP_BLOCKS = ("UpBlock2D", "CrossAttnUpBlock2D", "AttnUpBlock2D", "ResnetUpsampleBlock2D",
             "SimpleCrossAttnUpBlock2D", "UpDecoderBlock2D", "AttnUpDecoderBlock2D")
MAX_TIMESTEPS = 10_000
MAX_BLOCKS = 8
MAX_WIDTH = 8192
MAX_NUMBER = 1e6  # any other number in a diffusers config
MAX_STRING = 256
MAX_LIST = 64
MAX_KEYS = 128

Check = Callable[[Any, str, Path], Any]


def _fail(where: str, message: str, path: Path) -> InputError:
    return InputError(f"{where}: {message}", path)


def integer(lo: int, hi: int) -> Check:
    def check(v: Any, where: str, path: Path) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise _fail(where, f"must be an integer in {lo}..{hi}, got {v!r:.60}", path)
        return v
    return check


def number(lo: float, hi: float, *, open_low: bool = False, open_high: bool = False) -> Check:
    def check(v: Any, where: str, path: Path) -> float:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        ok = ok and (lo < v if open_low else lo <= v) and (v < hi if open_high else v <= hi)
        if not ok:
            lb, hb = "(" if open_low else "[", ")" if open_high else "]"
            raise _fail(where, f"must be a finite number in {lb}{lo:g}, {hi:g}{hb}, got {v!r:.60}", path)
        return v
    return check


def boolean(v: Any, where: str, path: Path) -> bool:
    if not isinstance(v, bool):
        raise _fail(where, f"must be true or false, got {v!r:.60}", path)
    return v


def one_of(names: tuple[str, ...]) -> Check:
    def check(v: Any, where: str, path: Path) -> str:
        if v not in names:
            raise _fail(where, f"must be one of {', '.join(names)}; got {v!r:.80}", path)
        return v
    return check


def listed(item: Check, lo: int = 1, hi: int = MAX_BLOCKS, *, scalar_ok: bool = False) -> Check:
    """A list of `lo`..`hi` items (or, with `scalar_ok`, one item on its own, as diffusers allows)."""
    def check(v: Any, where: str, path: Path) -> Any:
        if scalar_ok and not isinstance(v, (list, tuple)):
            return item(v, where, path)
        if not isinstance(v, (list, tuple)) or not lo <= len(v) <= hi:
            raise _fail(where, f"must be a list of {lo}..{hi} items, got {v!r:.60}", path)
        return [item(x, f"{where}[{i}]", path) for i, x in enumerate(v)]
    return check


def nullable(check: Check) -> Check:
    def inner(v: Any, where: str, path: Path) -> Any:
        return None if v is None else check(v, where, path)
    return inner


def plain(v: Any, where: str, path: Path, depth: int = 0) -> Any:
    """Any other config value: null, a bool, a bounded number or string, a short flat list/object."""
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        if not (math.isfinite(v) and abs(v) <= MAX_NUMBER):
            raise _fail(where, f"number {v!r:.40} is not finite or beyond +-{MAX_NUMBER:g}", path)
        return v
    if isinstance(v, str):
        if len(v) > MAX_STRING:
            raise _fail(where, f"string of {len(v)} characters is longer than {MAX_STRING}", path)
        return v
    if isinstance(v, list) and depth < 2 and len(v) <= MAX_LIST:
        return [plain(x, f"{where}[{i}]", path, depth + 1) for i, x in enumerate(v)]
    if isinstance(v, dict) and depth < 1 and len(v) <= MAX_LIST:
        return {k: plain(x, f"{where}.{k}", path, depth + 1) for k, x in v.items()}
    raise _fail(where, f"unexpected value {v!r:.60} (nested too deeply or too long)", path)


def _object(doc: Any, spec: dict[str, Check], path: Path, where: str = "config", *,
            others: bool = False, required: tuple[str, ...] = ()) -> dict:
    """A JSON object checked key by key against `spec`; other keys are refused, or (`others`)
    checked as `plain` values."""
    if not isinstance(doc, dict):
        raise _fail(where, f"must be a JSON object, got {type(doc).__name__}", path)
    if len(doc) > MAX_KEYS:
        raise _fail(where, f"has {len(doc)} keys; at most {MAX_KEYS}", path)
    out = {}
    for key, value in doc.items():
        at = key if where == "config" else f"{where}.{key}"
        if key in spec:
            out[key] = spec[key](value, at, path)
        elif others:
            out[key] = plain(value, at, path)
        else:
            raise _fail(at, "unknown config key (written by a newer signgen?)", path)
    missing = [k for k in required if k not in doc]
    if missing:
        raise _fail(where, f"lacks key(s) {', '.join(missing)}", path)
    return out


WIDTH = integer(1, MAX_WIDTH)
DROP = number(0.0, 1.0)

_ENCODER = {
    "arch": one_of(ENCODER_ARCHS), "image_size": integer(8, 1024), "embed_dim": integer(0, MAX_WIDTH),
    "token_dim": integer(0, MAX_WIDTH), "pretrained": lambda v, where, path: _no_path(v, where, path),
}
_FUSION = {"embed_dim": integer(0, MAX_WIDTH), "hidden_dim": integer(1, 2 * MAX_WIDTH),
           "dropout": number(0.0, 1.0, open_high=True)}


def _no_path(v: Any, where: str, path: Path) -> None:
    if v is not None:
        raise _fail(where, f"is {v!r:.80}; a bundle is self-contained: its weights are in model.safetensors, "
                    "so no config may name a file (set it to null)", path)
    return None


def check_stage1_config(doc: Any, path: Path) -> dict:
    """stage1/config.json: encoder (an allowed arch, no `pretrained` path), fusion, loss settings."""
    out = _object(doc, {
        "encoder": lambda v, w, p: _object(v, _ENCODER, p, w),
        "fusion": lambda v, w, p: _object(v, _FUSION, p, w, required=("embed_dim", "hidden_dim")),
        "temperature": number(0.0, 100.0, open_low=True), "l1_weight": number(0.0, 1e3),
    }, path, required=("encoder", "fusion"))
    return out


STAGE2_SPEC: dict[str, Check] = {
    "latent_channels": integer(1, 64), "latent_size": listed(integer(1, 512), 2, 2),
    "fusion_dim": WIDTH, "token_dim": WIDTH, "block_out_channels": listed(WIDTH),
    "down_block_types": listed(one_of(DOWN_BLOCKS)), "up_block_types": listed(one_of(UP_BLOCKS)),
    "layers_per_block": integer(1, 16), "attention_head_dim": listed(integer(1, 1024), scalar_ok=True),
    "cross_attention_dim": WIDTH, "norm_num_groups": integer(1, 1024), "use_linear_projection": boolean,
    "upcast_attention": boolean, "src_latent_channels": integer(0, 64), "pose_channels": integer(1, 16),
    "pose_embed_channels": listed(WIDTH), "class_hidden_dim": integer(1, 2 * MAX_WIDTH),
    "class_dropout": DROP, "token_hidden_dim": integer(1, 2 * MAX_WIDTH), "token_dropout": DROP,
    "drop_pose": DROP, "drop_src": DROP, "drop_fusion": DROP,
}


def check_stage2_config(doc: Any, path: Path) -> dict:
    """stage2/config.json: every Stage2Config field typed and bounded; unknown keys refused."""
    return _object(doc, STAGE2_SPEC, path)


_SIZES = listed(integer(1, 4096), 1, 2, scalar_ok=True)
UNET_SPEC: dict[str, Check] = {
    "block_out_channels": listed(WIDTH), "down_block_types": listed(one_of(DOWN_BLOCKS)),
    "up_block_types": listed(one_of(UP_BLOCKS)), "layers_per_block": listed(integer(1, 16), scalar_ok=True),
    "sample_size": _SIZES, "in_channels": integer(1, 1024), "out_channels": integer(1, 1024),
    "cross_attention_dim": listed(WIDTH, scalar_ok=True),
    "attention_head_dim": nullable(listed(integer(1, 1024), scalar_ok=True)),
    "num_attention_heads": nullable(listed(integer(1, 1024), scalar_ok=True)),
    "transformer_layers_per_block": listed(integer(1, 64), scalar_ok=True),
    "norm_num_groups": nullable(integer(1, 1024)),
}
VAE_SPEC: dict[str, Check] = {
    "block_out_channels": listed(WIDTH), "down_block_types": listed(one_of(DOWN_BLOCKS)),
    "up_block_types": listed(one_of(UP_BLOCKS)), "layers_per_block": integer(1, 16),
    "latent_channels": integer(1, 64), "in_channels": integer(1, 16), "out_channels": integer(1, 16),
    "norm_num_groups": integer(1, 1024), "sample_size": _SIZES,
    "scaling_factor": number(0.0, 1e3, open_low=True),
}


def check_diffusers_config(doc: Any, path: Path, class_name: str, spec: dict[str, Check]) -> dict:
    """A diffusers `config.json`: the class we load, the architecture keys typed and bounded,
    any other key a plain bounded value."""
    out = _object(doc, {"_class_name": one_of((class_name,)), **spec}, path, others=True)
    return out


def check_scheduler_config(doc: Any, path: Path) -> dict:
    """scheduler_config.json: an allowed diffusers scheduler, bounded timesteps and betas."""
    betas = listed(number(0.0, 1.0, open_low=True, open_high=True), 1, MAX_TIMESTEPS)
    return _object(doc, {
        "_class_name": one_of(SCHEDULERS), "num_train_timesteps": integer(1, MAX_TIMESTEPS),
        "beta_start": number(0.0, 1.0, open_low=True, open_high=True),
        "beta_end": number(0.0, 1.0, open_low=True, open_high=True), "trained_betas": nullable(betas),
    }, path, others=True)
