"""`signgen export`: render every clip of a test protocol for evaluation, resumably and in shards.

Output layout (what `signgen eval OUT/pred OUT/gt` reads)::

    OUT/pred/<clip>/00000.png ...   rendered frames, the source picture's size
    OUT/pred/<clip>/poses.npz       target poses + source pose (the changed region for eval)
    OUT/gt/<clip>/00000.png ...     ground-truth frames (prepared datasets only), same size
    OUT/gt/<clip>/poses.npz
    OUT/videos/<clip>.mp4           the clip as a video, written LAST (atomically)

A clip is done when its video exists, so an interrupted run resumes where it stopped and never
counts a half-written clip as finished; the hidden temp files a killed run left for a clip
(`.00003.png.XXXX.tmp`, `.<clip>.XXXX.tmp.mp4`) are removed when the clip is rendered again. Clips are split into shards deterministically (sorted
ids, clip k -> shard k mod n); under `accelerate launch` / `torchrun` each process takes the
shard of its rank (RANK / WORLD_SIZE) unless --shard is given.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import InputError
from ..base.files import atomic_write_bytes, check_output_folder, remove_temp_files
from ..base.images import encode_image, read_image
from ..base.progress import Progress
from ..pose.track import PoseTrack


@dataclass
class RenderJob:
    """One clip to render: a source picture, the target motion, optional ground-truth frames."""

    id: str
    source: Path
    source_frame: int = 0  # which picture of the source (a prepared clip's frame index)
    poses: PoseTrack | None = None  # already in the picture's pixels (prepared) ...
    poses_path: Path | None = None  # ... or a file to read and fit (jobs.jsonl)
    gt_frames: list[Path] | None = None
    source_pose: tuple[np.ndarray, np.ndarray] | None = None
    retarget: bool = False


def parse_shard(text: str) -> tuple[int, int]:
    """"i/n" -> (i, n) with 0 <= i < n."""
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise InputError(f"--shard must look like i/n (e.g. 0/4), got {text!r}") from None
    if n < 1 or not 0 <= i < n:
        raise InputError(f"--shard {text}: need 0 <= i < n")
    return i, n


RANK_KEYS = ("RANK", "PMI_RANK", "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_RANK")
SIZE_KEYS = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")


def shard_from_env() -> tuple[int, int]:
    """(rank, world size) as `accelerate launch` sets them: torchrun's RANK / WORLD_SIZE for
    --multi_gpu, MPI's variables for multi-CPU, read with accelerate's own helper and key lists;
    (0, 1) in a plain run. No process group is started: shards never talk to each other."""
    from accelerate.utils import get_int_from_env

    try:
        rank, size = get_int_from_env(RANK_KEYS, 0), max(1, get_int_from_env(SIZE_KEYS, 1))
    except ValueError:
        raise InputError(f"a rank / world-size environment variable ({', '.join(RANK_KEYS + SIZE_KEYS)}) "
                         "is not an integer") from None
    if not 0 <= rank < size:
        raise InputError(f"process rank {rank} is outside the world size {size}")
    return rank, size


def take_shard(jobs: list[RenderJob], shard: tuple[int, int]) -> list[RenderJob]:
    """The jobs of shard i of n: sorted by id, every n-th starting at i (shards partition the clips)."""
    i, n = shard
    return [j for k, j in enumerate(sorted(jobs, key=lambda j: j.id)) if k % n == i]


def jobs_from_prepared(root: str | Path, split: str) -> list[RenderJob]:
    """One job per target clip of `pairs/<split>.jsonl` (PHOENIX protocol: the first frame is the
    source, every frame's pose a target), with the ground-truth frames."""
    from ..data.prepared import PreparedDataset

    ds = PreparedDataset.open(root)
    by_clip: dict[str, tuple[tuple[str, int], list[int]]] = {}
    for pair in ds.pairs(split):
        clip, t = pair.target
        src, targets = by_clip.setdefault(clip, (pair.source, []))
        if pair.source != src:
            raise InputError(f"clip {clip} has targets with different sources ({src} and {pair.source}); "
                             "export renders one source per clip", ds.root / "pairs" / f"{split}.jsonl")
        targets.append(t)
    if not by_clip:
        raise InputError(f"the pair list of split {split!r} is empty", ds.root / "pairs" / f"{split}.jsonl")
    jobs = []
    for clip, ((src_clip, src_frame), targets) in by_clip.items():
        for c in (clip, src_clip):
            if c not in ds.clips:
                raise InputError(f"pair list names clip {c!r}, which is not in meta.json", ds.root)
        frames = ds.frame_paths(clip)
        src_frames = ds.frame_paths(src_clip)
        track = ds.pose(clip)
        src_track = track if src_clip == clip else ds.pose(src_clip)
        bad = [t for t in targets if not 0 <= t < min(len(frames), track.num_frames)]
        if bad or not 0 <= src_frame < min(len(src_frames), src_track.num_frames):
            raise InputError(f"clip {clip}: frame index out of range in the pair list", ds.root)
        target = track.copy(xy=track.xy[targets], conf=track.conf[targets])
        jobs.append(RenderJob(
            id=clip, source=src_frames[src_frame], source_frame=src_frame, poses=target,
            gt_frames=[frames[t] for t in targets],
            source_pose=(src_track.xy[src_frame], src_track.conf[src_frame]),
        ))
    return jobs


def first_frames(job: RenderJob, n: int) -> RenderJob:
    """`job` cut to its first `n` target frames (and their ground truth): short dev and test runs
    that still start where the clip starts."""
    if n < 1:
        raise ValueError(f"first_frames needs n >= 1, got {n}")
    poses = job.poses.slice(0, min(n, job.poses.num_frames))
    gt = None if job.gt_frames is None else job.gt_frames[: poses.num_frames]
    return replace(job, poses=poses, gt_frames=gt)


def jobs_from_jsonl(path: str | Path, retarget: bool = True) -> list[RenderJob]:
    """Jobs from a JSONL file, one `{"id": ..., "source": image, "poses": track}` per line
    (paths relative to the file); no ground truth."""
    path = Path(path)
    if not path.is_file():
        raise InputError("no such jobs file", path)
    jobs, seen = [], set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            cid, src, poses = str(d["id"]), d["source"], d["poses"]
        except (ValueError, KeyError, TypeError):
            raise InputError(f'line {n}: expected {{"id": ..., "source": ..., "poses": ...}}', path) from None
        if not cid or "/" in cid or "\\" in cid or cid in (".", "..") or cid in seen:
            raise InputError(f"line {n}: invalid or repeated clip id {cid!r}", path)
        seen.add(cid)
        jobs.append(RenderJob(id=cid, source=path.parent / src, poses_path=path.parent / poses, retarget=retarget))
    if not jobs:
        raise InputError("the jobs file lists no clips", path)
    return jobs


def video_path(out: Path, clip_id: str) -> Path:
    return out / "videos" / f"{clip_id}.mp4"


def _frames_toencode_image(frames: Iterator[np.ndarray], folder: Path) -> Iterator[np.ndarray]:
    for t, frame in enumerate(frames):
        atomic_write_bytes(folder / f"{t:05d}.png", encode_image(frame))
        yield frame


def export_clip(job: RenderJob, out: Path, renderer, settings) -> int:
    """Render one clip into the layout above; returns its frame count. The video comes last."""
    from .inputs import fit_motion, load_motion, load_source
    from ..eval.report import write_poses
    from ..video import write_video

    image, src_path = load_source(job.source)
    h, w = image.shape[:2]
    if job.poses is not None:
        track = fit_motion(job.poses, image, str(src_path), retarget=False)
    else:
        track = fit_motion(load_motion(job.poses_path, progress=False), image, str(src_path), job.retarget)
    if job.source_pose is not None:
        sx, sc = job.source_pose
        scale = np.array([w / job.poses.width, h / job.poses.height], np.float32)
        sx = np.asarray(sx, np.float32) * scale
    else:
        sx, sc = track.xy[0], np.zeros_like(track.conf[0])  # unknown: the region is the targets'
    pred_dir, gt_dir = out / "pred" / job.id, out / "gt" / job.id
    for folder, name in ((pred_dir, None), (gt_dir, None), (out / "videos", job.id)):
        remove_temp_files(folder, name)  # a killed run's leftovers: this clip is ours now
    pred_dir.mkdir(parents=True, exist_ok=True)
    write_poses(pred_dir / "poses.npz", track.xy, track.conf, sx, sc)
    if job.gt_frames is not None:
        from ..geometry import resize_image

        gt_dir.mkdir(parents=True, exist_ok=True)
        for t, p in enumerate(job.gt_frames):
            atomic_write_bytes(gt_dir / f"{t:05d}.png", encode_image(resize_image(read_image(p), w, h)))
        write_poses(gt_dir / "poses.npz", track.xy, track.conf, sx, sc)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    source_pose = (sx, sc) if job.source_pose is not None else None
    frames = _frames_toencode_image(renderer.render_video(image, track, settings, source_pose=source_pose), pred_dir)
    return write_video(frames, video_path(out, job.id), track.fps)


def export(jobs: list[RenderJob], out: str | Path, renderer, settings, *,
           shard: tuple[int, int] = (0, 1), progress: Progress | None = None) -> dict:
    """Render this shard's clips that are not done yet. Returns counts: total (in the shard),
    rendered, skipped (already done), frames (rendered now)."""
    out = check_output_folder(out)
    try:
        out.mkdir(exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create the output folder ({e.strerror})", e.filename or out) from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise InputError("output folder is not writable (permission denied or read-only)", out)
    mine = take_shard(jobs, shard)
    todo = [j for j in mine if not video_path(out, j.id).is_file()]
    frames = 0
    for k, job in enumerate(todo):
        if progress is not None:
            progress("clips", k, len(todo))
        frames += export_clip(job, out, renderer, settings)
    if progress is not None and todo:
        progress("clips", len(todo), len(todo))
    return {"total": len(mine), "rendered": len(todo), "skipped": len(mine) - len(todo), "frames": frames}
