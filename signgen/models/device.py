"""Pick the torch device once, at the edge (CLI / training script), never inside a model."""

from __future__ import annotations

import torch

from ..errors import InputError

__all__ = ["pick_device"]


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
