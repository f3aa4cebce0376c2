"""The settings of one render, from the command line to the sampler: one dataclass, one default
each, checked once when it is made.

`steps`, `guidance` and `sampler` belong to a trained model: None means the bundle's own
(`BundleMeta`), filled in by `for_model` when the model is known. Everything else has its
default here and nowhere else; the CLI and `signgen.render(...)` pass only what the user gave
(`Settings.given`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from ..errors import InputError

NOISE_MODES = ("shared", "independent", "mixed")
SAMPLERS = ("ddpm", "ddim", "dpm++", "unipc", "lcm")
"""diffusers schedulers by name (`schedulers.make_sampler`); all use the bundle's noise schedule
("lcm": a `signgen train distill` student's consistency sampler, 1-4 steps)."""
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
"""The UNet's precision; "auto" is bf16 on CPUs with native bf16 and on CUDA, else fp32."""


@dataclass(frozen=True)
class Settings:
    """Sampling settings of one render (or one `synthesize` call)."""

    steps: int | None = None  # denoising steps; None: the model's
    guidance: float | None = None  # FPDM's w; None: the model's; 1 = no guidance
    fusion_guidance: float | None = None  # a separate weight of FPDM's fusion term; None: the same as guidance
    sampler: str | None = None  # one of SAMPLERS; None: the model's
    precision: str = "auto"  # one of PRECISIONS
    seed: int = 0
    noise: str = "shared"  # shared | independent | mixed (see sampler.FrameNoise)
    mix: float = 0.5  # shared variance fraction of "mixed" noise
    smoothing: float = 0.5  # temporal smoothing strength at the noisiest step; 0 = off
    window: int = 16  # frames denoised together
    overlap: int = 4  # frames shared by consecutive windows
    batch_size: int = 8  # frames per UNet call (times the number of guidance branches)
    decode_chunk: int = 8  # frames per VAE decode call
    keep_static: bool = False  # generate only where the poses move, keep the source elsewhere (rendering.static)

    def __post_init__(self) -> None:
        if self.steps is not None and not _whole(self.steps, 1):
            raise InputError(f"--steps must be a whole number >= 1, got {self.steps}")
        for name in ("guidance", "fusion_guidance"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and value >= 0 and math.isfinite(value)):
                raise InputError(f"--{name.replace('_', '-')} must be >= 0, got {value}")
        if self.sampler is not None and self.sampler not in SAMPLERS:
            raise InputError(f"--sampler must be one of {', '.join(SAMPLERS)}, got {self.sampler!r}")
        if self.precision not in PRECISIONS:
            raise InputError(f"--precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.noise not in NOISE_MODES:
            raise InputError(f"--noise must be one of {', '.join(NOISE_MODES)}, got {self.noise!r} "
                             "(an unknown noise mode)")
        if not 0.0 <= self.mix <= 1.0:
            raise InputError(f"noise mix must be in [0, 1], got {self.mix}")
        if not 0.0 <= self.smoothing <= 1.0:
            raise InputError(f"--smoothing must be in [0, 1] (0 = off), got {self.smoothing}")
        for name, low in (("seed", 0), ("window", 1), ("overlap", 0), ("batch_size", 1), ("decode_chunk", 1)):
            if not _whole(getattr(self, name), low):
                raise InputError(f"{name.replace('_', ' ')} must be an integer >= {low}, got {getattr(self, name)}")
        if not isinstance(self.keep_static, bool):
            raise InputError(f"keep_static must be true or false, got {self.keep_static!r}")
        if self.overlap >= self.window:
            raise InputError(f"overlap ({self.overlap}) must be smaller than the window ({self.window})")

    @classmethod
    def given(cls, **options: Any) -> "Settings":
        """Settings from keyword options where None means "not given" (the default applies)."""
        return cls(**{k: v for k, v in options.items() if v is not None})

    def for_model(self, meta: Any) -> "Settings":
        """These settings with the model's own steps, guidance and sampler where none were given."""
        return dataclasses.replace(
            self, steps=int(meta.steps) if self.steps is None else self.steps,
            guidance=float(meta.guidance) if self.guidance is None else self.guidance,
            sampler=str(meta.sampler) if self.sampler is None else self.sampler)

    def for_frames(self, num_frames: int) -> "Settings":
        """The window and overlap a clip of `num_frames` frames can use (a short clip is one window)."""
        window = min(self.window, num_frames)
        return dataclasses.replace(self, window=window, overlap=min(self.overlap, window - 1))


def _whole(value: Any, low: int) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and int(value) == value and value >= low
