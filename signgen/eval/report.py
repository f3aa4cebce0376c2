"""`signgen eval PRED GT`: find the clips, score every frame twice (whole frame, changed region),
add the temporal scores, and tabulate per clip and overall.

Layout read (what `signgen export` writes; any other tool can write it too)::

    PRED/ or GT/
      <clip>/00000.png ...      one folder of frames per clip (sorted by name), or
      <clip>.mp4                one video per clip (.mp4, .webm, .gif), or
      00000.png ...             the root itself is one clip
      <clip>/poses.npz          optional, in PRED or GT: the poses that define the changed region
      (<clip>.poses.npz beside a video)

`poses.npz` holds canonical keypoints in the frames' pixels: `xy` [T, 128, 2], `conf` [T, 128]
(the target poses) and `source_xy` [128, 2], `source_conf` [128] (the source frame's pose). The
region of frame t is the union of the source's and target t's arms and hands, dilated; without
poses it is where the ground truth differs from its own first frame.

With poses, the parts that carry a sign are scored on their own too: `_hands` (both hands'
boxes from the target pose, `signgen.pose.parts`) and `_face` (the face box): SSIM averaged
over crops, PSNR from the MSE pooled over them. A model only beats copying the source frame
if it wins there.

Image metrics are averaged over frames (all clips' frames together for "overall"); temporal
ones are per clip, averaged over clips.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from ..errors import InputError
from ..base.files import atomic_write_bytes
from ..pose.parts import part_boxes, region_from_poses
from . import metrics, temporal

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
VIDEO_EXTENSIONS = (".mp4", ".webm", ".gif")
POSES_FILE = "poses.npz"
IMAGE_METRICS = ("ssim", "mse", "psnr_frame_mean", "lpips")  # frame-weighted means; psnr comes from mse
PART_METRICS = ("ssim", "mse")  # per hand / face crop; weighted by crops
SUFFIXES = ("", "_region", "_hands", "_face")
TEMPORAL_METRICS = ("flicker", "warping_error")


@dataclass
class ClipFrames:
    """The frames of one clip, read from disk each time it is iterated (never all in memory)."""

    name: str
    paths: list[Path] | None = None  # image files, in order
    video: Path | None = None

    def __iter__(self) -> Iterator[np.ndarray]:
        if self.paths is not None:
            from ..base.images import read_image

            for p in self.paths:
                yield read_image(p)
        else:
            from ..video import read_video

            frames, _ = read_video(self.video)
            yield from frames

    def __len__(self) -> int:
        if self.paths is not None:
            return len(self.paths)
        from ..video import video_info

        return video_info(self.video)[0]

    @property
    def where(self) -> Path:
        return self.video if self.video is not None else (self.paths[0].parent if self.paths else Path(self.name))


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def find_clips(root: str | Path) -> dict[str, ClipFrames]:
    """The clips under `root` by name (see the module docstring); InputError when there are none."""
    root = Path(root)
    if not root.exists():
        raise InputError("no such file or folder", root)
    if root.is_file():
        if root.suffix.lower() not in VIDEO_EXTENSIONS:
            raise InputError(f"not a video ({', '.join(VIDEO_EXTENSIONS)}) or a folder of frames", root)
        return {root.stem: ClipFrames(root.stem, video=root)}
    own = _images(root)
    if own:
        return {root.name: ClipFrames(root.name, paths=own)}
    clips: dict[str, ClipFrames] = {}
    for p in sorted(root.iterdir()):
        if p.is_dir() and not p.name.startswith("."):
            frames = _images(p)
            if frames:
                clips[p.name] = ClipFrames(p.name, paths=frames)
        elif p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS and not p.name.startswith("."):
            clips[p.stem] = ClipFrames(p.stem, video=p)
    if not clips:
        raise InputError("no clips found (expected folders of frames or video files)", root)
    return clips


# ---- poses beside the frames -----------------------------------------------------------------

def write_poses(path: str | Path, xy: np.ndarray, conf: np.ndarray, source_xy: np.ndarray,
                source_conf: np.ndarray) -> None:
    """Write a clip's `poses.npz` (atomically): target poses [T, 128, 2] / [T, 128] and the source pose."""
    from ..pose.io.arrays import npz_bytes

    atomic_write_bytes(path, npz_bytes(xy=np.asarray(xy, np.float32), conf=np.asarray(conf, np.float32),
                                       source_xy=np.asarray(source_xy, np.float32),
                                       source_conf=np.asarray(source_conf, np.float32)))


