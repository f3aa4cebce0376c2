"""Disk cache of what stage 2's frozen networks compute, so a training step runs only the UNet.

For each frame the pairs use, and each flip state, the cache stores the VAE latent of the frame,
the encoder's global embedding and patch tokens of the frame, and the encoder's embedding of the
frame's (unjittered) pose drawing. A pair's stage-2 inputs are then: the target's latent, the
source's tokens (and latent, for a stage 2 that takes it), and fusion(source embedding, target
pose embedding) -- the small frozen fusion MLP still runs per step, on cached vectors. Keypoint
jitter only touches the pose image the trainable pose stack sees, so caching changes nothing the
model learns from.

Layout: `index.json` (fingerprint of the frozen weights + settings, shard list, key -> (shard,
row)) and `shard-XXXXX.safetensors` files of up to `shard_size` rows each. Keys are
"clip:frame:flip". Every file is written atomically; a cache whose fingerprint differs from the
current frozen networks is rebuilt, a matching one reused.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..errors import InputError
from ..base.files import atomic_write_bytes
from ..base.progress import Progress
from .data import PairDataset, frame_key, to_tensor

__all__ = ["FeatureCache", "fingerprint", "frame_features", "frozen_fingerprint"]

FIELDS = ("latent", "emb", "tokens", "pose_emb")


def fingerprint(*modules: torch.nn.Module, extra: Any = None) -> str:
    """A hash of the modules' weights and `extra` (JSON-able settings): cache validity."""
    h = hashlib.sha256()
    for m in modules:
        for name, t in sorted(m.state_dict().items()):
            h.update(name.encode())
            h.update(t.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    h.update(json.dumps(extra, sort_keys=True, default=str).encode())
    return h.hexdigest()[:32]


def frozen_fingerprint(encoder: torch.nn.Module, vae: torch.nn.Module, extra: Any) -> str:
    """The cache's validity: the image encoder, the VAE's encoder side and latent scale, and
    `extra`. The decoder is left out on purpose: fine-tuning it (`train.vae_decoder_only`) leaves
    every cached latent as it was, so the cache stays valid."""
    side = [m for m in (vae.model.encoder, vae.model.quant_conv) if m is not None]
    return fingerprint(encoder, *side, extra={"extra": extra, "latent_scale": vae.scaling_factor})


@torch.no_grad()
def frame_features(stage1: torch.nn.Module, vae: torch.nn.Module, images: torch.Tensor,
                   poses: torch.Tensor) -> dict[str, torch.Tensor]:
    """The frozen features of frames [B, 3, H, W] and their pose drawings (both in [0, 1])."""
    emb, tokens = stage1.encoder.embed_and_tokens(images)
    return {"latent": vae.encode(images), "emb": emb, "tokens": tokens, "pose_emb": stage1.encoder.embed(poses)}


class FeatureCache:
    """Read side of the cache; `build` writes one. Safe to use from DataLoader workers."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        path = self.folder / "index.json"
        try:
            index = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise InputError(f"unreadable feature cache index ({e})", path) from None
        self.fingerprint: str = index["fingerprint"]
        self.shards: list[str] = index["shards"]
        self.keys: dict[str, tuple[int, int]] = {k: (int(s), int(r)) for k, (s, r) in index["keys"].items()}
        self._open: dict[int, Any] = {}

    def __getstate__(self) -> dict:  # worker processes reopen the shards themselves
        state = dict(self.__dict__)
        state["_open"] = {}
        return state

    def __len__(self) -> int:
        return len(self.keys)

    def get(self, key: str) -> dict[str, torch.Tensor]:
        """The cached features of one frame key ("clip:frame:flip")."""
        try:
            shard, row = self.keys[key]
        except KeyError:
            raise InputError(f"frame {key} is not in the feature cache; delete it to rebuild", self.folder) from None
        f = self._open.get(shard)
        if f is None:
            f = self._open[shard] = safe_open(str(self.folder / self.shards[shard]), "pt")
        return {name: f.get_slice(name)[row:row + 1][0] for name in FIELDS}

    def pair_features(self, src_key: str, tgt_key: str) -> dict[str, torch.Tensor]:
        """What stage 2 needs of a pair: target latent, source latent, embedding and tokens, target pose embedding."""
        src, tgt = self.get(src_key), self.get(tgt_key)
        return {"latent": tgt["latent"], "src_latent": src["latent"], "src_emb": src["emb"],
                "src_tokens": src["tokens"], "pose_emb": tgt["pose_emb"]}

    @classmethod
    def open_if_valid(cls, folder: Path, fp: str, keys: Iterable[str]) -> "FeatureCache | None":
        if not (folder / "index.json").is_file():
            return None
        try:
            cache = cls(folder)
        except (InputError, KeyError, TypeError, ValueError):
            return None
        if cache.fingerprint != fp or any(k not in cache.keys for k in keys):
            return None
        return cache

    @classmethod
    @torch.no_grad()
    def build(cls, folder: str | Path, dataset: PairDataset, stage1: torch.nn.Module, vae: torch.nn.Module, *,
              flips: bool, device: torch.device, fp: str, batch_size: int = 32, shard_size: int = 1024,
              progress: Progress | None = None) -> "FeatureCache":
        """Compute and store the features of every frame `dataset`'s pairs use (both flips when
        `flips`); reuses a cache with the same fingerprint. Returns the reader."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        todo = [(c, f, fl) for c, f in dataset.frames() for fl in ((False, True) if flips else (False,))]
        keys = [frame_key(*t) for t in todo]
        found = cls.open_if_valid(folder, fp, keys)
        if found is not None:
            return found
        (folder / "index.json").unlink(missing_ok=True)
        for old in folder.glob("shard-*.safetensors"):
            old.unlink()
        stage1.eval()
        vae.eval()
        index: dict[str, list[int]] = {}
        shards: list[str] = []
        rows: dict[str, list[torch.Tensor]] = {k: [] for k in FIELDS}
        row_keys: list[str] = []

        def flush() -> None:
            if not row_keys:
                return
            name = f"shard-{len(shards):05d}.safetensors"
            tensors = {k: torch.cat(v).float().cpu().contiguous() for k, v in rows.items()}
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
            os.close(fd)
            save_file(tensors, tmp, metadata={"keys": json.dumps(row_keys)})
            os.replace(tmp, folder / name)
            for r, k in enumerate(row_keys):
                index[k] = [len(shards), r]
            shards.append(name)
            for v in rows.values():
                v.clear()
            row_keys.clear()

        for start in range(0, len(todo), batch_size):
            chunk = todo[start:start + batch_size]
            images = torch.stack([to_tensor(dataset.image(c, f, fl)) for c, f, fl in chunk]).to(device)
            poses = torch.stack([to_tensor(dataset.pose_image(c, f, fl)) for c, f, fl in chunk]).to(device)
            feats = frame_features(stage1, vae, images, poses)
            for k in FIELDS:
                rows[k].append(feats[k])
            row_keys.extend(frame_key(*t) for t in chunk)
            if len(row_keys) >= shard_size:
                flush()
            if progress is not None:
                progress("frames", min(start + batch_size, len(todo)), len(todo))
        flush()
        atomic_write_bytes(folder / "index.json",
                           json.dumps({"fingerprint": fp, "shards": shards, "keys": index}).encode("utf-8"))
        return cls(folder)
