"""A gloss lexicon learned from sentence-level glosses (PHOENIX has no gloss timing).

The training sentences of a prepared dataset are aligned to their keypoint tracks
(`signgen.pose.align`: flat start, then iterative re-segmentation against per-gloss
templates); for each gloss the segment closest to its template becomes its lexicon clip.
Output: a spoken-to-signed lexicon folder (`index.csv` + `.pose` files) that
`signgen.pose.lexicon.Lexicon` and `glosses_to_track` read, and spoken-to-signed's own
`CSVPoseLookup` / `concatenate_poses` too: the clips are MediaPipe Holistic as pose-format
names it (points the source lacks are missing; `layout="canonical"` keeps signgen's own), each
row's `words` is its gloss in lower case (what spoken-to-signed's text lookup matches) and
`end` the clip's length in ms. Plus `alignment.json` with every sentence's gloss segments
(frames, end exclusive).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..data.prepared import PreparedDataset
from ..errors import InputError
from ..pose.align import (AlignConfig, Alignment, Segment, align_corpus, arm_features, estimate_templates,
                                 medoids)
from ..base.files import atomic_write_bytes
from ..pose.io import write_pose
from ..pose.lexicon import LexiconEntry, write_lexicon

from ..base.progress import progress_bar

from .common import SkipReport

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass
class LexiconSummary:
    """What `learn_lexicon` wrote."""

    folder: Path
    glosses: int
    sentences: int
    iterations: int
    costs: list[float] = field(default_factory=list)
    report: SkipReport = field(default_factory=SkipReport)


def _file_name(i: int, gloss: str) -> str:
    safe = _UNSAFE.sub("_", gloss).strip("_")[:40] or "gloss"
    return f"{i:04d}_{safe}.pose"


def clip_end_ms(num_frames: int, fps: float) -> int:
    """`end` of a row covering a whole clip: the smallest whole ms whose frame range, as both
    signgen (`crop_frames`) and spoken-to-signed (`end // frame_ms`) compute it, is every frame.
    (`end` 0 would mean "to the end" to signgen but drop the last frame in spoken-to-signed.)"""
    return math.ceil(num_frames * 1000.0 / fps)


def learn_lexicon(
    prepared: str | Path,
    out: str | Path,
    *,
    iterations: int = 5,
    split: str = "train",
    signed_language: str = "gsg",
    spoken_language: str = "de",
    config: AlignConfig | None = None,
    progress: bool = True,
    workers: int = 1,
    known_segments: dict[str, list[Segment]] | None = None,
    layout: str | None = None,
) -> LexiconSummary:
    """Align the `split` sentences of a prepared dataset and write a lexicon to `out`.

    `iterations=0` keeps the flat start (uniform segmentation of each sentence's active
    span): the baseline a learned lexicon should beat. `known_segments` (clip id -> segments)
    skips the alignment and uses those boundaries (an oracle, for measuring).
    """
    ds = PreparedDataset.open(prepared)
    out = Path(out)
    if (out / "index.csv").exists() and not (out / "alignment.json").exists():
        raise InputError("holds a lexicon that `prep lexicon` did not write; use another folder", out)
    report = SkipReport()
    clips, tracks, feats, glosses = [], [], [], []
    for clip in ds.split(split):
        if not clip.glosses:
            continue
        try:
            track = ds.pose(clip.id)
            x = arm_features(track)
        except InputError as e:
            report.add(clip.id, str(e))
            continue
        if len(x) < len(clip.glosses) * (config or AlignConfig()).min_frames:
            report.add(clip.id, f"{len(x)} frames are too few for {len(clip.glosses)} glosses")
            continue
        clips.append(clip)
        tracks.append(track)
        feats.append(x)
        glosses.append(list(clip.glosses))
    if not clips:
        raise InputError(f"no {split} clips with glosses to learn a lexicon from", prepared)

    if known_segments is not None:
        segs = [known_segments[c.id] for c in clips]
        points = (config or AlignConfig()).template_points
        alignment = Alignment(segs, estimate_templates(feats, segs, points), feats[0][:1].mean(0), 0.0)
    else:
        with progress_bar(progress) as bar:
            task = bar.add_task("aligning glosses", total=len(clips) * iterations)
            alignment = align_corpus(feats, glosses, iterations=iterations, config=config,
                                     on_sentence=lambda: bar.advance(task), workers=workers)

    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (gloss, (sentence, seg, dist)) in enumerate(sorted(medoids(feats, alignment).items())):
        name = _file_name(i, gloss)
        clip_track = tracks[sentence].slice(seg.start, seg.end)
        clip_track.meta = {"source": clips[sentence].id, "frames": [seg.start, seg.end], "distance": dist}
        write_pose(clip_track, out / name, layout)
        rows.append(LexiconEntry(path=name, spoken_language=spoken_language, signed_language=signed_language,
                                 start=0, end=clip_end_ms(clip_track.num_frames, clip_track.fps),
                                 words=gloss.lower(), glosses=gloss, priority=0))
    doc = {  # written before index.csv: its presence marks the folder as ours for a rerun
        "method": "given" if known_segments is not None else "learned" if iterations else "uniform",
        "iterations": iterations,
        "costs": alignment.costs,
        "segments": {c.id: [[s.gloss, s.start, s.end] for s in segs] for c, segs in zip(clips, alignment.segments)},
        "medoids": {r.glosses: r.path for r in rows},
    }
    atomic_write_bytes(out / "alignment.json", (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
    write_lexicon(rows, out)
    keep = {r.path for r in rows}
    for stale in out.glob("[0-9][0-9][0-9][0-9]_*.pose"):  # clips of an earlier run of ours
        if stale.name not in keep:
            stale.unlink()
    report.write(out)
    return LexiconSummary(folder=out, glosses=len(rows), sentences=len(clips), iterations=iterations,
                          costs=alignment.costs, report=report)