def _poses_path(clip: ClipFrames) -> Path:
    if clip.video is not None:
        return clip.video.with_name(f"{clip.video.stem}.poses.npz")
    return clip.where / POSES_FILE


def read_poses(clip: ClipFrames) -> dict[str, np.ndarray] | None:
    """The clip's poses.npz as arrays, None when there is none; InputError when it is malformed."""
    path = _poses_path(clip)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            out = {k: np.asarray(z[k], np.float32) for k in ("xy", "conf", "source_xy", "source_conf")}
    except (OSError, KeyError, ValueError) as e:
        raise InputError(f"unreadable poses file ({type(e).__name__}: {e})", path) from None
    if out["xy"].ndim != 3 or out["conf"].shape != out["xy"].shape[:2] or out["source_xy"].shape != out["xy"].shape[1:]:
        raise InputError("poses file arrays have inconsistent shapes", path)
    return out


# ---- scoring ---------------------------------------------------------------------------------

def _region_masks(gt: ClipFrames, poses: dict | None, shape: tuple[int, int]) -> Iterator[np.ndarray]:
    h, w = shape
    if poses is not None:
        src = (poses["source_xy"], poses["source_conf"])
        for t in range(poses["xy"].shape[0]):
            yield region_from_poses([src, (poses["xy"][t], poses["conf"][t])], w, h)
        return
    first = None
    for frame in gt:
        first = frame if first is None else first
        yield metrics.region_from_pixels(first, frame)


def _add_pooled_psnr(scores: dict[str, Any]) -> None:
    """`psnr` and `psnr_region` from the pooled `mse` values (see metrics.psnr_from_mse)."""
    for k in SUFFIXES:
        if f"mse{k}" in scores:
            scores[f"psnr{k}"] = metrics.psnr_from_mse(scores[f"mse{k}"])


def _legibility(pred: ClipFrames, poses: dict | None, legibility: tuple[Any, Path] | None) -> dict[str, Any]:
    if legibility is None or poses is None:
        return {}
    from .legibility import clip_crops
    from .legibility import legibility as score

    model, labels_dir = legibility
    crops = clip_crops(iter(pred), poses, labels_dir, pred.name)
    return {} if crops is None else score(model, crops)


KEYPOINT_METRICS = ("hand_detection", "arm_error_px", "hand_error_px")


def _keypoints(pred: ClipFrames) -> dict[str, float]:
    poses = read_poses(pred)
    if poses is None:
        return {}
    from .keypoints import keypoint_consistency

    return keypoint_consistency(iter(pred), poses["xy"], poses["conf"])


