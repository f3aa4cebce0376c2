"""The prepared dataset: one folder, one `meta.json`, per-clip keypoints, pair lists as JSONL.

```
PREPARED/
  meta.json              format, version, name, fps, frame size, image_root, clips[]
  poses/<clip>.npz       canonical keypoints of every frame: xy [T,128,2], conf [T,128], fps, width, height
  pairs/<split>.jsonl    one {"source": [clip, frame], "target": [clip, frame]} per line;
                         the target's pose is the conditioning pose
```

A clip's frames are images on disk, not copied: `image_root` (absolute, or relative to the
prepared folder) joined with the clip's `frames` entry, which is either a folder of images
(sorted by name) or a list of image paths (DeepFashion: one image per clip). Paths in a
prepared folder never leave `image_root`. Writes are atomic; no torch here.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ..errors import InputError
from ..base.files import atomic_write_bytes, remove_temp_files
from ..pose.track import PoseTrack

FORMAT = "signgen-prepared"
VERSION = 1
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


@dataclass
class Clip:
    """One video (or one still image) with its keypoints."""

    id: str
    split: str
    num_frames: int
    frames: str | list[str]
    signer: str = ""
    glosses: list[str] = field(default_factory=list)
    text: str = ""


@dataclass(frozen=True)
class Pair:
    """A training or test example: the source frame, and the target frame whose pose conditions."""

    source: tuple[str, int]
    target: tuple[str, int]

    def to_json(self) -> str:
        return json.dumps({"source": list(self.source), "target": list(self.target)})

    @staticmethod
    def from_json(line: str) -> "Pair":
        d = json.loads(line)
        return Pair((str(d["source"][0]), int(d["source"][1])), (str(d["target"][0]), int(d["target"][1])))


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, text.encode("utf-8"))


def _safe_clip_id(clip_id: str) -> str:
    if not clip_id or "/" in clip_id or "\\" in clip_id or clip_id in (".", ".."):
        raise InputError(f"invalid clip id {clip_id!r}")
    return clip_id


class PreparedDataset:
    """Read and write a prepared dataset folder."""

    def __init__(self, root: str | Path, meta: dict, save_every: int = 50) -> None:
        self.root = Path(root)
        self.meta = meta
        self.clips: dict[str, Clip] = {c["id"]: Clip(**c) for c in meta.get("clips", [])}
        # add_clip saves meta.json every `save_every` clips: a killed run loses at most that many
        # (their keypoints are on disk, but unrecorded clips are redone), without rewriting a big
        # meta.json after every clip.
        self.save_every = save_every
        self._unsaved = 0

    # -- creating -------------------------------------------------------------------------
    @classmethod
    def create(cls, root: str | Path, *, name: str, fps: float, width: int, height: int,
               image_root: str | Path) -> "PreparedDataset":
        """A new (or resumed) prepared folder; an existing meta.json is loaded so reruns skip work."""
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        for folder in (root, root / "poses", root / "pairs"):
            remove_temp_files(folder)  # what a killed run of this preparation left half-written
        if (root / "meta.json").exists():
            return cls.open(root)
        meta = {
            "format": FORMAT, "version": VERSION, "name": name, "fps": float(fps),
            "width": int(width), "height": int(height), "layout": "canonical",
            "image_root": str(image_root), "clips": [],
        }
        return cls(root, meta)

    def has_clip(self, clip_id: str) -> bool:
        """A clip counts as done when it is in meta.json and its keypoints are on disk."""
        return clip_id in self.clips and self.pose_path(clip_id).exists()

    def add_clip(self, clip: Clip, track: PoseTrack) -> None:
        """Write the clip's keypoints (atomically), then record it; meta.json is saved every
        `save_every` clips, and by `save()` at the end."""
        _safe_clip_id(clip.id)
        track = track.canonical()
        if track.num_frames != clip.num_frames:
            raise InputError(f"clip {clip.id}: {track.num_frames} pose frames for {clip.num_frames} images")
        path = self.pose_path(clip.id)
        path.parent.mkdir(parents=True, exist_ok=True)
        from ..pose.io.arrays import npz_bytes

        atomic_write_bytes(path, npz_bytes(xy=track.xy, conf=track.conf, fps=np.float32(track.fps),
                                           width=np.int32(track.width), height=np.int32(track.height)))
        self.clips[clip.id] = clip
        self._unsaved += 1
        if self._unsaved >= self.save_every:
            self.save()

    def save(self) -> None:
        """Write meta.json atomically (clips sorted by id, so reruns give identical files)."""
        self.meta["clips"] = [asdict(self.clips[k]) for k in sorted(self.clips)]
        _atomic_write_text(self.root / "meta.json", json.dumps(self.meta, indent=1, ensure_ascii=False))
        self._unsaved = 0

    def write_pairs(self, split: str, pairs: Iterable[Pair]) -> int:
        lines = [p.to_json() for p in pairs]
        _atomic_write_text(self.root / "pairs" / f"{split}.jsonl", "\n".join(lines) + ("\n" if lines else ""))
        return len(lines)

    # -- reading --------------------------------------------------------------------------
    @classmethod
    def open(cls, root: str | Path) -> "PreparedDataset":
        root = Path(root)
        path = root / "meta.json"
        if not path.is_file():
            raise InputError("not a prepared dataset (no meta.json)", root)
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise InputError(f"unreadable meta.json ({e})", path) from None
        if meta.get("format") != FORMAT:
            raise InputError(f"meta.json is not a {FORMAT} file", path)
        if int(meta.get("version", 0)) > VERSION:
            raise InputError(f"meta.json has format version {meta.get('version')}; this signgen reads {VERSION}", path)
        return cls(root, meta)

    @property
    def image_root(self) -> Path:
        r = Path(self.meta["image_root"])
        return r if r.is_absolute() else (self.root / r)

    def pose_path(self, clip_id: str) -> Path:
        return self.root / "poses" / f"{_safe_clip_id(clip_id)}.npz"

    def split(self, split: str) -> list[Clip]:
        return [c for k, c in sorted(self.clips.items()) if c.split == split]

    def pose(self, clip_id: str) -> PoseTrack:
        path = self.pose_path(clip_id)
        try:
            with np.load(path, allow_pickle=False) as z:
                return PoseTrack(xy=z["xy"], conf=z["conf"], fps=float(z["fps"]), width=int(z["width"]),
                                 height=int(z["height"]), layout="canonical")
        except (OSError, KeyError, ValueError) as e:
            raise InputError(f"unreadable keypoints ({e})", path) from None

    def frame_paths(self, clip_id: str) -> list[Path]:
        """The image files of a clip, in order, confined to image_root."""
        clip = self.clips[clip_id]
        root = self.image_root.resolve()
        if isinstance(clip.frames, list):
            paths = [root / p for p in clip.frames]
        else:
            folder = root / clip.frames
            paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS) if folder.is_dir() else []
        for p in paths:
            if not p.resolve().is_relative_to(root):
                raise InputError(f"clip {clip_id}: image path leaves the image root", p)
        return paths

    def pairs(self, split: str) -> Iterator[Pair]:
        path = self.root / "pairs" / f"{split}.jsonl"
        if not path.is_file():
            raise InputError(f"no pair list for split {split!r}", path)
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        yield Pair.from_json(line)
                    except (ValueError, KeyError, IndexError, TypeError):
                        raise InputError(f"line {n}: not a pair", path) from None



