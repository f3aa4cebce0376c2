"""RWTH-PHOENIX-Weather 2014T, as released -> the prepared format.

Reads `annotations/manual/PHOENIX-2014-T.{train,dev,test}.corpus.csv` (`|`-separated:
`name|video|start|end|speaker|orth|translation`) and the frame folders
`features/fullFrame-210x260px/<split>/<name>/images0001.png ...`. Keypoints come from provided
per-clip files (`signgen.prep.keypoints`) or from MediaPipe Holistic run on every frame, in
worker processes. Every frame is decoded, so a missing or unreadable frame, or keypoints whose
frame count differs from the images, skip that clip (reported, not fatal). A rerun skips
clips already prepared. Pairs: FPDM's random training triples from train clips, and the test
protocol (first frame as source, every frame as target) for dev and test.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from ..base.images import read_image
from ..base.progress import progress_bar
from ..data.prepared import IMAGE_EXTENSIONS, Clip, PreparedDataset
from ..errors import InputError
from ..pose.track import PoseTrack

from .common import (PrepSummary, SkipReport, check_resume, every_frame_pairs, numbering_gap, parallel_map,
                     training_pairs)
from .keypoints import find_keypoint_file, read_keypoint_file

SPLITS = ("train", "dev", "test")
CORPUS = "annotations/manual/PHOENIX-2014-T.{split}.corpus.csv"
FRAMES_DEFAULT = "features/fullFrame-210x260px"
FPS = 25.0


@dataclass(frozen=True)
class CorpusRow:
    name: str
    split: str
    speaker: str
    glosses: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class PrepJob:
    """Everything a worker needs to prepare one clip (picklable)."""

    row: CorpusRow
    frame_dir: str
    keypoints: str  # "extract" or a folder
    size: tuple[int, int]  # expected (width, height)


def frames_root(raw: Path) -> Path:
    """The full-frame folder of a release (210x260 as released; another size if only that exists)."""
    default = raw / FRAMES_DEFAULT
    if default.is_dir():
        return default
    found = sorted((raw / "features").glob("fullFrame-*px")) if (raw / "features").is_dir() else []
    if not found:
        raise InputError(f"not a PHOENIX-2014-T release: no {FRAMES_DEFAULT} folder", raw)
    return found[0]


def read_corpus(raw: str | Path) -> tuple[list[CorpusRow], SkipReport]:
    """Rows of every split's corpus CSV; malformed rows go to the report."""
    raw = Path(raw)
    files = {s: raw / CORPUS.format(split=s) for s in SPLITS}
    if not any(f.is_file() for f in files.values()):
        raise InputError(
            "not a PHOENIX-2014-T release: no annotations/manual/PHOENIX-2014-T.{train,dev,test}.corpus.csv", raw
        )
    rows, report = [], SkipReport()
    for split, path in files.items():
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"unreadable corpus file ({type(e).__name__})", path) from None
        reader = csv.reader(text.splitlines(), delimiter="|", quoting=csv.QUOTE_NONE)
        header = next(reader, None) or []
        if "name" not in header or "orth" not in header:
            raise InputError(f"corpus header lacks name/orth columns (has: {'|'.join(header) or 'nothing'})", path)
        col = {h: i for i, h in enumerate(header)}
        for line_no, fields in enumerate(reader, 2):
            if not fields:
                continue
            if len(fields) != len(header):
                report.add(f"{split}:line{line_no}", f"{path.name} line {line_no}: {len(fields)} fields, header has {len(header)}")
                continue
            get = lambda k: fields[col[k]].strip() if k in col else ""  # noqa: E731
            rows.append(CorpusRow(get("name"), split, get("speaker"), tuple(get("orth").split()), get("translation")))
    return rows, report


def _frame_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise InputError("no frame folder", folder)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise InputError("no frames in the frame folder", folder)
    gap = numbering_gap(files)
    if gap:
        raise InputError(gap, folder)
    return files


def _read_frames(files: list[Path], size: tuple[int, int]):
    """Decode every frame (an unreadable PNG fails here, not in training), checking its size."""
    for f in files:
        img = read_image(f)
        if (img.shape[1], img.shape[0]) != size:
            raise InputError(f"frame is {img.shape[1]}x{img.shape[0]}, the dataset's frames are {size[0]}x{size[1]}", f)
        yield img


