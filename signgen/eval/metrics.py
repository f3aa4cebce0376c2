"""Image metrics, each on the whole frame and on the region that changes (DESIGN.md, "Measuring
honestly on signers").

A signer's body barely moves, so copying the source frame already scores well on whole-frame
SSIM/PSNR. Every metric here therefore also takes a `mask`: the union of the source and target
poses' arm and hand areas, dilated (`pose.parts.region_from_poses`), or, without poses, the pixels where the
ground truth itself changes from its first frame (`region_from_pixels`).

Frames are RGB [H, W, 3], uint8 or float in [0, 1]; all metrics use data_range 1 (as FPDM,
scikit-image). PSNR of identical images is infinite; it is capped at `PSNR_CAP` dB so means and
JSON stay finite. LPIPS and FID need weights that cannot be downloaded here: they are built only
from a local file (`load_lpips`, `load_fid`), and only when their package is importable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from ..errors import InputError
from ..pose.parts import dilate_mask, region_size
from . import temporal

PSNR_CAP = 100.0
"""dB reported for identical images (MSE 0), so averages over frames and JSON stay finite."""

PIXEL_THRESHOLD = 0.08
"""Grey-level change (in [0, 1]) above which a pixel counts as changed, for `region_from_pixels`."""


def as_float(frame: np.ndarray) -> np.ndarray:
    """An RGB frame as float32 [H, W, 3] in [0, 1] (uint8 is scaled, floats are kept)."""
    a = np.asarray(frame)
    if a.ndim != 3 or a.shape[2] != 3:
        raise InputError(f"expected an RGB frame [H, W, 3], got shape {a.shape}")
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    if np.issubdtype(a.dtype, np.floating):
        return a.astype(np.float32)
    raise InputError(f"frame has dtype {a.dtype}; expected uint8 or float in [0, 1]")


def _check_pair(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None) -> None:
    if pred.shape != gt.shape:
        raise InputError(f"predicted frame is {pred.shape[1]}x{pred.shape[0]}, ground truth {gt.shape[1]}x{gt.shape[0]}")
    if mask is not None and mask.shape != gt.shape[:2]:
        raise InputError(f"region mask has shape {mask.shape}, frames {gt.shape[:2]}")


def ssim(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> float:
    """SSIM (scikit-image, data_range 1, per channel, Gaussian-free 7x7 windows as its default);
    with `mask`, the mean of the SSIM map over the masked pixels (nan for an empty mask)."""
    p, g = as_float(pred), as_float(gt)
    _check_pair(p, g, mask)
    if mask is None:
        return float(structural_similarity(g, p, data_range=1.0, channel_axis=-1))
    if not mask.any():
        return float("nan")
    _, full = structural_similarity(g, p, data_range=1.0, channel_axis=-1, full=True)
    return float(full.mean(axis=-1)[mask].mean())


def psnr(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR in dB (data_range 1), capped at `PSNR_CAP`; with `mask`, from the MSE over the masked
    pixels only (nan for an empty mask)."""
    if mask is not None:
        return psnr_from_mse(mse(pred, gt, mask))
    p, g = as_float(pred), as_float(gt)
    _check_pair(p, g, mask)
    if np.array_equal(p, g):
        return PSNR_CAP
    return float(min(PSNR_CAP, peak_signal_noise_ratio(g, p, data_range=1.0)))