def evaluate_clip(pred: ClipFrames, gt: ClipFrames, *, lpips: Callable | None = None,
                  fid: tuple[Any, Any] | None = None, legibility: tuple[Any, Path] | None = None) -> dict[str, Any]:
    """Scores of one clip: per-frame image metrics averaged, temporal metrics, each whole and `_region`.

    `psnr` is the PSNR of the MSE pooled over the clip's frames; `psnr_frame_mean` is the mean
    of per-frame PSNRs (each identical frame counted as `PSNR_CAP` dB), kept for comparison."""
    n_pred, n_gt = len(pred), len(gt)
    if n_pred != n_gt:
        raise InputError(f"clip {pred.name}: {n_pred} predicted frames but {n_gt} ground-truth frames", pred.where)
    poses = read_poses(pred) or read_poses(gt)
    if poses is not None and poses["xy"].shape[0] != n_gt:
        raise InputError(f"clip {pred.name}: poses have {poses['xy'].shape[0]} frames, the clip {n_gt}", _poses_path(pred))
    per: dict[str, list[float]] = {k: [] for k in ("ssim", "ssim_region", "mse", "mse_region", "psnr_frame_mean",
                                                    "psnr_frame_mean_region", "lpips", "lpips_region")}
    parts: dict[str, list[float]] = {f"{m}_{p}": [] for m in PART_METRICS for p in ("hands", "face")}
    union = None
    area = []
    masks = None
    for t, (p, g) in enumerate(zip(pred, gt)):
        if masks is None:
            masks = _region_masks(gt, poses, g.shape[:2])
        if p.shape != g.shape:
            raise InputError(f"clip {pred.name} frame {t}: predicted {p.shape[1]}x{p.shape[0]}, "
                             f"ground truth {g.shape[1]}x{g.shape[0]}", pred.where)
        mask = next(masks)
        union = mask.copy() if union is None else (union | mask)
        area.append(float(mask.mean()))
        per["ssim"].append(metrics.ssim(p, g))
        per["ssim_region"].append(metrics.ssim(p, g, mask))
        per["mse"].append(metrics.mse(p, g))
        per["mse_region"].append(metrics.mse(p, g, mask))
        per["psnr_frame_mean"].append(metrics.psnr(p, g))
        per["psnr_frame_mean_region"].append(metrics.psnr(p, g, mask))
        if poses is not None:
            boxes = part_boxes(poses["xy"][t], poses["conf"][t], g.shape[1], g.shape[0])
            for name, group in (("left_hand", "hands"), ("right_hand", "hands"), ("face", "face")):
                if boxes[name] is not None:
                    s_, m_ = metrics.crop_scores(p, g, boxes[name])
                    parts[f"ssim_{group}"].append(s_)
                    parts[f"mse_{group}"].append(m_)
        composite = np.where(mask[..., None], p, g)  # only the region differs from the truth
        if lpips is not None:
            per["lpips"].append(lpips(p, g))
            per["lpips_region"].append(lpips(composite, g) if mask.any() else float("nan"))
        if fid is not None:
            _fid_update(fid[0], p, g)
            _fid_update(fid[1], composite, g)
    result: dict[str, Any] = {"frames": n_gt, "region": "poses" if poses is not None else "pixels",
                              "region_fraction": metrics.mean(area)}
    for k, v in per.items():
        if v:
            result[k] = metrics.mean(v)
    for k, v in parts.items():
        if v:
            result[k] = metrics.mean(v)
            result[f"crops_{k.split('_')[1]}"] = len(v)
    _add_pooled_psnr(result)
    result.update(_legibility(pred, poses, legibility))
    if n_gt >= 2:
        result["flicker"] = temporal.flicker(iter(pred), iter(gt))
        result["flicker_region"] = metrics.masked_flicker(iter(pred), iter(gt), union)
        result["warping_error"] = temporal.warping_error(iter(pred), iter(gt))
        result["warping_error_region"] = metrics.masked_warping_error(iter(pred), iter(gt), union)
    return result


def _fid_update(fid, pred: np.ndarray, gt: np.ndarray) -> None:
    import torch

    to_t = lambda a: torch.from_numpy(metrics.as_float(a)).permute(2, 0, 1)[None]  # noqa: E731
    fid.update(to_t(gt), real=True)
    fid.update(to_t(pred), real=False)


