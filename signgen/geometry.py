"""One mapping between the picture's pixels and the model's frame, used for images AND keypoints.

The model renders at a fixed size (the bundle's `image_size`); the source picture can be any
size. `Fit` maps the picture into the model frame ("stretch", as FPDM resizes PHOENIX's
210x260 to 256x256, or "letterbox": aspect kept, black bars), maps keypoints the same way
(`xy * scale + offset`, the convention of the training data loader), and maps rendered frames
back to the picture's size (bars cut off first). Using one object for all three keeps the
drawn pose exactly on the body the model sees.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .errors import InputError

RESIZE_MODES = ("stretch", "letterbox")


def resize_image(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize to width x height: area averaging when shrinking (no aliasing), bilinear otherwise."""
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return np.ascontiguousarray(image)
    shrink = width < w or height < h
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


@dataclass(frozen=True)
class Fit:
    """Picture (`width` x `height`) <-> model frame (`model_width` x `model_height`)."""

    width: int
    height: int
    model_width: int
    model_height: int
    mode: str = "stretch"

    def __post_init__(self) -> None:
        if self.mode not in RESIZE_MODES:
            raise InputError(f"resize mode must be one of {', '.join(RESIZE_MODES)}, got {self.mode!r}")
        if min(self.width, self.height, self.model_width, self.model_height) < 1:
            raise InputError(f"image sizes must be positive, got {self.width}x{self.height}")

    @property
    def inner(self) -> tuple[int, int, int, int]:
        """(x0, y0, w, h) of the picture inside the model frame."""
        W, H = self.model_width, self.model_height
        if self.mode == "stretch":
            return 0, 0, W, H
        s = min(W / self.width, H / self.height)
        w, h = max(1, round(self.width * s)), max(1, round(self.height * s))
        return (W - w) // 2, (H - h) // 2, w, h

    @property
    def scale(self) -> np.ndarray:
        _, _, w, h = self.inner
        return np.array([w / self.width, h / self.height], np.float32)

    @property
    def offset(self) -> np.ndarray:
        x0, y0, _, _ = self.inner
        return np.array([x0, y0], np.float32)

    def to_model(self, image: np.ndarray) -> np.ndarray:
        """A picture-sized RGB uint8 image -> the model frame."""
        x0, y0, w, h = self.inner
        inner = resize_image(image, w, h)
        if (w, h) == (self.model_width, self.model_height):
            return inner
        out = np.zeros((self.model_height, self.model_width, 3), np.uint8)
        out[y0:y0 + h, x0:x0 + w] = inner
        return out

    def points_to_model(self, xy: np.ndarray) -> np.ndarray:
        """Keypoints in picture pixels -> model-frame pixels (same mapping as `to_model`)."""
        return (np.asarray(xy, np.float32) * self.scale + self.offset).astype(np.float32)

    def from_model(self, image: np.ndarray) -> np.ndarray:
        """A model-frame image -> the picture's size (bars removed)."""
        x0, y0, w, h = self.inner
        return resize_image(image[y0:y0 + h, x0:x0 + w], self.width, self.height)