def mse(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean squared error (data_range 1), over `mask`'s pixels when given (nan for an empty mask)."""
    p, g = as_float(pred), as_float(gt)
    _check_pair(p, g, mask)
    if mask is not None and not mask.any():
        return float("nan")
    err = (p - g) ** 2
    return float(err.mean() if mask is None else err[mask].mean())


def psnr_from_mse(value: float) -> float:
    """PSNR in dB of a (pooled) MSE, capped at `PSNR_CAP`; nan stays nan.

    Pooling MSE over frames before taking the log is what makes a clip's PSNR meaningful when
    some frames are exact copies: a per-frame mean would add `PSNR_CAP` dB for each copied frame,
    so a copy-the-source baseline's score would depend on the cap, not on the images.
    """
    if value != value:
        return float("nan")
    return PSNR_CAP if value <= 0 else float(min(PSNR_CAP, 10.0 * np.log10(1.0 / value)))


# ---- the parts that carry the sign -------------------------------------------------------------

def crop_scores(pred: np.ndarray, gt: np.ndarray, box: tuple[int, int, int, int]) -> tuple[float, float]:
    """(SSIM, MSE) of one box's crop of both frames; SSIM is nan when the crop is smaller than
    scikit-image's 7x7 window."""
    x0, y0, x1, y1 = box
    p, g = as_float(pred)[y0:y1, x0:x1], as_float(gt)[y0:y1, x0:x1]
    _check_pair(p, g, None)
    s = float(structural_similarity(g, p, data_range=1.0, channel_axis=-1)) if min(p.shape[:2]) >= 7 else float("nan")
    return s, float(((p - g) ** 2).mean())


# ---- the changed region (the pose-drawn one lives in pose.parts) ----------------------------

def region_from_pixels(
    first: np.ndarray, frame: np.ndarray, *, threshold: float = PIXEL_THRESHOLD, dilate: int | None = None
) -> np.ndarray:
    """bool [H, W]: where the ground truth differs from its first frame (grey level > threshold,
    specks removed by a 3x3 opening), dilated. The fallback when no poses are known."""
    a, b = as_float(first), as_float(frame)
    _check_pair(a, b, None)
    diff = np.abs(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY) - cv2.cvtColor(b, cv2.COLOR_RGB2GRAY))
    changed = (diff > threshold).astype(np.uint8)
    changed = cv2.morphologyEx(changed, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    radius = region_size(a.shape[1], a.shape[0])[1] if dilate is None else int(dilate)
    return dilate_mask(changed, radius) if radius > 0 else changed.astype(bool)


# ---- temporal scores on the changed region ---------------------------------------------------

def masked_flicker(pred_frames: Iterable[np.ndarray], gt_frames: Iterable[np.ndarray] | None,
                   mask: np.ndarray) -> float:
    """`temporal.flicker` restricted to the pixels of `mask` (one mask for the whole clip, so the
    mask itself never flickers). With an all-true mask it equals `temporal.flicker`."""
    if not mask.any():
        return float("nan")

    def mean_step(frames: Iterable[np.ndarray], name: str) -> float:
        prev, total, n = None, 0.0, 0
        for f in frames:
            f = as_float(f)
            if f.shape[:2] != mask.shape:
                raise InputError(f"{name} frame has shape {f.shape[:2]}, region mask {mask.shape}")
            if prev is not None:
                total += float(np.abs(f - prev)[mask].mean())
                n += 1
            prev = f
        if n == 0:
            raise InputError(f"{name} needs at least 2 frames")
        return total / n

    value = mean_step(pred_frames, "predicted video")
    if gt_frames is not None:
        value -= mean_step(gt_frames, "ground-truth video")
    return value


def masked_warping_error(pred_frames: Iterable[np.ndarray], gt_frames: Iterable[np.ndarray],
                         mask: np.ndarray, method: str = "dis") -> float:
    """`temporal.warping_error` over the non-occluded pixels that are also inside `mask`: the
    flow is still computed on the whole ground-truth frames (a crop would cut motion short)."""
    prev_p = prev_g = None
    errors: list[float] = []
    n = 0
    for n, (p, g) in enumerate(zip(pred_frames, gt_frames), start=1):
        p, g = as_float(p), as_float(g)
        _check_pair(p, g, mask)
        if prev_p is not None:
            back = temporal.optical_flow(g, prev_g, method)
            fwd = temporal.optical_flow(prev_g, g, method)
            valid = temporal.consistent_mask(back, fwd) & mask
            if valid.any():
                errors.append(float(((p - temporal.warp(prev_p, back)) ** 2)[valid].mean()))
        prev_p, prev_g = p, g
    if n < 2:
        raise InputError("warping error needs at least 2 frames")
    return float(np.mean(errors)) if errors else float("nan")


# ---- LPIPS and FID from local weights only ---------------------------------------------------

def load_state(path: Path) -> dict:
    """A plain tensor state dict from .safetensors, or .pt/.pth read with weights_only=True."""
    import torch

    if not path.is_file():
        raise InputError("no such weights file", path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt file, pickled objects refused by weights_only
        raise InputError(f"unreadable weights file ({type(e).__name__}: {e})", path) from None


def load_lpips(weights: str | Path | None):
    """(an LPIPS-AlexNet callable, None) or (None, a note saying why not).

    The weights file is the full state dict of an `lpips.LPIPS(net="alex")` (backbone and linear
    layers, as `model.state_dict()` saves it); the network is built without fetching anything.
    """
    if weights is None:
        return None, "LPIPS skipped: pass --lpips-weights FILE (no weights can be downloaded here)"
    try:
        import lpips  # noqa: F401
    except ImportError:
        return None, "LPIPS skipped: the lpips package is not installed (pip install lpips==0.1.4)"
    import torch

    state = load_state(Path(weights))
    model = lpips.LPIPS(net="alex", pretrained=False, pnet_rand=True, verbose=False)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise InputError(f"weights do not fit LPIPS-AlexNet ({str(e).splitlines()[0]})", weights) from None
    model.eval()

    def score(pred: np.ndarray, gt: np.ndarray) -> float:
        to_t = lambda a: torch.from_numpy(as_float(a)).permute(2, 0, 1)[None] * 2 - 1  # noqa: E731
        with torch.no_grad():
            return float(model(to_t(pred), to_t(gt)).item())

    return score, None


def load_fid(weights: str | Path | None):
    """(a torchmetrics FrechetInceptionDistance, None) or (None, a note saying why not).

    `weights` is the FID Inception (pt_inception-2015-12-05) file that torchmetrics'
    `feature_extractor_weights_path` takes; the test ground truth is the real set (FPDM).
    """
    if weights is None:
        return None, "FID skipped: pass --fid-weights FILE (Inception weights cannot be downloaded here)"
    try:
        from torchmetrics.image.fid import FrechetInceptionDistance
    except ImportError:
        return None, "FID skipped: torchmetrics (with torch-fidelity) is not installed"
    path = Path(weights)
    if not path.is_file():
        raise InputError("no such weights file", path)
    return FrechetInceptionDistance(feature=2048, normalize=True, feature_extractor_weights_path=str(path)), None


def mean(values: Sequence[float]) -> float:
    """Mean ignoring nan (an empty region in a frame); nan when nothing is left."""
    arr = np.asarray([v for v in values if v == v], dtype=np.float64)
    return float(arr.mean()) if arr.size else float("nan")
