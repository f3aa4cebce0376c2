"""Torch datasets over a prepared dataset, and a step-indexed batch sampler.

Every random choice of the data pipeline (which pairs form batch `m`, whether a pair is
flipped, the keypoint jitter) is a pure function of (seed, micro-step, slot), never of an
RNG's running state. That makes resuming exact without saving any sampler state beyond the
step number, and makes each process of a multi-process run take its own disjoint slice of
the same global batch.

An item key is a tuple `(pair_index, flip, jitter_seed)`; `jitter_seed < 0` means no jitter
(held-out metrics and sample grids use unjittered, unflipped pairs).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from ..base.images import read_image
from ..base.seeds import derive_seed
from ..data.prepared import Pair, PreparedDataset
from ..errors import InputError
from ..geometry import Fit
from ..pose.draw import draw_pose
from ..pose.parts import box_mask, part_boxes
from ..pose.track import PoseTrack

__all__ = ["PairDataset", "StepBatches", "train_seed", "frame_key", "to_tensor"]

Key = tuple[int, bool, int]


def train_seed(*words: int) -> int:
    """The 63-bit seed of one training draw (what torch's and numpy's generators take)."""
    return derive_seed(*words) >> 1


def frame_key(clip: str, frame: int, flip: bool) -> str:
    """The cache key of one frame as the model sees it (flipped frames are other inputs)."""
    return f"{clip}:{int(frame)}:{int(bool(flip))}"


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 [H, W, 3] -> float [3, H, W] in [0, 1]."""
    return torch.from_numpy(np.require(image, requirements=["C", "W"])).permute(2, 0, 1).float().div_(255.0)


