"""FVD (Fréchet Video Distance) with cd-fvd's I3D, from local weights only.

cd-fvd (the `cdfvd` package) gives the network (`InceptionI3d`, the Kinetics-400 I3D that FVD
is defined with), its preprocessing (224x224, [-1, 1]) and the Fréchet distance of TF-GAN; its
own loader downloads weights and unpickles them, so signgen builds the network itself and
loads a local state dict (`.safetensors`, or `.pt` read with `weights_only=True`). Each clip
gives one sample per non-overlapping 16-frame window (FVD's clip length); ground truth is the
real set. Where no weights are given, FVD is skipped with a note and the other metrics are
reported, as for LPIPS and FID.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ..errors import InputError

WINDOW = 16  # frames per FVD sample


def windows(frames: Iterable[np.ndarray], size: int = WINDOW) -> Iterator[np.ndarray]:
    """Non-overlapping [size, H, W, 3] uint8 windows of a clip (a shorter tail is dropped)."""
    buf: list[np.ndarray] = []
    for frame in frames:
        buf.append(frame)
        if len(buf) == size:
            yield np.stack(buf)
            buf = []


class FVD:
    """Accumulates I3D logits of predicted and real windows; `compute()` is the distance."""

    def __init__(self, network, device: str = "cpu") -> None:
        self.network, self.device = network, device
        self.real: list[np.ndarray] = []
        self.fake: list[np.ndarray] = []

    def _features(self, window: np.ndarray) -> np.ndarray:
        import torch
        from cdfvd.third_party.i3d.utils import preprocess_i3d

        with torch.no_grad():
            x = preprocess_i3d(window[None]).to(self.device)
            return self.network(x).cpu().numpy()[0].astype(np.float64)

    def update(self, pred: Iterable[np.ndarray], gt: Iterable[np.ndarray]) -> None:
        """Add one clip: its predicted and ground-truth frames, window by window."""
        for p, g in zip(windows(pred), windows(gt)):
            self.fake.append(self._features(p))
            self.real.append(self._features(g))

    @property
    def samples(self) -> int:
        return len(self.real)

    def compute(self) -> float:
        import torch
        from cdfvd.third_party.i3d.utils import frechet_distance

        if self.samples < 2:
            raise InputError(f"FVD needs at least 2 windows of {WINDOW} frames, got {self.samples}")
        fake = torch.from_numpy(np.stack(self.fake))
        real = torch.from_numpy(np.stack(self.real))
        return float(frechet_distance(fake, real))


def load_fvd(weights: str | Path | None, device: str = "cpu"):
    """(an `FVD` accumulator, None) or (None, a note saying why FVD is skipped)."""
    if weights is None:
        return None, "FVD skipped: pass --fvd-weights FILE (I3D weights cannot be downloaded here)"
    try:
        from cdfvd.third_party.i3d.pytorch_i3d import InceptionI3d
    except ImportError:
        return None, "FVD skipped: cd-fvd is not installed (pip install cd-fvd==0.1.1)"
    from .metrics import load_state

    state = load_state(Path(weights))
    network = InceptionI3d(400, in_channels=3)
    try:
        network.load_state_dict(state)
    except RuntimeError as e:
        raise InputError(f"weights do not fit the I3D network ({str(e).splitlines()[0]})", weights) from None
    return FVD(network.eval().to(device), device), None
