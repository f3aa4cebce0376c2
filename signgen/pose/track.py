"""`PoseTrack`: the one in-memory keypoint track every part of signgen passes around."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from . import skeleton
from .layouts import canonical


def shift_segments(segments, offset: float, num_frames: int, scale: float = 1.0) -> list[tuple[str, int, int]]:
    """Gloss segments `(gloss, start, stop)` mapped to new frame numbers: `round((f + offset) * scale)`,
    clipped to [0, num_frames); segments left empty are dropped. Slicing and resampling use this."""
    out = []
    for gloss, a, b in segments:
        a2 = min(max(int(round((a + offset) * scale)), 0), num_frames)
        b2 = min(max(int(round((b + offset) * scale)), 0), num_frames)
        if b2 > a2:
            out.append((gloss, a2, b2))
    return out


@dataclass
class PoseTrack:
    """Keypoints over time, in pixels of a `width` x `height` frame.

    xy:   float32 [T, K, 2], pixel coordinates (x right, y down).
    conf: float32 [T, K], confidence in [0, 1]; 0 means the point is missing and its xy is meaningless.
    """

    xy: np.ndarray
    conf: np.ndarray
    fps: float
    width: int
    height: int
    layout: str = "canonical"
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.xy = np.asarray(self.xy, dtype=np.float32)
        self.conf = np.asarray(self.conf, dtype=np.float32)
        self.layout = skeleton.get_layout(self.layout).name
        if self.xy.ndim != 3 or self.xy.shape[-1] != 2:
            raise InputError(f"track xy must be [T, K, 2], got shape {self.xy.shape}")
        if self.conf.shape != self.xy.shape[:2]:
            raise InputError(f"track conf shape {self.conf.shape} does not match xy {self.xy.shape}")
        expected = skeleton.get_layout(self.layout).num_keypoints
        if self.xy.shape[1] != expected:
            raise InputError(
                f"layout {self.layout} has {expected} keypoints, track has {self.xy.shape[1]}"
            )
        if not (self.fps > 0):
            raise InputError(f"fps must be > 0, got {self.fps}")
        if self.width <= 0 or self.height <= 0:
            raise InputError(f"frame size must be positive, got {self.width}x{self.height}")
        self.width, self.height, self.fps = int(self.width), int(self.height), float(self.fps)

    @property
    def num_frames(self) -> int:
        return int(self.xy.shape[0])

    @property
    def num_keypoints(self) -> int:
        return int(self.xy.shape[1])

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.num_frames / self.fps

    def __len__(self) -> int:
        return self.num_frames

    def copy(self, **changes) -> "PoseTrack":
        """A deep copy, with any field replaced."""
        fields = dict(
            xy=self.xy.copy(), conf=self.conf.copy(), fps=self.fps, width=self.width,
            height=self.height, layout=self.layout, meta=dict(self.meta),
        )
        fields.update(changes)
        return PoseTrack(**fields)

    def to_layout(self, layout: str) -> "PoseTrack":
        """The same motion in another layout (through the canonical one)."""
        meta = dict(self.meta)
        if meta.get("z") is not None:  # depth travels with the points
            z, _ = skeleton.convert(np.asarray(meta["z"])[..., None], self.conf, self.layout, layout)
            meta["z"] = z[..., 0]
        xy, conf = skeleton.convert(self.xy, self.conf, self.layout, layout)
        return self.copy(xy=xy, conf=conf, layout=skeleton.get_layout(layout).name, meta=meta)

    def canonical(self) -> "PoseTrack":
        return self if self.layout == "canonical" else self.to_layout("canonical")

    def slice(self, start: int, stop: int | None = None) -> "PoseTrack":
        """Frames [start, stop)."""
        first, last, _ = slice(start, stop).indices(self.num_frames)
        last = max(first, last)
        meta = dict(self.meta)
        if meta.get("z") is not None:
            meta["z"] = np.asarray(meta["z"])[first:last].copy()
        if meta.get("segments"):
            meta["segments"] = shift_segments(meta["segments"], -first, last - first)
        return self.copy(xy=self.xy[first:last].copy(), conf=self.conf[first:last].copy(), meta=meta)

    def frame(self, t: int) -> "PoseTrack":
        """A one-frame track (the single-image path uses these)."""
        return self.slice(t, t + 1)

    def flipped(self) -> "PoseTrack":
        """Mirrored left-right: x -> width - x, and left/right keypoints swapped (canonical only)."""
        if self.layout != "canonical":
            return self.canonical().flipped()
        perm = np.asarray(canonical.FLIP)
        xy = self.xy[:, perm].copy()
        xy[..., 0] = self.width - xy[..., 0]
        return self.copy(xy=xy, conf=self.conf[:, perm].copy())

    def present(self, threshold: float = 0.0) -> np.ndarray:
        """Boolean [T, K]: which points are there."""
        return self.conf > threshold

    @staticmethod
    def concatenate(tracks: list["PoseTrack"]) -> "PoseTrack":
        """Tracks one after another; they must share layout, fps and frame size."""
        if not tracks:
            raise InputError("nothing to concatenate")
        first = tracks[0]
        for t in tracks[1:]:
            if (t.layout, t.fps, t.width, t.height) != (first.layout, first.fps, first.width, first.height):
                raise InputError("tracks differ in layout, fps or frame size")
        return first.copy(
            xy=np.concatenate([t.xy for t in tracks]), conf=np.concatenate([t.conf for t in tracks])
        )
