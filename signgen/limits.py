"""The input-limits policy: how big an untrusted input may be before a reader allocates for it.

Every reader checks these before it builds anything from a file (JSON documents, arrays,
OpenPose folders, images, lexicon indexes, bundle configs), so a small hostile file cannot make
signgen allocate gigabytes, recurse until the stack ends, or read forever. A limit that is hit
is an `InputError` naming the limit and the environment variable that raises it, e.g.::

    seq.json: 2000000 frames exceed the limit of 100000 (SIGNGEN_MAX_FRAMES; set SIGNGEN_MAX_FRAMES=... to raise it)

Values are read from the environment at every check (not at import), so a long-running process
and the tests can change them. Torch-free: `signgen.pose` uses it.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

__all__ = ["LIMITS", "Limit", "check_limit", "limit", "limit_error"]


@dataclass(frozen=True)
class Limit:
    """One named limit: its default, what it counts, and the variable that overrides it."""

    name: str
    default: int
    unit: str
    what: str

    @property
    def env(self) -> str:
        return f"SIGNGEN_{self.name.upper()}"


LIMITS: dict[str, Limit] = {
    lim.name: lim
    for lim in (
        Limit("max_frames", 100_000, "frames", "frames of a keypoint track (66 minutes at 25 fps)"),
        Limit("max_keypoints", 1_024, "points", "keypoints per frame (MediaPipe Holistic has 553)"),
        Limit("max_file_bytes", 512 * 2**20, "bytes", "size of a JSON, .pose, CSV or config file"),
        Limit("max_array_bytes", 2 * 2**30, "bytes", "memory of one decoded .npy/.npz array"),
        Limit("max_image_pixels", 64 * 2**20, "pixels", "pixels of one image (width x height; decompression bombs)"),
        Limit("max_json_depth", 64, "levels", "nesting depth of a JSON document"),
        Limit("max_frame_gap", 10_000, "frames", "missing frame numbers in a row in an OpenPose folder"),
        Limit("max_csv_field", 64 * 2**10, "characters", "one field of a lexicon index.csv"),
        Limit("max_model_params", 2_000_000_000, "parameters", "parameters of one model component of a bundle"),
    )
}


def limit(name: str) -> int:
    """The limit's value: SIGNGEN_<NAME> from the environment if set (a positive integer), else the default."""
    lim = LIMITS[name]
    raw = os.environ.get(lim.env)
    if raw is None or not raw.strip():
        return lim.default
    try:
        value = int(float(raw.replace("_", "")))
    except (ValueError, OverflowError):
        raise InputError(f"environment variable {lim.env}={raw!r} is not a number") from None
    if value < 1:
        raise InputError(f"environment variable {lim.env}={raw!r} must be a positive integer")
    return value


def limit_error(name: str, value: float | None, path: str | Path | None, what: str | None = None) -> InputError:
    """The one-line error for `value` (None: not known, only that it is over) over limit `name`,
    naming the variable that raises it."""
    lim = LIMITS[name]
    subject = what or lim.what.split(" (")[0]
    if value is None:
        amount = f"exceeds the limit of {limit(name)} {lim.unit}"
    else:
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        amount = f"{shown} {lim.unit} exceed the limit of {limit(name)}"
    return InputError(f"{subject}: {amount} ({lim.env}; set {lim.env}=... to raise it)", path)


def check_limit(name: str, value: float, path: str | Path | None = None, what: str | None = None) -> None:
    """InputError unless `value` is finite and at most the limit `name`."""
    if not (isinstance(value, (int, float)) and math.isfinite(value)) or value > limit(name):
        raise limit_error(name, value, path, what)
