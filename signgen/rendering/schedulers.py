"""The samplers by name: diffusers schedulers over the bundle's own noise schedule.

A bundle stores the scheduler it was trained with (betas, prediction type); any of these
samplers can run it. The multistep solvers (DPM-Solver++, UniPC) reach the quality of 20 DDPM
steps in a handful of steps; they use "trailing" timestep spacing, so their first step starts
from the last trained timestep even at 4 steps ("leading" would start well below it). "lcm" is
diffusers' LCMScheduler, the sampler of a consistency-distilled student (`signgen train
distill`): it keeps the student's `original_inference_steps` (the distillation's solver grid) and
`timestep_scaling` (its boundary condition) from the bundle's scheduler config.
"""

from __future__ import annotations

from typing import Any

from ..errors import InputError
from .settings import SAMPLERS

_CLASSES = {
    "ddpm": ("DDPMScheduler", {}),
    "ddim": ("DDIMScheduler", {"timestep_spacing": "trailing"}),
    "dpm++": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2,
                                              "timestep_spacing": "trailing"}),
    "unipc": ("UniPCMultistepScheduler", {"solver_order": 2, "timestep_spacing": "trailing"}),
    "lcm": ("LCMScheduler", {}),
}
assert set(_CLASSES) == set(SAMPLERS)

_SCHEDULE_KEYS = ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas",
                  "prediction_type", "rescale_betas_zero_snr", "clip_sample", "clip_sample_range",
                  "thresholding", "dynamic_thresholding_ratio", "sample_max_value")
_LCM_KEYS = ("original_inference_steps", "timestep_scaling")  # what a distilled student was trained for


def make_sampler(name: str, schedule: dict | Any) -> Any:
    """The scheduler `name` (one of SAMPLERS) over the noise schedule of `schedule` (a bundle
    scheduler's config): same betas and prediction type, the sampler's own stepping."""
    import diffusers

    if name not in _CLASSES:
        raise InputError(f"unknown sampler {name!r}; choose from {', '.join(SAMPLERS)}")
    cls_name, own = _CLASSES[name]
    cls = getattr(diffusers, cls_name)
    base = {k: v for k, v in dict(schedule).items() if k in _SCHEDULE_KEYS + (_LCM_KEYS if name == "lcm" else ())}
    if name == "ddpm":  # the bundle's own DDPM, exactly as trained (its variance and spacing too)
        base = {k: v for k, v in dict(schedule).items() if not k.startswith("_")}
    return cls.from_config({**base, **own})