class PairDataset(Dataset):
    """(source, target) pairs of a prepared split as model-sized tensors.

    An item is a dict: `src`, `tgt` images (when `load_images`), `pose` (the target pose drawn,
    jittered: stage 2's conditioning image), `pose_clean` (the same without jitter: what the
    frozen encoder embeds), `src_pose` (the source's own pose: stage 1's source-enhanced
    positive), and `src_key` / `tgt_key` (cache keys). With a `cache`, the frozen features
    are read from it instead of images being decoded (see `cache.FeatureCache`).
    """

    def __init__(self, prepared: PreparedDataset, split: str, image_size: tuple[int, int], *,
                 resize: str = "stretch", jitter_px: float = 0.0, load_images: bool = True,
                 cache: Any = None, limit: int | None = None, part_weight: float = 0.0) -> None:
        self.prepared = prepared
        self.split = split
        self.pairs: list[Pair] = list(prepared.pairs(split))
        if limit is not None and len(self.pairs) > limit:
            # Evenly spaced through the list: held-out lists are grouped by clip (the test
            # protocol), and the first N pairs would all be near-identical frames of one clip.
            step = len(self.pairs) / limit
            self.pairs = [self.pairs[int(i * step)] for i in range(limit)]
        if not self.pairs:
            raise InputError(f"pair list {split!r} is empty", prepared.root / "pairs" / f"{split}.jsonl")
        for p in self.pairs:
            for clip, frame in (p.source, p.target):
                c = prepared.clips.get(clip)
                if c is None:
                    raise InputError(f"pair refers to unknown clip {clip!r}", prepared.root / "pairs" / f"{split}.jsonl")
                if not 0 <= frame < c.num_frames:
                    raise InputError(f"pair refers to frame {frame} of clip {clip!r}, which has {c.num_frames}",
                                     prepared.root / "pairs" / f"{split}.jsonl")
        self.size = (int(image_size[0]), int(image_size[1]))
        self.resize = resize
        self.jitter_px = float(jitter_px)
        self.load_images = load_images
        self.cache = cache
        self.part_weight = float(part_weight)
        self._memo()

    def _memo(self) -> None:
        """Per-process memoised keypoints and frame lists (rebuilt in DataLoader workers)."""
        self._poses = lru_cache(maxsize=64)(self.prepared.pose)
        self._paths = lru_cache(maxsize=256)(self.prepared.frame_paths)

    def __getstate__(self) -> dict:  # spawn-started workers pickle the dataset
        state = dict(self.__dict__)
        del state["_poses"], state["_paths"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._memo()

    def __len__(self) -> int:
        return len(self.pairs)

    def frames(self) -> list[tuple[str, int]]:
        """Every distinct (clip, frame) the pairs use, in first-use order (what a cache must hold)."""
        seen: dict[tuple[str, int], None] = {}
        for p in self.pairs:
            seen.setdefault(p.source)
            seen.setdefault(p.target)
        return list(seen)

    # -- one frame --------------------------------------------------------------------------
    def _geometry(self, clip: str) -> tuple[np.ndarray, np.ndarray]:
        """Scale/offset from the clip's keypoint frame size to the model size (no image read)."""
        track = self._poses(clip)
        fit = Fit(track.width, track.height, self.size[1], self.size[0], self.resize)
        return fit.scale, fit.offset

    def image(self, clip: str, frame: int, flip: bool) -> np.ndarray:
        """The frame at model size, uint8 [H, W, 3], mirrored when `flip`."""
        paths = self._paths(clip)
        if frame >= len(paths):
            raise InputError(f"clip {clip!r} has {len(paths)} images on disk, pair wants frame {frame}",
                             self.prepared.image_root)
        img = read_image(paths[frame])
        img = Fit(img.shape[1], img.shape[0], self.size[1], self.size[0], self.resize).to_model(img)
        return np.ascontiguousarray(img[:, ::-1]) if flip else img

    def pose_points(self, clip: str, frame: int, flip: bool) -> tuple[np.ndarray, np.ndarray]:
        """Canonical keypoints of a frame in model pixels (flipped with left/right swapped)."""
        track = self._poses(clip)
        scale, offset = self._geometry(clip)
        xy = track.xy[frame] * scale + offset
        H, W = self.size
        one = PoseTrack(xy=xy[None], conf=track.conf[frame][None], fps=track.fps, width=W, height=H)
        if flip:
            one = one.flipped()
        return one.xy[0], one.conf[0]

    def part_boxes(self, clip: str, frame: int, flip: bool) -> dict:
        """Hand and face boxes of a frame in model pixels (see `signgen.pose.parts`)."""
        xy, conf = self.pose_points(clip, frame, flip)
        H, W = self.size
        return part_boxes(xy, conf, W, H)

    def weight_map(self, clip: str, frame: int, flip: bool) -> torch.Tensor:
        """float [1, H, W]: 1 everywhere, 1 + part_weight on the hand and face boxes."""
        H, W = self.size
        mask = box_mask(self.part_boxes(clip, frame, flip).values(), W, H)
        return torch.from_numpy(1.0 + self.part_weight * mask.astype(np.float32))[None]

    def pose_image(self, clip: str, frame: int, flip: bool, jitter_seed: int = -1) -> np.ndarray:
        xy, conf = self.pose_points(clip, frame, flip)
        if jitter_seed >= 0 and self.jitter_px > 0:
            rng = np.random.default_rng(jitter_seed)
            xy = xy + rng.normal(0.0, self.jitter_px, xy.shape).astype(np.float32)
        H, W = self.size
        return draw_pose(xy, conf, W, H)

    # -- one pair -----------------------------------------------------------------------------
    def __getitem__(self, key: Key | int) -> dict[str, Any]:
        i, flip, jseed = (key, False, -1) if isinstance(key, (int, np.integer)) else key
        pair = self.pairs[int(i)]
        (sc, sf), (tc, tf) = pair.source, pair.target
        out: dict[str, Any] = {
            "src_key": frame_key(sc, sf, flip),
            "tgt_key": frame_key(tc, tf, flip),
            "pose": to_tensor(self.pose_image(tc, tf, flip, jseed)),
        }
        if self.cache is not None:
            out.update(self.cache.pair_features(out["src_key"], out["tgt_key"]))
        if self.load_images:
            out["src"] = to_tensor(self.image(sc, sf, flip))
            out["tgt"] = to_tensor(self.image(tc, tf, flip))
            out["pose_clean"] = out["pose"] if jseed < 0 or self.jitter_px <= 0 else \
                to_tensor(self.pose_image(tc, tf, flip))
            out["src_pose"] = to_tensor(self.pose_image(sc, sf, flip))
        if self.part_weight > 0:
            out["src_weight"] = self.weight_map(sc, sf, flip)
            out["tgt_weight"] = self.weight_map(tc, tf, flip)
        return out


class StepBatches(Sampler):
    """Batches of item keys for micro-steps `start .. stop-1`, this process's slice of each.

    Global micro-batch m holds positions m*G .. m*G+G-1 (G = batch_size x world_size) of an
    endless stream of epochs, each a permutation seeded by (seed, epoch). Process r takes the
    slots r*batch_size .. (r+1)*batch_size-1. Flip and jitter seed of a slot come from
    (seed, stream position). Nothing here has running state: resuming at micro-step m gives
    exactly the batches an uninterrupted run would have seen.
    """

    def __init__(self, num_items: int, batch_size: int, *, seed: int, start: int, stop: int,
                 flip_p: float = 0.5, jitter: bool = True, rank: int = 0, world_size: int = 1) -> None:
        self.n, self.b, self.seed = int(num_items), int(batch_size), int(seed)
        self.start, self.stop = int(start), int(stop)
        self.flip_p, self.jitter = float(flip_p), bool(jitter)
        self.rank, self.world = int(rank), int(world_size)
        self._perm = lru_cache(maxsize=4)(self._permutation)

    def _permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng(train_seed(self.seed, 1, epoch)).permutation(self.n)

    def key(self, position: int) -> Key:
        epoch, at = divmod(position, self.n)
        idx = int(self._perm(epoch)[at])
        rng = np.random.default_rng(train_seed(self.seed, 2, position))
        flip = bool(rng.random() < self.flip_p)
        jseed = train_seed(self.seed, 3, position) if self.jitter else -1
        return idx, flip, jseed

    def batch(self, micro_step: int) -> list[Key]:
        g = self.b * self.world
        first = micro_step * g + self.rank * self.b
        return [self.key(p) for p in range(first, first + self.b)]

    def __iter__(self) -> Iterator[list[Key]]:
        for m in range(self.start, self.stop):
            yield self.batch(m)

    def __len__(self) -> int:
        return max(0, self.stop - self.start)
