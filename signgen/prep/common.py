"""What every preparer shares: skip reports, the progress bar, pair sampling, parallel map.

A broken clip never stops a run: it is recorded with its reason in a `SkipReport`, which
the run prints at the end and writes to `PREPARED/skipped.json`.
"""

from __future__ import annotations

import json
import multiprocessing
import re
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

import numpy as np

from ..data.prepared import Clip, Pair, PreparedDataset
from ..base.files import atomic_write_bytes
from ..errors import InputError

T = TypeVar("T")
R = TypeVar("R")

_NUMBER = re.compile(r"(\d+)(?=\.[A-Za-z]+$)")


@dataclass
class SkipReport:
    """Clips that were not prepared, and why (one line each)."""

    skipped: dict[str, str] = field(default_factory=dict)

    def add(self, clip_id: str, reason: str) -> None:
        self.skipped[clip_id] = reason

    def __len__(self) -> int:
        return len(self.skipped)

    def write(self, root: str | Path) -> Path:
        """PREPARED/skipped.json: {clip: reason}, sorted; rewritten each run (empty when all went well)."""
        path = Path(root) / "skipped.json"
        text = json.dumps(dict(sorted(self.skipped.items())), indent=1, ensure_ascii=False) + "\n"
        atomic_write_bytes(path, text.encode("utf-8"))
        return path

    def lines(self, limit: int = 20) -> list[str]:
        items = sorted(self.skipped.items())
        out = [f"{k}: {v}" for k, v in items[:limit]]
        if len(items) > limit:
            out.append(f"... and {len(items) - limit} more (see skipped.json)")
        return out


@dataclass
class PrepSummary:
    """What a preparer did: counts per split, pairs written, what it skipped."""

    root: Path
    prepared: int = 0  # clips written in this run
    reused: int = 0  # clips finished by an earlier run
    clips: dict[str, int] = field(default_factory=dict)  # per split, in the prepared folder
    pairs: dict[str, int] = field(default_factory=dict)
    report: SkipReport = field(default_factory=SkipReport)

    @property
    def total(self) -> int:
        return sum(self.clips.values())


def check_resume(ds: PreparedDataset, name: str, image_root: Path) -> None:
    """A rerun must continue the same preparation: same dataset kind, same release folder."""
    if ds.meta.get("name") != name:
        raise InputError(f"holds a prepared {ds.meta.get('name')!r} dataset, not {name!r}; use another output folder",
                         ds.root)
    if Path(ds.meta["image_root"]) != Path(image_root):
        raise InputError(f"was prepared from another release ({ds.meta['image_root']}); use another output folder",
                         ds.root)


def parallel_map(fn: Callable[[T], R], items: Sequence[T], workers: int) -> Iterator[tuple[T, R]]:
    """(item, fn(item)) in completion order; worker processes when workers > 1.

    `fn` must be a module-level function that returns, not raises, for a bad item (the
    preparers return an error string), so one broken clip cannot end the pool.
    """
    if workers <= 1 or len(items) <= 1:
        for item in items:
            yield item, fn(item)
        return
    # fork: works from any entry point (spawn/forkserver re-import the main module, and
    # `python -m signgen` or an unguarded script would run again in every worker)
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
        futures = {pool.submit(fn, item): item for item in items}
        for fut in as_completed(futures):
            yield futures[fut], fut.result()


def frame_number(path: Path) -> int | None:
    """The number at the end of a frame file's name (images0042.png -> 42), or None."""
    m = _NUMBER.search(path.name)
    return int(m.group(1)) if m else None


def numbering_gap(paths: Sequence[Path]) -> str | None:
    """Why a sorted list of numbered frames is not 1..N (or first..first+N-1), or None if it is."""
    numbers = [frame_number(p) for p in paths]
    if any(n is None for n in numbers):
        bad = next(p for p, n in zip(paths, numbers) if n is None)
        return f"frame file {bad.name} has no frame number"
    numbers = sorted(numbers)  # type: ignore[arg-type]
    expected = range(numbers[0], numbers[0] + len(numbers))
    if list(expected) != numbers:
        have = set(numbers)
        missing = [n for n in range(numbers[0], numbers[-1] + 1) if n not in have]
        return f"missing frame(s) {', '.join(map(str, missing[:5]))}{' ...' if len(missing) > 5 else ''}"
    return None


def training_pairs(clips: Iterable[Clip], count: int, seed: int, stride: int = 1) -> list[Pair]:
    """FPDM's training triples: `count` random (source, target) frame pairs within one clip.

    A clip is drawn with probability proportional to its frame count (so every frame is
    equally likely to be a target), then two different frames of it (the same frame only
    for one-frame clips). Deterministic for a seed and a clip list (clips sorted by id).
    With `stride` > 1 only every stride-th frame (0, stride, 2*stride, ...) is drawn: fewer
    distinct frames, so stage 2's feature cache is stride times smaller and faster to build.
    """
    if stride < 1:
        raise InputError(f"--frame-stride must be >= 1, got {stride}")
    clips = sorted((c for c in clips if c.num_frames > 0), key=lambda c: c.id)
    if not clips or count <= 0:
        return []
    rng = np.random.default_rng(seed)
    lengths = np.array([-(-c.num_frames // stride) for c in clips], dtype=np.int64)
    which = rng.choice(len(clips), size=count, p=lengths / lengths.sum())
    n = lengths[which]
    src = rng.integers(0, n)
    tgt = rng.integers(0, np.maximum(n - 1, 1))
    tgt = np.where((n > 1) & (tgt >= src), tgt + 1, np.where(n > 1, tgt, 0))
    return [Pair((clips[w].id, int(s) * stride), (clips[w].id, int(t) * stride)) for w, s, t in zip(which, src, tgt)]


def every_frame_pairs(clips: Iterable[Clip]) -> list[Pair]:
    """FPDM's test protocol: the first frame is the source, every frame's pose a target."""
    return [Pair((c.id, 0), (c.id, t)) for c in sorted(clips, key=lambda c: c.id) for t in range(c.num_frames)]