def evaluate(pred_root: str | Path, gt_root: str | Path, *, lpips_weights: str | Path | None = None,
             fid_weights: str | Path | None = None, fvd_weights: str | Path | None = None,
             legibility: str | Path | None = None, labels: str | Path | None = None,
             keypoints: bool = False, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Score every clip of PRED against the same-named clip of GT; returns the report dict
    {"clips": {name: scores}, "overall": scores, "notes": [...]}. LPIPS, FID and FVD need local
    weights; without them each is skipped with a note. With a `legibility`
    classifier folder and a `labels` folder (a synthetic release's groundtruth/phoenix or one
    of its splits), each clip's hands are also back-recognised (see `legibility.py`). With
    `keypoints`, MediaPipe Holistic runs on the predicted frames and is compared with the target
    poses (`keypoints.py`: hand detection rate, arm and hand joint error; for real data)."""
    from .fvd import load_fvd

    pred_clips, gt_clips = find_clips(pred_root), find_clips(gt_root)
    if len(pred_clips) == 1 and len(gt_clips) == 1:  # two single clips: pair them whatever their names
        (pn, pc), (_, gc) = next(iter(pred_clips.items())), next(iter(gt_clips.items()))
        gt_clips = {pn: gc}
    missing = sorted(set(pred_clips) - set(gt_clips))
    if missing:
        raise InputError(f"no ground truth for clip(s) {', '.join(missing[:5])}", gt_root)
    notes = []
    lp, note = metrics.load_lpips(lpips_weights)
    notes += [note] if note else []
    fid_whole, note = metrics.load_fid(fid_weights)
    notes += [note] if note else []
    fid = (fid_whole, metrics.load_fid(fid_weights)[0]) if fid_whole is not None else None
    leg = None
    if legibility is not None:
        from .legibility import load_classifier

        if labels is None or not Path(labels).is_dir():
            raise InputError("--legibility needs --labels: the synthetic release's groundtruth/phoenix folder", labels)
        leg = (load_classifier(legibility), Path(labels))
    fvd, note = load_fvd(fvd_weights)
    notes += [note] if note else []
    skipped = sorted(set(gt_clips) - set(pred_clips))
    if skipped:
        notes.append(f"{len(skipped)} ground-truth clip(s) have no prediction and were not scored")
    clips = {}
    for name, clip in pred_clips.items():
        if progress is not None:
            progress(name)
        clips[name] = evaluate_clip(clip, gt_clips[name], lpips=lp, fid=fid, legibility=leg)
        if keypoints:
            clips[name].update(_keypoints(clip))
        if fvd is not None:
            fvd.update(iter(clip), iter(gt_clips[name]))
    overall = summarize(clips)
    if fvd is not None:
        if fvd.samples >= 2:
            overall["fvd"], overall["fvd_windows"] = fvd.compute(), fvd.samples
        else:
            notes.append(f"FVD skipped: it needs at least 2 windows of 16 frames, the clips give {fvd.samples}")
    if fid is not None:
        overall["fid"] = float(fid[0].compute())
        overall["fid_region"] = float(fid[1].compute())
    return {"clips": clips, "overall": overall, "notes": notes, "psnr_cap": metrics.PSNR_CAP}


SCORE_KEYS = ("ssim", "ssim_region", "psnr", "psnr_region", "psnr_frame_mean", "psnr_frame_mean_region",
              "flicker", "flicker_region", "warping_error", "warping_error_region")


PART_SCORE_KEYS = ("ssim_hands", "psnr_hands", "ssim_face", "psnr_face",
                   "legibility", "legibility_handshape", "legibility_letter",
                   "legibility_balanced", "legibility_majority", "legibility_distinct", "legibility_labels")


def overall_scores(pred_root: str | Path, gt_root: str | Path, keys: tuple[str, ...] = SCORE_KEYS,
                   **options: Any) -> dict:
    """The overall row of `evaluate` (given `options`, e.g. legibility=, labels=), the `keys`
    only, rounded to 4 decimals (None when absent)."""
    overall = evaluate(pred_root, gt_root, **options)["overall"]
    return {k: (None if overall.get(k) is None else round(float(overall[k]), 4)) for k in keys}


def evenly_spaced(items: list, n: int) -> list:
    """n items evenly spaced through the list (clips sorted by name mix signers and kinds)."""
    if len(items) <= n:
        return items
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def summarize(clips: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Overall scores: image metrics weighted by frames, temporal metrics averaged over clips."""
    out: dict[str, Any] = {"clips": len(clips), "frames": int(sum(c["frames"] for c in clips.values()))}
    for base in IMAGE_METRICS + ("region_fraction",):
        for key in (base, f"{base}_region") if base != "region_fraction" else (base,):
            pairs = [(c[key], c["frames"]) for c in clips.values() if key in c and c[key] == c[key]]
            if pairs:
                out[key] = float(sum(v * n for v, n in pairs) / sum(n for _, n in pairs))
    for group in ("hands", "face"):
        for base in PART_METRICS:
            key = f"{base}_{group}"
            pairs = [(c[key], c[f"crops_{group}"]) for c in clips.values() if key in c and c[key] == c[key]]
            if pairs:
                out[key] = float(sum(v * n for v, n in pairs) / sum(n for _, n in pairs))
                out[f"crops_{group}"] = int(sum(n for _, n in pairs))
    for key in KEYPOINT_METRICS:  # hand scores weighted by the hands the targets show, arm by frames
        weight = "frames" if key == "arm_error_px" else "hands_expected"
        pairs = [(c[key], c[weight]) for c in clips.values() if key in c and c[key] == c[key] and c[weight] > 0]
        if pairs:
            out[key] = float(sum(v * n for v, n in pairs) / sum(n for _, n in pairs))
    for key in ("legibility", "legibility_handshape", "legibility_letter"):
        pairs = [(c[key], c[f"{key}_crops"]) for c in clips.values() if key in c and c[key] == c[key]]
        if pairs and sum(n for _, n in pairs):
            out[key] = float(sum(v * n for v, n in pairs) / sum(n for _, n in pairs))
            out[f"{key}_crops"] = int(sum(n for _, n in pairs))
    if any("legibility_counts" in c for c in clips.values()):
        from .legibility import class_balance, pool_counts

        out.update(class_balance(*pool_counts(clips.values())))
    _add_pooled_psnr(out)
    for base in TEMPORAL_METRICS:
        for key in (base, f"{base}_region"):
            values = [c[key] for c in clips.values() if key in c]
            if values:
                out[key] = metrics.mean(values)
    return out


# ---- output ----------------------------------------------------------------------------------

def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None  # nan (an empty region) -> null: strict JSON has no NaN
    return value


def write_json(report: dict[str, Any], path: str | Path) -> None:
    """The report as strict JSON (nan -> null), written atomically."""
    text = json.dumps(_jsonable(report), indent=2, sort_keys=False) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))


