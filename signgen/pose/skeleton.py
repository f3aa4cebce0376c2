"""Layout registry and conversion between layouts, through the canonical signer layout.

Every foreign layout is a table (`signgen/pose/layouts/<name>.py`): for each canonical
keypoint, the foreign keypoints whose mean gives it. The way back is the same table read
in reverse wherever a canonical point comes from exactly one foreign point; foreign points
with no such counterpart come back missing (conf 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import numpy as np

from .layouts import canonical, coco_wholebody, holistic, openpose, openpose18


@dataclass(frozen=True)
class Layout:
    """A named keypoint layout and how it maps to the canonical one."""

    name: str
    names: tuple[str, ...]
    to_canonical: tuple[tuple[int, ...], ...]

    @property
    def num_keypoints(self) -> int:
        return len(self.names)

    def from_canonical(self) -> np.ndarray:
        """For each point of this layout, the canonical index it comes back from (-1: none)."""
        back = np.full(self.num_keypoints, -1, dtype=np.int64)
        for k, sources in enumerate(self.to_canonical):
            if len(sources) == 1:
                back[sources[0]] = k
        return back


def _from_module(module: ModuleType) -> Layout:
    layout = Layout(module.NAME, tuple(module.NAMES), tuple(tuple(s) for s in module.TO_CANONICAL))
    if len(layout.to_canonical) != canonical.NUM_KEYPOINTS:
        raise AssertionError(f"layout table {module.NAME} has {len(layout.to_canonical)} rows")
    return layout


CANONICAL = Layout(
    "canonical", canonical.NAMES, tuple((i,) for i in range(canonical.NUM_KEYPOINTS))
)
LAYOUTS: dict[str, Layout] = {
    CANONICAL.name: CANONICAL,
    **{m.NAME: _from_module(m) for m in (holistic, coco_wholebody, openpose18, openpose)},
}
ALIASES = {"mediapipe": "holistic", "coco133": "coco_wholebody", "coco-wholebody": "coco_wholebody"}


def get_layout(name: str) -> Layout:
    """Look a layout up by name (case-insensitive, a few aliases); a clear error otherwise."""
    key = ALIASES.get(name.lower(), name.lower())
    if key not in LAYOUTS:
        raise KeyError(f"unknown layout {name!r}; known: {', '.join(sorted(LAYOUTS))}")
    return LAYOUTS[key]


def to_canonical(xy: np.ndarray, conf: np.ndarray, layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    """Map [..., K, D] / [..., K] arrays of `layout` to the canonical layout.

    A canonical point built from several foreign points is their mean, and is missing
    if any of them is missing (its confidence is their minimum).
    """
    shape = xy.shape[:-2]
    out_xy = np.zeros(shape + (canonical.NUM_KEYPOINTS, xy.shape[-1]), dtype=np.float32)
    out_conf = np.zeros(shape + (canonical.NUM_KEYPOINTS,), dtype=np.float32)
    for k, sources in enumerate(layout.to_canonical):
        if not sources:
            continue
        idx = list(sources)
        c = conf[..., idx].min(axis=-1)
        out_conf[..., k] = c
        out_xy[..., k, :] = np.where(c[..., None] > 0, xy[..., idx, :].mean(axis=-2), 0.0)
    return out_xy, out_conf


def from_canonical(xy: np.ndarray, conf: np.ndarray, layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    """Map canonical [..., 128, 2] / [..., 128] arrays to `layout`; unmapped points are missing."""
    back = layout.from_canonical()
    have = back >= 0
    shape = xy.shape[:-2]
    out_xy = np.zeros(shape + (layout.num_keypoints, xy.shape[-1]), dtype=np.float32)
    out_conf = np.zeros(shape + (layout.num_keypoints,), dtype=np.float32)
    out_xy[..., have, :] = xy[..., back[have], :]
    out_conf[..., have] = conf[..., back[have]]
    return out_xy, out_conf


def convert(xy: np.ndarray, conf: np.ndarray, source: str, target: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert keypoint arrays from one layout to another, through the canonical layout."""
    src, dst = get_layout(source), get_layout(target)
    if src.name == dst.name:
        return xy.astype(np.float32, copy=True), conf.astype(np.float32, copy=True)
    cxy, cconf = (xy, conf) if src is CANONICAL else to_canonical(xy, conf, src)
    if dst is CANONICAL:
        return cxy.astype(np.float32, copy=False), cconf.astype(np.float32, copy=False)
    return from_canonical(cxy, cconf, dst)