def extract_frames(images: Iterable[np.ndarray], width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe Holistic on each frame of a clip (frames independent, as `extract_image` would
    give them, through one graph per clip), as canonical xy [T,128,2], conf [T,128]."""
    from signgen.pose.extract import extract_images

    track = extract_images(images, fps=FPS).canonical()
    if (track.width, track.height) != (width, height):
        raise InputError(f"frames are {track.width}x{track.height}, expected {width}x{height}")
    return track.xy, track.conf


def prepare_one(job: PrepJob) -> tuple[np.ndarray, np.ndarray] | str:
    """Keypoints (canonical xy [T,128,2], conf [T,128]) of one clip, or why it was skipped.

    Runs in a worker process: returns an error string instead of raising.
    """
    try:
        files = _frame_files(Path(job.frame_dir))
        w, h = job.size
        if job.keypoints == "extract":
            xy, conf = extract_frames(_read_frames(files, job.size), w, h)
        else:
            path = find_keypoint_file(Path(job.keypoints), job.row.split, job.row.name)
            if path is None:
                raise InputError(f"no keypoint file {job.row.name}.{{pose,npz,npy,json}}", job.keypoints)
            track = read_keypoint_file(path, w, h, FPS)
            if track.num_frames != len(files):
                raise InputError(f"keypoints have {track.num_frames} frames, the clip has {len(files)} images", path)
            for _ in _read_frames(files, job.size):
                pass
            xy, conf = track.xy, track.conf
        return xy, conf
    except InputError as e:
        return str(e)
    except Exception as e:  # a worker must report, not die: one clip's surprise is that clip's problem
        return f"{type(e).__name__}: {e}"


def _dataset_size(root: Path, rows: list[CorpusRow]) -> tuple[int, int]:
    """Frame size of the release: the first readable frame's."""
    from signgen.base.images import open_image

    for row in rows:
        folder = root / row.split / row.name
        if not folder.is_dir():
            continue
        for f in sorted(folder.iterdir()):
            if f.suffix.lower() in IMAGE_EXTENSIONS:
                try:
                    with open_image(f) as im:
                        return im.size
                except InputError:
                    continue
    raise InputError("no readable frame in any clip folder", root)


def prepare_phoenix(
    raw: str | Path,
    out: str | Path,
    *,
    keypoints: str | Path = "extract",
    workers: int = 1,
    num_pairs: int = 100_000,
    seed: int = 0,
    frame_stride: int = 1,
    progress: bool = True,
) -> PrepSummary:
    """Prepare a PHOENIX-2014-T release (see the module doc). Returns what was done."""
    raw, out = Path(raw), Path(out)
    if not raw.is_dir():
        raise InputError("no such folder", raw)
    rows, report = read_corpus(raw)
    root = frames_root(raw)
    kp = str(keypoints)
    if kp != "extract" and not Path(kp).is_dir():
        raise InputError("--keypoints must be 'extract' or a folder of per-clip keypoint files", kp)
    if workers < 1:
        raise InputError(f"--workers must be >= 1, got {workers}")
    if num_pairs < 0:
        raise InputError(f"--pairs must be >= 0, got {num_pairs}")
    if frame_stride < 1:
        raise InputError(f"--frame-stride must be >= 1, got {frame_stride}")
    size = _dataset_size(root, rows)
    ds = PreparedDataset.create(out, name="phoenix-2014t", fps=FPS, width=size[0], height=size[1],
                                image_root=root.resolve())
    check_resume(ds, "phoenix-2014t", root.resolve())
    size = (int(ds.meta["width"]), int(ds.meta["height"]))
    summary = PrepSummary(root=out, report=report)

    jobs, seen = [], set()
    for row in rows:
        if not row.name or row.name in seen:
            report.add(row.name or f"{row.split}:?", "empty or repeated clip name in the corpus")
            continue
        seen.add(row.name)
        if ds.has_clip(row.name):
            summary.reused += 1
            continue
        jobs.append(PrepJob(row, str(root / row.split / row.name), kp, size))

    try:
        with progress_bar(progress) as bar:
            task = bar.add_task("phoenix clips", total=len(jobs))
            for job, result in parallel_map(prepare_one, jobs, workers):
                bar.advance(task)
                if isinstance(result, str):
                    report.add(job.row.name, result)
                    continue
                xy, conf = result
                track = PoseTrack(xy=xy, conf=conf, fps=FPS, width=size[0], height=size[1])
                clip = Clip(id=job.row.name, split=job.row.split, num_frames=len(xy),
                            frames=f"{job.row.split}/{job.row.name}", signer=job.row.speaker,
                            glosses=list(job.row.glosses), text=job.row.text)
                ds.add_clip(clip, track)
                summary.prepared += 1
    finally:
        ds.save()  # whatever finished is kept for the next run

    for split in SPLITS:
        clips = ds.split(split)
        summary.clips[split] = len(clips)
        if split == "train":
            summary.pairs[split] = ds.write_pairs(split, training_pairs(clips, num_pairs, seed, frame_stride))
        elif clips:
            summary.pairs[split] = ds.write_pairs(split, every_frame_pairs(clips))
    report.write(out)
    return summary
