"""Keep what does not move (`Settings.keep_static`): the source picture wherever neither the
source's pose nor the frame's target pose puts an arm or a hand.

Between the source picture and any frame of a signing clip, the background and most of the body
do not change, yet a small model redraws them every frame, mottled and a little off in colour.
With `keep_static`, each frame is generated only inside its changed region (`pose.parts.
region_from_poses` of the source pose and the frame's pose, plus the face box when the face's
points move) and is the source everywhere else, feathered outward across the edge:

- in latent space, at every denoising step (blended latent diffusion, Avrahami et al. 2023):
  outside the region the denoiser's output is replaced by the prediction that leads to the
  source's own latents, so the sampler lands on them there and draws the moving part to fit;
- in pixels, after decoding: the frame is feathered into the source picture (the VAE's
  reconstruction of the source is close but not exact).

It needs the source picture's pose (in the picture's pixels, canonical layout).
"""

from __future__ import annotations

import functools
from typing import Callable

import cv2
import numpy as np
import torch

from ..pose.parts import dilate_mask, part_box, part_points, region_from_poses, region_size

__all__ = ["FACE_MOVE", "static_mask", "StaticBlend"]

FACE_MOVE = 0.015
"""The face is regenerated when its points move more than this fraction of the frame's short
side (mean over the points visible in both poses) between the source and the frame."""

GROW = 1
"""The changed region is the poses' arms and hands dilated by GROW times `region_size`'s radius
(as the scoring region is), then feathered outward. Chosen on dev clips (docs/model-history.md,
session 11): at 2 the region took in the chest between the arms, which the model redrew
mottled; 1 scored better on every image score, hands and legibility included."""

_FACE = part_points("face")


def _face_moved(src_xy: np.ndarray, src_conf: np.ndarray, xy: np.ndarray, conf: np.ndarray, short: int) -> bool:
    both = (src_conf[_FACE] > 0) & (conf[_FACE] > 0)
    if not both.any():
        return False
    shift = np.linalg.norm(xy[_FACE][both] - src_xy[_FACE][both], axis=1).mean()
    return bool(shift > FACE_MOVE * short)


def static_mask(src_xy: np.ndarray, src_conf: np.ndarray, xy: np.ndarray, conf: np.ndarray,
                width: int, height: int) -> np.ndarray:
    """float32 [height, width] in [0, 1]: 1 where the frame is generated, 0 where the source is
    kept, feathered outward over the dilation radius (the region itself is all 1)."""
    _, radius = region_size(width, height)
    region = region_from_poses([(src_xy, src_conf), (xy, conf)], width, height, dilate=GROW * radius)
    if _face_moved(src_xy, src_conf, xy, conf, min(width, height)):
        for pose_xy, pose_conf in ((src_xy, src_conf), (xy, conf)):
            box = part_box(pose_xy, pose_conf, "face", width, height)
            if box is not None:
                x0, y0, x1, y1 = box
                region[y0:y1, x0:x1] = True
        region = dilate_mask(region, radius)
    hard = region.astype(np.float32)
    soft = cv2.GaussianBlur(hard, (0, 0), sigmaX=max(1.0, radius / 2))
    return np.maximum(hard, np.clip(2 * soft, 0, 1))


class StaticBlend:
    """The source kept outside each frame's changed region: wraps the sampler's denoiser
    (`denoiser`) and composites decoded frames (`composite`).

    `xy`, `conf` are the frames' target poses and `src_xy`, `src_conf` the source's, all in the
    picture's pixels (`size`, W x H); `to_model` maps points into the model frame (`model_size`);
    `known` is the source's latents [1, C, h, w]; the noise schedule (`alphas_cumprod`,
    `prediction_type`) says what the denoiser predicts.
    """

    def __init__(self, src_xy: np.ndarray, src_conf: np.ndarray, xy: np.ndarray, conf: np.ndarray,
                 size: tuple[int, int], model_size: tuple[int, int], to_model: Callable[[np.ndarray], np.ndarray],
                 known: torch.Tensor, alphas_cumprod: torch.Tensor, prediction_type: str) -> None:
        if prediction_type not in ("sample", "epsilon", "v_prediction"):
            raise ValueError(f"keep_static: unknown prediction type {prediction_type!r}")
        self.src_xy, self.src_conf, self.xy, self.conf = src_xy, src_conf, xy, conf
        self.size, self.model_size, self.to_model = size, model_size, to_model
        self.model_src_xy = to_model(src_xy)
        self.known = known.float()
        self.alphas_cumprod = alphas_cumprod.float().cpu()
        self.prediction_type = prediction_type
        # every denoising step asks for the same frames' masks: draw each once (a window's worth kept)
        self._latent_mask = functools.lru_cache(maxsize=64)(self._draw_latent_mask)

    def mask(self, t: int) -> np.ndarray:
        """Frame t's mask at the picture's size (see `static_mask`)."""
        return static_mask(self.src_xy, self.src_conf, self.xy[t], self.conf[t], *self.size)

    def latent_masks(self, frame_index: torch.Tensor) -> torch.Tensor:
        """[n, 1, h, w] masks at the latents' size: drawn in the model frame, then area-averaged,
        so the edge stays soft."""
        return torch.from_numpy(np.stack([self._latent_mask(i) for i in frame_index.tolist()]))[:, None]

    def _draw_latent_mask(self, t: int) -> np.ndarray:
        h, w = self.known.shape[-2:]
        mask = static_mask(self.model_src_xy, self.src_conf, self.to_model(self.xy[t]), self.conf[t], *self.model_size)
        return cv2.resize(mask, (w, h), interpolation=cv2.INTER_AREA)

    def _known_prediction(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """What the denoiser would output if the clean latents were the source's."""
        x0 = self.known.to(x_t.device).expand_as(x_t)
        if self.prediction_type == "sample":
            return x0
        ab = self.alphas_cumprod[int(t)].to(x_t.device)
        eps = (x_t - ab.sqrt() * x0) / (1 - ab).sqrt()
        return eps if self.prediction_type == "epsilon" else ab.sqrt() * eps - (1 - ab).sqrt() * x0

    def denoiser(self, inner: Callable) -> Callable:
        """`inner` with its output replaced outside the changed region."""
        def blended(x_t: torch.Tensor, t: torch.Tensor, frame_index: torch.Tensor) -> torch.Tensor:
            out = inner(x_t, t, frame_index)
            m = self.latent_masks(frame_index).to(out.device, out.dtype)
            return out * m + self._known_prediction(x_t.float(), t).to(out.dtype) * (1 - m)
        return blended

    def composite(self, frame: np.ndarray, picture: np.ndarray, t: int) -> np.ndarray:
        """Decoded frame t (at the picture's size, uint8) feathered into the picture itself."""
        m = self.mask(t)[..., None]
        return (frame.astype(np.float32) * m + picture.astype(np.float32) * (1 - m) + 0.5).astype(np.uint8)
