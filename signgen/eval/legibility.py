"""Legibility: can a sign be read off the frames? Scored by back-recognition on the synthetic world.

A small classifier is trained on ground-truth hand crops of a synthetic release's training
signers, labelled per frame with the handshape a procedural gloss holds or the letter a
fingerspelled clip shows (`groundtruth/phoenix/<split>/<clip>.labels.json`, written by
`signgen prep synthetic`). Applied to the same crops of generated frames (boxes from the
target pose, `signgen.pose.parts`), its accuracy says whether the handshape survived: on
ground-truth frames of held-out signers it gives the ceiling, on copy-the-source the floor.

Left hands are mirrored before they are classified, so one classifier reads both hands.
Letters are labelled `<language>:<letter>` (the same letter differs between sign languages).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from collections import Counter
from typing import Any, Iterable, Iterator

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..errors import InputError
from ..base.files import atomic_write_bytes
from ..pose.io.files import load_json
from ..pose.parts import crop, part_box

__all__ = ["CROP", "HandClassifier", "LabelledCrops", "read_labels", "collect_crops", "train_classifier",
           "load_classifier", "save_classifier", "legibility", "class_balance", "pool_counts"]

CROP = 32  # side of the classifier's input crops, pixels
HANDS = ("right_hand", "left_hand")
WEIGHTS, META = "classifier.safetensors", "classifier.json"


class HandClassifier(nn.Module):
    """Four conv blocks and a linear head on 32x32 RGB crops in [0, 1]."""

    def __init__(self, classes: list[str], width: int = 32) -> None:
        super().__init__()
        self.classes = list(classes)
        w = width
        layers: list[nn.Module] = []
        for a, b in ((3, w), (w, 2 * w), (2 * w, 4 * w), (4 * w, 4 * w)):
            layers += [nn.Conv2d(a, b, 3, padding=1), nn.BatchNorm2d(b), nn.ReLU(), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(4 * w * (CROP // 16) ** 2, len(self.classes))
        self.width = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))

    @torch.no_grad()
    def predict(self, crops: np.ndarray, batch: int = 512) -> list[str]:
        """Labels of uint8 crops [N, CROP, CROP, 3]."""
        self.eval()
        out: list[str] = []
        for i in range(0, len(crops), batch):
            x = torch.from_numpy(np.ascontiguousarray(crops[i:i + batch])).permute(0, 3, 1, 2).float() / 255
            out += [self.classes[k] for k in self(x).argmax(1).tolist()]
        return out


# ---- labelled crops --------------------------------------------------------------------------

@dataclass
class LabelledCrops:
    """Hand crops with their labels and where they come from (clip, frame, hand, kind)."""

    crops: np.ndarray  # uint8 [N, CROP, CROP, 3]
    labels: list[str]
    where: list[tuple[str, int, str, str]]

    def __len__(self) -> int:
        return len(self.labels)

    @classmethod
    def of(cls, items: Iterable[tuple[np.ndarray, str, tuple]]) -> "LabelledCrops":
        """From (crop, label, where) items, as `collect_crops` yields them (none: an empty set)."""
        items = list(items)
        if not items:
            return cls(np.zeros((0, CROP, CROP, 3), np.uint8), [], [])
        crops, labels, where = zip(*items)
        return cls(np.stack(crops), list(labels), list(where))


def read_labels(path: str | Path) -> dict:
    """One clip's labels.json: {"kind", "right_hand": [...], "left_hand": [...]}; InputError if malformed."""
    path = Path(path)
    doc = load_json(path)
    try:
        n = len(doc["right_hand"])
        if doc["kind"] not in ("handshape", "letter") or len(doc["left_hand"]) != n:
            raise ValueError("kind or lengths")
    except (ValueError, KeyError, TypeError) as e:
        raise InputError(f"not a hand-labels file ({type(e).__name__}: {e})", path) from None
    return doc


def _label(doc: dict, gt: dict | None, hand: str, t: int) -> str | None:
    lab = doc[hand][t]
    if lab is None:
        return None
    if doc["kind"] == "letter":
        return f"{(gt or {}).get('language', '?')}:{lab}"
    return str(lab)


def hand_crop(frame: np.ndarray, xy: np.ndarray, conf: np.ndarray, hand: str) -> np.ndarray | None:
    """The classifier's view of one hand: its box, resized to CROP, mirrored for the left hand."""
    h, w = frame.shape[:2]
    box = part_box(xy, conf, hand, w, h)
    if box is None:
        return None
    out = crop(frame, box, CROP)
    if out.shape[:2] != (CROP, CROP):  # clipped at the frame's edge: pad to a square
        pad = np.zeros((CROP, CROP, 3), np.uint8)
        pad[:out.shape[0], :out.shape[1]] = out[:CROP, :CROP]
        out = pad
    return out[:, ::-1] if hand == "left_hand" else out


