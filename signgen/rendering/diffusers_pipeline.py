"""The bundle the diffusers way: `SigngenPipeline.from_pretrained(folder)(image, poses)`.

A `DiffusionPipeline` subclass, so a signgen bundle sits where diffusers users look for a
model: its components registered (`pipe.components`, `pipe.unet`, `pipe.scheduler`), a
`model_index.json` in the folder naming them (`models.bundle.save_bundle` writes it), a `__call__` that returns frames. It adds no
second way to sample: loading is `models.bundle.load_bundle` and every frame comes from the
`Renderer` (`render_video` / `synthesize`), so the CLI, the Python API and this pipeline give
the same frames for the same seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from diffusers import DiffusionPipeline
from diffusers.utils import BaseOutput

from ..errors import InputError
from ..pose.track import PoseTrack
from .pipeline import Renderer, Settings, resolve_model


@dataclass
class SigngenPipelineOutput(BaseOutput):
    """`frames`: RGB uint8 pictures, the source picture's size (one per pose frame, or per sample)."""

    frames: list[np.ndarray]


class SigngenPipeline(DiffusionPipeline):
    """FPDM pose-guided rendering as a diffusers pipeline over a loaded `Renderer`."""

    def __init__(self, unet, vae, scheduler, stage1, stage2, renderer: Renderer | None = None) -> None:
        super().__init__()
        self.register_modules(unet=unet, vae=vae, scheduler=scheduler, stage1=stage1, stage2=stage2)
        self.renderer = renderer

    @classmethod
    def from_renderer(cls, renderer: Renderer) -> "SigngenPipeline":
        b = renderer.bundle
        return cls(unet=b.stage2.unet, vae=b.vae.model, scheduler=b.scheduler, stage1=b.stage1, stage2=b.stage2,
                   renderer=renderer)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path | None = None, *, device: str = "auto",
                        torch_dtype: torch.dtype | None = None, **unused: Any) -> "SigngenPipeline":
        """Load a bundle folder (None: the bundled model) as `Renderer.load` does; local
        folders only (nothing is fetched), safetensors only."""
        if unused:
            raise InputError(f"unsupported from_pretrained option(s) {', '.join(sorted(unused))}")
        folder = resolve_model(pretrained_model_name_or_path)
        return cls.from_renderer(Renderer.load(folder, device, dtype=torch_dtype))

    @property
    def device(self) -> torch.device:
        return self.renderer.device

    def to(self, *args: Any, **kwargs: Any) -> "SigngenPipeline":
        raise InputError("load the pipeline on its device instead: SigngenPipeline.from_pretrained(folder, device=...)")

    def save_pretrained(self, *args: Any, **kwargs: Any) -> None:
        raise InputError("a signgen pipeline is saved as a bundle: signgen.models.bundle.save_bundle "
                         "(or Bundle.save), which also writes model_index.json")

    @torch.no_grad()
    def __call__(
        self,
        image: np.ndarray | Any,
        poses: PoseTrack,
        *,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        seed: int = 0,
        num_images_per_prompt: int = 1,
        noise: str | None = None,
        smoothing: float | None = None,
        callback: Callable[[str, int, int], None] | None = None,
    ) -> SigngenPipelineOutput:
        """Frames of `image`'s signer doing `poses` (a `PoseTrack` in the picture's pixels, as
        `signgen.render` prepares it after retargeting). A one-frame track with
        `num_images_per_prompt` > 1 gives that many pictures (the DeepFashion path).

        1. check the picture and the poses; 2. the settings (None: the bundle's steps and
        guidance); 3. the Renderer samples (one shared noise per clip, smoothed latents) and decodes.
        """
        image = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InputError(f"image must be an RGB uint8 picture [H, W, 3], got {image.dtype} {image.shape}")
        if not isinstance(poses, PoseTrack):
            raise InputError(f"poses must be a PoseTrack, got {type(poses).__name__}")
        if (poses.width, poses.height) != (image.shape[1], image.shape[0]):
            raise InputError(f"poses are in a {poses.width}x{poses.height} frame but the picture is "
                             f"{image.shape[1]}x{image.shape[0]}; fit them first (signgen.pose.retarget)")
        settings = Settings.given(steps=num_inference_steps, guidance=guidance_scale, seed=seed, noise=noise,
                                  smoothing=smoothing)  # None: Settings' one default (or the bundle's)
        if num_images_per_prompt > 1:
            frames = self.renderer.synthesize(image, poses, int(num_images_per_prompt), settings, progress=callback)
        else:
            frames = list(self.renderer.render_video(image, poses, settings, progress=callback))
        return SigngenPipelineOutput(frames=frames)


__all__ = ["SigngenPipeline", "SigngenPipelineOutput"]
