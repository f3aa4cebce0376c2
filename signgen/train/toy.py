"""A tiny synthetic prepared dataset for tests, benchmarks and trying the CLI on a CPU.

Each clip is a coloured background with a stick figure whose arms swing over time; the frames
are the pose drawings themselves over the clip's colour, so appearance (colour) and pose
(figure) are both learnable from a few dozen frames.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.prepared import Clip, Pair, PreparedDataset
from ..pose.draw import draw_pose
from ..pose.layouts import canonical as C
from ..pose.track import PoseTrack

__all__ = ["make_toy_prepared", "TOY_MODEL"]

# `--set` overrides of the `tiny` size that keep a training step in milliseconds, for tests on
# the toy data: a smaller UNet with the same geometry (32x32x4 latents, the source latents
# concatenated, no attention at the 32x32 level), a smaller encoder input (17 tokens) and VAE
# (factor 2, like tiny's).
TOY_MODEL = [
    "model.overrides.stage2.block_out_channels=[32,32]",
    "model.overrides.stage2.down_block_types=[DownBlock2D,CrossAttnDownBlock2D]",
    "model.overrides.stage2.up_block_types=[CrossAttnUpBlock2D,UpBlock2D]",
    "model.overrides.stage2.attention_head_dim=[2,2]",
    "model.overrides.stage2.pose_embed_channels=[8,16]",
    "model.overrides.stage2.class_hidden_dim=64", "model.overrides.stage2.token_hidden_dim=64",
    "model.overrides.stage1.encoder.image_size=32", "model.overrides.stage1.fusion.hidden_dim=64",
    "model.overrides.vae.block_out_channels=[16,16]", "model.overrides.vae.norm_num_groups=8",
    "model.overrides.vae.mid_block_add_attention=false",
]


def _track(num_frames: int, size: int, phase: float) -> PoseTrack:
    """A canonical track: torso fixed, wrists and elbows on circles, hands around the wrists."""
    K = C.NUM_KEYPOINTS
    xy = np.zeros((num_frames, K, 2), np.float32)
    conf = np.zeros((num_frames, K), np.float32)
    names = {n: i for i, n in enumerate(C.NAMES)}
    s = size / 64.0
    base = {"nose": (32, 14), "neck": (32, 24), "right_shoulder": (22, 26), "left_shoulder": (42, 26),
            "right_hip": (25, 56), "left_hip": (39, 56)}
    for t in range(num_frames):
        a = phase + 2 * np.pi * t / max(num_frames, 1)
        pts = dict(base)
        pts["right_elbow"] = (18 - 4 * np.cos(a), 38 - 6 * np.sin(a))
        pts["left_elbow"] = (46 + 4 * np.cos(a), 38 - 6 * np.sin(a))
        pts["right_wrist"] = (16 - 8 * np.cos(a), 48 - 14 * np.sin(a))
        pts["left_wrist"] = (48 + 8 * np.cos(a), 48 - 14 * np.sin(a))
        for name, (x, y) in pts.items():
            if name in names:
                xy[t, names[name]] = (x * s, y * s)
                conf[t, names[name]] = 1.0
        for start, wrist in ((C.RIGHT_HAND_START, "right_wrist"), (C.LEFT_HAND_START, "left_wrist")):
            wx, wy = pts[wrist]
            ang = np.linspace(0, 2 * np.pi, len(C.HAND), endpoint=False)
            r = np.where(np.arange(len(C.HAND)) == 0, 0.0, 3.0)
            xy[t, start:start + len(C.HAND)] = np.stack([wx + r * np.cos(ang), wy - 2 + r * np.sin(ang)], 1) * s
            conf[t, start:start + len(C.HAND)] = 1.0
    return PoseTrack(xy=xy, conf=conf, fps=25, width=size, height=size)


def make_toy_prepared(root: str | Path, *, clips: int = 4, frames: int = 8, size: int = 64,
                      pairs_per_clip: int = 8, seed: int = 0) -> PreparedDataset:
    """Write images + a prepared dataset under `root` (images in root/raw, dataset in root/prepared).

    The last clip is the "dev" split (held-out pairs); the others are "train".
    """
    from PIL import Image

    root = Path(root)
    rng = np.random.default_rng(seed)
    ds = PreparedDataset.create(root / "prepared", name="toy", fps=25, width=size, height=size,
                                image_root=root / "raw")
    by_split: dict[str, list[Pair]] = {"train": [], "dev": []}
    for c in range(clips):
        cid = f"clip{c:02d}"
        split = "dev" if c == clips - 1 and clips > 1 else "train"
        folder = root / "raw" / cid
        folder.mkdir(parents=True, exist_ok=True)
        track = _track(frames, size, phase=float(rng.uniform(0, 2 * np.pi)))
        colour = rng.integers(40, 200, 3).astype(np.uint8)
        for t in range(frames):
            img = np.empty((size, size, 3), np.uint8)
            img[:] = colour
            fig = draw_pose(track.xy[t], track.conf[t], size, size, thickness=max(2, size // 24))
            img = np.where(fig.any(axis=-1, keepdims=True), fig, img)
            Image.fromarray(img).save(folder / f"images{t + 1:04d}.png")
        ds.add_clip(Clip(id=cid, split=split, num_frames=frames, frames=cid, signer=f"s{c}"), track)
        for _ in range(pairs_per_clip):
            s, t = rng.integers(0, frames, 2)
            by_split[split].append(Pair((cid, int(s)), (cid, int(t))))
    ds.save()
    for split, pairs in by_split.items():
        ds.write_pairs(split, pairs)
    return ds