def labelled_frames(labels_dir: Path, clip: str) -> tuple[dict, dict | None]:
    """(labels doc, ground-truth doc or None) of one clip under a groundtruth split folder."""
    doc = read_labels(labels_dir / f"{clip}.labels.json")
    gt_path = labels_dir / f"{clip}.json"
    gt = load_json(gt_path) if gt_path.is_file() else None
    return doc, (gt if isinstance(gt, dict) else None)


def collect_crops(frames: Iterable[np.ndarray], xy: np.ndarray, conf: np.ndarray, doc: dict,
                  gt: dict | None, clip: str, every: int = 1) -> Iterator[tuple[np.ndarray, str, tuple]]:
    """(crop, label, where) for every labelled hand of every `every`-th frame of one clip."""
    for t, frame in enumerate(frames):
        if t % every:
            continue
        for hand in HANDS:
            lab = _label(doc, gt, hand, t) if t < len(doc[hand]) else None
            if lab is None:
                continue
            c = hand_crop(frame, xy[t], conf[t], hand)
            if c is not None:
                yield c, lab, (clip, t, hand, doc["kind"])


def release_crops(release: str | Path, split: str, every: int = 1) -> LabelledCrops:
    """Ground-truth crops of one split of a synthetic release (frames at the release's size)."""
    import imageio.v3 as iio

    root = Path(release)
    gt_dir = root / "groundtruth" / "phoenix" / split
    feats = sorted((root / "PHOENIX-2014-T" / "features").glob("fullFrame-*px"))
    if not gt_dir.is_dir() or not feats:
        raise InputError("not a synthetic release (needs groundtruth/phoenix/<split> and PHOENIX-2014-T/features)", root)
    items: list = []
    for path in sorted(gt_dir.glob("*.labels.json")):
        clip = path.name[: -len(".labels.json")]
        doc, gt = labelled_frames(gt_dir, clip)
        with np.load(gt_dir / f"{clip}.npz", allow_pickle=False) as z:
            xy, conf = z["xy"], z["conf"]
        folder = feats[-1] / split / clip
        frames = (iio.imread(folder / f"images{t + 1:04d}.png") for t in range(len(xy)))
        items += collect_crops(frames, xy, conf, doc, gt, clip, every)
    if not items:
        raise InputError(f"no labelled hands in split {split!r} (made before labels existed? rerun prep synthetic)", gt_dir)
    return LabelledCrops.of(items)


# ---- training, saving, loading ---------------------------------------------------------------

