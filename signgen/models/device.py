"""Pick the torch device once, at the edge (CLI / training script), never inside a model."""

from __future__ import annotations

import contextlib
import functools

import torch

from ..errors import InputError

__all__ = ["pick_device", "cpu_has_native_bf16", "auto_precision", "autocast_context"]


def pick_device(name: str = "auto") -> torch.device:
    """"auto" -> cuda if available, else mps, else cpu; otherwise the named device, checked.

    A named accelerator that is not available is a user error (InputError), not a silent
    fall-back to the CPU: a run that would take 100x longer should not start quietly.
    """
    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InputError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"device {name!r} requested but CUDA is not available")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise InputError(f"device {name!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist")
    elif device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise InputError(f"device {name!r} requested but MPS is not available")
    elif device.type != "cpu":
        raise InputError(f"unsupported device {name!r}; use auto, cpu, cuda, cuda:N or mps")
    return device


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 matrix products in hardware (AVX512-BF16 or AMX), probed
    once per process. Without it, oneDNN emulates bf16 and autocast only costs time."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()) and _cpu_flags() & {"avx512_bf16", "amx_bf16"} != set()
    except (AttributeError, RuntimeError):
        return False


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def auto_precision(device: torch.device, dtype: torch.dtype) -> str:
    """"bf16" on a CPU with native bf16 and on a CUDA GPU with bf16 (when the weights are fp32;
    fp16 weights already run in fp16), "fp32" otherwise."""
    if dtype != torch.float32:
        return "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_has_native_bf16() else "fp32"
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16"
    return "fp32"


def autocast_context(device: torch.device, precision: str):
    """torch.autocast in `precision` ("bf16" / "fp16") on `device`, or a no-op for "fp32"."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    if dtype is None:
        raise InputError(f"precision must be fp32, bf16 or fp16, got {precision!r}")
    return torch.autocast(device_type=device.type, dtype=dtype)
