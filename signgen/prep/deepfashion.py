"""DeepFashion In-shop (the PGPIS protocol of PATN / PIDM / CFLD) -> the prepared format.

Reads `fasion-resize-pairs-{train,test}.csv` (columns `from,to`, an unnamed index column
allowed) and `fasion-resize-annotation-{train,test}.csv` (`name:keypoints_y:keypoints_x`,
18 OpenPose points, -1 for a missing one), with the images in `RAW/<split>/`, `RAW/img/` or
`RAW/` itself. Each image becomes a one-frame clip whose OpenPose-18 keypoints are mapped to
the canonical layout (missing points get confidence 0); each listed pair becomes a pair.
Unreadable images and bad annotation rows are reported and skipped, and pairs that need them dropped.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from ..base.images import read_image
from ..data.prepared import Clip, Pair, PreparedDataset
from ..errors import InputError
from ..pose.track import PoseTrack

from ..base.progress import progress_bar

from .common import PrepSummary, SkipReport, check_resume

SPLITS = ("train", "test")
PAIRS = "fasion-resize-pairs-{split}.csv"
ANNOTATIONS = "fasion-resize-annotation-{split}.csv"
NUM_POINTS = 18


def read_annotations(path: Path, report: SkipReport) -> dict[str, np.ndarray]:
    """name -> [18, 3] (x, y, conf) from one annotation file; bad rows go to the report."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"unreadable annotation file ({type(e).__name__})", path) from None
    if not lines or [h.strip() for h in lines[0].split(":")] != ["name", "keypoints_y", "keypoints_x"]:
        raise InputError("annotation header is not name:keypoints_y:keypoints_x", path)
    out: dict[str, np.ndarray] = {}
    for n, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        parts = line.split(":")
        name = parts[0].strip()
        try:
            if len(parts) != 3:
                raise ValueError(f"{len(parts)} ':'-separated fields, expected 3")
            ys, xs = json.loads(parts[1]), json.loads(parts[2])
            ys, xs = np.asarray(ys, dtype=np.float64), np.asarray(xs, dtype=np.float64)
            if ys.shape != (NUM_POINTS,) or xs.shape != (NUM_POINTS,):
                raise ValueError(f"{ys.size} y and {xs.size} x values, expected {NUM_POINTS} each")
        except (ValueError, TypeError) as e:
            report.add(Path(name).stem or f"{path.name}:line{n}", f"{path.name} line {n}: {e}")
            continue
        missing = (ys < 0) | (xs < 0)  # -1 marks a point the annotator did not see
        pts = np.stack([np.where(missing, 0, xs), np.where(missing, 0, ys), (~missing).astype(np.float64)], axis=1)
        out[name] = pts
    return out


def read_pairs(path: Path) -> list[tuple[str, str]]:
    """(from, to) image names of one pair list."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"unreadable pair list ({type(e).__name__})", path) from None
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or "from" not in reader.fieldnames or "to" not in reader.fieldnames:
        raise InputError("pair list header lacks from,to", path)
    return [(r["from"].strip(), r["to"].strip()) for r in reader if r.get("from") and r.get("to")]


def find_image(raw: Path, split: str, name: str) -> Path | None:
    for base in (raw / split, raw / "img", raw):
        p = base / name
        if p.is_file():
            return p
    return None


def prepare_deepfashion(raw: str | Path, out: str | Path, *, progress: bool = True) -> PrepSummary:
    """Prepare a DeepFashion PGPIS release (see the module doc). Returns what was done."""
    raw, out = Path(raw), Path(out)
    if not raw.is_dir():
        raise InputError("no such folder", raw)
    present = [s for s in SPLITS if (raw / ANNOTATIONS.format(split=s)).is_file()]
    if not present:
        raise InputError("not a DeepFashion release: no fasion-resize-annotation-{train,test}.csv", raw)
    report = SkipReport()
    annotations = {s: read_annotations(raw / ANNOTATIONS.format(split=s), report) for s in present}
    pair_lists = {s: read_pairs(raw / PAIRS.format(split=s)) for s in present if (raw / PAIRS.format(split=s)).is_file()}

    items: list[tuple[str, str, np.ndarray]] = []  # split, name, points
    seen: set[str] = set()
    for split in present:
        for name, pts in annotations[split].items():
            if Path(name).stem in seen:
                continue
            seen.add(Path(name).stem)
            items.append((split, name, pts))

    ds: PreparedDataset | None = PreparedDataset.open(out) if (out / "meta.json").is_file() else None
    if ds is not None:
        check_resume(ds, "deepfashion", raw.resolve())
    summary = PrepSummary(root=out, report=report)
    try:
        with progress_bar(progress) as bar:
            task = bar.add_task("deepfashion images", total=len(items))
            for split, name, pts in items:
                bar.advance(task)
                clip_id = Path(name).stem
                if ds is not None and ds.has_clip(clip_id):
                    summary.reused += 1
                    continue
                path = find_image(raw, split, name)
                if path is None:
                    report.add(clip_id, f"image {name} not found in {split}/, img/ or the release folder")
                    continue
                try:
                    img = read_image(path)
                except InputError as e:
                    report.add(clip_id, str(e))
                    continue
                h, w = img.shape[:2]
                if ds is None:
                    ds = PreparedDataset.create(out, name="deepfashion", fps=1.0, width=w, height=h,
                                                image_root=raw.resolve())
                if (w, h) != (ds.meta["width"], ds.meta["height"]):
                    report.add(clip_id, f"{path}: image is {w}x{h}, the dataset's are {ds.meta['width']}x{ds.meta['height']}")
                    continue
                track = PoseTrack(xy=pts[None, :, :2], conf=pts[None, :, 2], fps=1.0, width=w, height=h,
                                  layout="openpose18")
                rel = path.resolve().relative_to(raw.resolve()).as_posix()
                ds.add_clip(Clip(id=clip_id, split=split, num_frames=1, frames=[rel]), track)
                summary.prepared += 1
    finally:
        if ds is not None:
            ds.save()
    if ds is None:
        out.mkdir(parents=True, exist_ok=True)
        report.write(out)
        return summary
    for split in present:
        summary.clips[split] = len(ds.split(split))
        pairs, dropped = [], 0
        for a, b in pair_lists.get(split, []):
            ia, ib = Path(a).stem, Path(b).stem
            if ia in ds.clips and ib in ds.clips:
                pairs.append(Pair((ia, 0), (ib, 0)))
            else:
                dropped += 1
        if dropped:
            report.add(f"pairs:{split}", f"{dropped} pair(s) dropped: an image was skipped or not annotated")
        summary.pairs[split] = ds.write_pairs(split, pairs)
    report.write(out)
    return summary