def _augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Shifts of up to 3 px, brightness/contrast and channel-gain jitter (skin tones vary)."""
    n = x.shape[0]
    pad = F.pad(x, (3, 3, 3, 3), mode="replicate")
    dx, dy = torch.randint(0, 7, (2,), generator=g).tolist()
    x = pad[:, :, dy:dy + CROP, dx:dx + CROP]
    gain = 1 + 0.25 * (torch.rand(n, 3, 1, 1, generator=g) - 0.5)
    bias = 0.15 * (torch.rand(n, 1, 1, 1, generator=g) - 0.5)
    return (x * gain + bias).clamp(0, 1)


def train_classifier(data: LabelledCrops, *, steps: int = 1500, batch: int = 128, lr: float = 2e-3,
                     seed: int = 0, progress: bool = True) -> HandClassifier:
    """Train a HandClassifier on labelled ground-truth crops (AdamW, cosine decay, augmented)."""
    torch.manual_seed(seed)
    classes = sorted(set(data.labels))
    index = {c: i for i, c in enumerate(classes)}
    x_all = torch.from_numpy(data.crops).permute(0, 3, 1, 2).contiguous()
    y_all = torch.tensor([index[c] for c in data.labels])
    model = HandClassifier(classes)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    g = torch.Generator().manual_seed(seed)
    bar = None
    if progress:
        from ..base.progress import progress_bar

        bar = progress_bar()
        bar.start()
        task = bar.add_task("legibility classifier", total=steps)
    model.train()
    try:
        for step in range(steps):
            for group in opt.param_groups:
                group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
            idx = torch.randint(0, len(y_all), (batch,), generator=g)
            x = _augment(x_all[idx].float() / 255, g)
            loss = F.cross_entropy(model(x), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if bar is not None:
                bar.advance(task)
    finally:
        if bar is not None:
            bar.stop()
    return model.eval()


def save_classifier(model: HandClassifier, folder: str | Path, info: dict | None = None) -> Path:
    """Write the classifier as safetensors + JSON (classes, width) into `folder`."""
    from safetensors.torch import save as save_bytes

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(folder / WEIGHTS, save_bytes(state))
    meta = {"classes": model.classes, "width": model.width, "crop": CROP, **(info or {})}
    atomic_write_bytes(folder / META, (json.dumps(meta, indent=2) + "\n").encode("utf-8"))
    return folder


def load_classifier(folder: str | Path) -> HandClassifier:
    """A saved classifier (safetensors only); InputError naming what is wrong."""
    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / META).is_file():
        raise InputError(f"not a legibility classifier (no {META})", folder)
    meta = load_json(folder / META)
    try:
        classes, width = [str(c) for c in meta["classes"]], int(meta["width"])
        if not 1 <= len(classes) <= 10_000 or not 1 <= width <= 256 or int(meta.get("crop", CROP)) != CROP:
            raise ValueError("classes, width or crop out of range")
        model = HandClassifier(classes, width)
        model.load_state_dict(load_file(str(folder / WEIGHTS)))
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as e:
        raise InputError(f"not a legibility classifier ({type(e).__name__}: {e})", folder) from None
    return model.eval()


# ---- scoring ---------------------------------------------------------------------------------

def legibility(model: HandClassifier, data: LabelledCrops) -> dict[str, Any]:
    """Accuracy of the classifier on labelled crops: overall and per kind (handshape, letter),
    with the counts behind `class_balance` (`legibility_counts`: label -> [read right, crops];
    `legibility_answers`: answer -> times given), so clips can be pooled."""
    if not len(data):
        return {"legibility": float("nan"), "legibility_crops": 0}
    pred = model.predict(data.crops)
    hit = np.asarray([p == y for p, y in zip(pred, data.labels)])
    kinds = np.asarray([w[3] for w in data.where])
    out: dict[str, Any] = {"legibility": float(hit.mean()), "legibility_crops": int(len(hit))}
    for kind in ("handshape", "letter"):
        sel = kinds == kind
        if sel.any():
            out[f"legibility_{kind}"] = float(hit[sel].mean())
            out[f"legibility_{kind}_crops"] = int(sel.sum())
    counts: dict[str, list[int]] = {}
    for label, ok in zip(data.labels, hit.tolist()):
        c = counts.setdefault(label, [0, 0])
        c[0] += int(ok)
        c[1] += 1
    out["legibility_counts"] = counts
    out["legibility_answers"] = dict(Counter(pred))
    out.update(class_balance(counts, out["legibility_answers"]))
    return out


def class_balance(counts: dict[str, list[int]], answers: dict[str, int]) -> dict[str, float | int]:
    """What plain accuracy hides when a few labels dominate: a model whose hands are shapeless
    blobs can still score the share of the commonest label by always giving one answer.

    `legibility_balanced`: the mean over true labels of the share read right (a constant answer
    scores 1 / labels); `legibility_majority`: the share of the commonest true label (what a
    constant answer would score in plain accuracy); `legibility_distinct`: how many different
    answers the classifier gave, beside `legibility_labels`, how many true labels there were."""
    totals = {k: v for k, v in counts.items() if v[1] > 0}
    if not totals:
        return {}
    n = sum(v[1] for v in totals.values())
    return {"legibility_balanced": float(np.mean([h / t for h, t in totals.values()])),
            "legibility_majority": max(t for _, t in totals.values()) / n,
            "legibility_distinct": sum(1 for c in answers.values() if c > 0),
            "legibility_labels": len(totals)}


def pool_counts(clips: Iterable[dict]) -> tuple[dict[str, list[int]], dict[str, int]]:
    """The `legibility_counts` and `legibility_answers` of several clips' scores, added up."""
    counts: dict[str, list[int]] = {}
    answers: Counter = Counter()
    for scores in clips:
        for label, (h, t) in scores.get("legibility_counts", {}).items():
            c = counts.setdefault(label, [0, 0])
            c[0] += int(h)
            c[1] += int(t)
        answers.update(scores.get("legibility_answers", {}))
    return counts, dict(answers)


def clip_crops(frames: Iterable[np.ndarray], poses: dict, labels_dir: str | Path, clip: str) -> LabelledCrops | None:
    """Labelled hand crops of one clip's frames (predicted or not) at its target poses, or None
    when `labels_dir` has no labels for the clip."""
    labels_dir = Path(labels_dir)
    matches = [labels_dir / f"{clip}.labels.json"] if (labels_dir / f"{clip}.labels.json").is_file() else \
        sorted(labels_dir.glob(f"*/{clip}.labels.json"))
    if not matches:
        return None
    doc, gt = labelled_frames(matches[0].parent, clip)
    return LabelledCrops.of(collect_crops(frames, poses["xy"], poses["conf"], doc, gt, clip))