COLUMNS = (("ssim", "SSIM"), ("psnr", "PSNR"), ("lpips", "LPIPS"), ("flicker", "flicker"),
           ("warping_error", "warp err"))
PART_COLUMNS = (("ssim", "SSIM hands/face"), ("psnr", "PSNR hands/face"))
LEGIBILITY_COLUMN = ("legibility", "legible")


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"  # 3 significant digits keep the table narrow


def table(report: dict[str, Any], max_rows: int = 30):
    """A rich Table: one row per clip (the first `max_rows`) and the overall row; each metric as
    whole / region."""
    from rich import box
    from rich.table import Table

    rows = list(report["clips"].items())
    present = [(k, label) for k, label in COLUMNS if k in report["overall"]]
    parts = [(k, label) for k, label in PART_COLUMNS if f"{k}_hands" in report["overall"]]
    legible = [LEGIBILITY_COLUMN] if LEGIBILITY_COLUMN[0] in report["overall"] else []
    t = Table(title="signgen eval: whole frame/changed region", box=box.SIMPLE_HEAD)
    t.add_column("clip", overflow="fold", min_width=8)
    t.add_column("frames", justify="right", no_wrap=True)
    for _, label in present + parts + legible:
        t.add_column(label, justify="right", no_wrap=True)

    def cells(scores: dict) -> list[str]:
        return ([f"{_fmt(scores.get(k))}/{_fmt(scores.get(k + '_region'))}" for k, _ in present]
                + [f"{_fmt(scores.get(k + '_hands'))}/{_fmt(scores.get(k + '_face'))}" for k, _ in parts]
                + [_fmt(scores.get(k)) for k, _ in legible])

    for name, scores in rows[:max_rows]:
        t.add_row(name, str(scores["frames"]), *cells(scores))
    if len(rows) > max_rows:
        t.add_row(f"... {len(rows) - max_rows} more", "", *[""] * (len(present) + len(parts) + len(legible)))
    o = report["overall"]
    t.add_row("[bold]overall[/]", str(o["frames"]), *[f"[bold]{c}[/]" for c in cells(o)])
    return t
