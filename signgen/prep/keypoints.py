"""Provided per-clip keypoint files (instead of running MediaPipe): find, read, convert.

For a clip `<name>` of split `<split>`, the first of these that exists is used:
`DIR/<split>/<name>.{pose,npz,npy,json}` (in that order), then the same directly in `DIR`.

- `.pose`: pose-format (MediaPipe Holistic, or any layout signgen wrote);
- `.npz`: signgen arrays (`xy`, `conf`, `layout`, ...; e.g. the synthetic ground truth);
- `.npy`: one array [T, K, 3] (x, y, score) whose K names the layout (133: COCO-WholeBody,
  553: MediaPipe Holistic, 137: OpenPose, 128: canonical) — e.g. one clip of published HRNet keypoints;
- `.json`: COCO-WholeBody-133 keypoints (the HRNet keypoints published for PHOENIX), one of
  1. a list of frames, each a list of 133 `[x, y, score]`;
  2. a list of frames, each `{"keypoints": [[x, y], ...] or [[x, y, s], ...] or a flat list,
     "keypoint_scores": [...]}` (scores optional);
  3. mmpose's saved predictions: a list of `{"frame_id", "instances": [<as in 2>, ...]}`, or
     `{"instance_info": <that list>}`; per frame the instance with the highest mean score,
     a frame without instances has every point missing;
  or any of these under a top-level `{"frames": ...}`. Pixel coordinates of the clip's frames.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..pose.io import read_npy, read_npz, read_pose
from ..pose.layouts import coco_wholebody
from ..pose.track import PoseTrack

EXTENSIONS = (".pose", ".npz", ".npy", ".json")
NUM_COCO = len(coco_wholebody.NAMES)  # 133


def find_keypoint_file(folder: Path, split: str, name: str) -> Path | None:
    """The keypoint file of a clip in a provided keypoints folder, or None."""
    for base in (folder / split, folder):
        for ext in EXTENSIONS:
            p = base / f"{name}{ext}"
            if p.is_file():
                return p
    return None


def _instance_points(inst: Any, path: Path, where: str) -> np.ndarray:
    """One person's 133 points as [133, 3] (x, y, score)."""
    if isinstance(inst, dict):
        kp = inst.get("keypoints")
        scores = inst.get("keypoint_scores", inst.get("scores"))
    else:
        kp, scores = inst, None
    try:
        arr = np.asarray(kp, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{where}: keypoints are not numbers", path) from None
    if arr.ndim == 1 and arr.size in (2 * NUM_COCO, 3 * NUM_COCO):
        arr = arr.reshape(NUM_COCO, -1)
    if arr.ndim != 2 or arr.shape[0] != NUM_COCO or arr.shape[1] not in (2, 3):
        raise InputError(f"{where}: expected {NUM_COCO} COCO-WholeBody points, got shape {arr.shape}", path)
    if arr.shape[1] == 2:
        if scores is None:
            conf = np.ones(NUM_COCO)
        else:
            conf = np.asarray(scores, dtype=np.float64).reshape(-1)
            if conf.size != NUM_COCO:
                raise InputError(f"{where}: {conf.size} keypoint_scores for {NUM_COCO} points", path)
        arr = np.concatenate([arr, conf[:, None]], axis=1)
    if not np.isfinite(arr).all():
        arr = np.where(np.isfinite(arr).all(axis=1, keepdims=True), arr, 0.0)
    return arr


def _frame_points(frame: Any, path: Path, t: int) -> np.ndarray:
    where = f"frame {t}"
    if isinstance(frame, dict) and "instances" in frame:
        people = frame["instances"] or []
        if not people:
            return np.zeros((NUM_COCO, 3))
        arrs = [_instance_points(p, path, where) for p in people]
        return max(arrs, key=lambda a: float(a[:, 2].mean()))
    return _instance_points(frame, path, where)


def read_coco_wholebody_json(path: str | Path, width: int, height: int, fps: float = 25.0) -> PoseTrack:
    """A per-clip COCO-WholeBody JSON file (see the module doc for the accepted shapes)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"not a readable JSON file ({type(e).__name__})", path) from None
    if isinstance(doc, dict):
        doc = doc.get("frames", doc.get("instance_info"))
    if not isinstance(doc, list) or not doc:
        raise InputError("expected a non-empty list of frames (or {\"frames\": [...]})", path)
    pts = np.stack([_frame_points(f, path, t) for t, f in enumerate(doc)])
    conf = np.clip(pts[..., 2], 0.0, 1.0)
    return PoseTrack(xy=pts[..., :2], conf=conf, fps=fps, width=width, height=height,
                     layout="coco_wholebody", meta={"source": str(path)})


def read_keypoint_file(path: Path, width: int, height: int, fps: float = 25.0) -> PoseTrack:
    """Any accepted per-clip keypoint file, as a canonical track of the clip's frame size."""
    ext = path.suffix.lower()
    if ext == ".json":
        track = read_coco_wholebody_json(path, width, height, fps)
    elif ext == ".pose":
        track = read_pose(path)
    elif ext == ".npz":
        track = read_npz(path)
    elif ext == ".npy":
        track = read_npy(path, fps=fps, width=width, height=height)
    else:
        raise InputError(f"unsupported keypoint file type {ext!r} (use {', '.join(EXTENSIONS)})", path)
    track = track.canonical()
    if (track.width, track.height) != (width, height):
        # .pose files written at another size still hold pixel coordinates of that size
        sx, sy = width / track.width, height / track.height
        track = track.copy(xy=track.xy * np.array([sx, sy], np.float32), width=width, height=height)
    return track.copy(fps=fps)
