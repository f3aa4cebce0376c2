"""The ceiling of a model: its VAE's reconstruction of held-out frames, whole frame and the parts
that carry a sign. Prints ONE JSON line.

Compares, on the same held-out test frames of a synthetic release (signers never trained on),
scored at the release's frame size against its exact frames:

* `new`: a VAE at the frames' own size (e.g. the `small` size's factor-4 VAE at 128x160);
* `old` (optional): another VAE run at its own size and resized back with nearest-neighbour
  (e.g. the 64x64 bundled model's VAE), so the step between the two is visible;
* the trivial baselines on the same frames: `copy_source` (the clip's first frame for every
  frame) and `pose` (the drawn target pose), the floors any model must beat;
* the legibility classifier's accuracy on each (optional): ground truth is the ceiling, so a
  VAE's row is the most a model on that VAE could read.

    python benchmarks/vae_reconstruction.py --vae runs/vae --release synthetic \
        [--old-vae signgen/assets/default-model/vae --old-size 64x64] [--legibility runs/legibility] \
        [--split test] [--clips 7] [--every 4]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import imageio.v3 as iio
import numpy as np
import torch


def _vae(folder: str):
    from signgen.models.vae import VAEConfig, load_vae

    return load_vae(folder, VAEConfig()).eval()


@torch.no_grad()
def _reconstruct(vae, frames: list[np.ndarray], size: tuple[int, int] | None) -> list[np.ndarray]:
    h, w = frames[0].shape[:2]
    out = []
    for i in range(0, len(frames), 16):
        chunk = frames[i:i + 16]
        if size is not None:
            chunk = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in chunk]
        x = torch.from_numpy(np.stack(chunk)).permute(0, 3, 1, 2).float() / 255
        rec = vae.decode(vae.encode(x))
        imgs = (rec.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
        out += [cv2.resize(r, (w, h), interpolation=cv2.INTER_NEAREST) if size is not None else r for r in imgs]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vae", required=True)
    p.add_argument("--release", required=True)
    p.add_argument("--old-vae")
    p.add_argument("--old-size", default="64x64", help="WxH the old VAE runs at")
    p.add_argument("--legibility")
    p.add_argument("--split", default="test")
    p.add_argument("--clips", type=int, default=7)
    p.add_argument("--every", type=int, default=4, help="every N-th frame of each clip")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    from signgen.eval import metrics
    from signgen.eval.legibility import collect_crops, labelled_frames, legibility, load_classifier, LabelledCrops
    from signgen.pose.parts import part_boxes

    root = Path(args.release)
    gt_dir = root / "groundtruth" / "phoenix" / args.split
    feats = sorted((root / "PHOENIX-2014-T" / "features").glob("fullFrame-*px"))[-1]
    names = sorted(q.name[:-len(".labels.json")] for q in gt_dir.glob("*.labels.json"))
    # spread over the split, procedural sentences and fingerspelled words alike
    names = [names[int(i * len(names) / args.clips)] for i in range(min(args.clips, len(names)))]
    variants = {"new": (_vae(args.vae), None)}
    if args.old_vae:
        w, h = (int(v) for v in args.old_size.lower().split("x"))
        variants["old"] = (_vae(args.old_vae), (w, h))
    clf = load_classifier(args.legibility) if args.legibility else None
    from signgen.pose.draw import draw_pose

    scores: dict[str, dict] = {k: {"mse": [], "ssim": [], "mse_hands": [], "ssim_hands": [], "mse_face": [],
                                   "ssim_face": [], "crops": []}
                               for k in ["ground_truth", *variants, "copy_source", "pose"]}
    seconds = {k: 0.0 for k in variants}
    frames_scored = 0
    for name in names:
        with np.load(gt_dir / f"{name}.npz") as z:
            xy, conf = z["xy"], z["conf"]
        keep = list(range(0, len(xy), args.every))
        gt = [iio.imread(feats / args.split / name / f"images{t + 1:04d}.png") for t in keep]
        doc, gtdoc = labelled_frames(gt_dir, name)
        sub = {k: [doc[k][t] for t in keep] if k in ("right_hand", "left_hand") else doc[k] for k in doc}
        first = iio.imread(feats / args.split / name / "images0001.png")
        h, w = first.shape[:2]
        outs = {"ground_truth": gt, "copy_source": [first] * len(gt),
                "pose": [draw_pose(xy[t], conf[t], w, h) for t in keep]}
        for k, (vae, size) in variants.items():
            t0 = time.perf_counter()
            outs[k] = _reconstruct(vae, gt, size)
            seconds[k] += time.perf_counter() - t0
        frames_scored += len(gt)
        for k, frames in outs.items():
            s = scores[k]
            for i, (f, g) in enumerate(zip(frames, gt)):
                s["mse"].append(metrics.mse(f, g))
                s["ssim"].append(metrics.ssim(f, g))
                boxes = part_boxes(xy[keep[i]], conf[keep[i]], g.shape[1], g.shape[0])
                for part, group in (("left_hand", "hands"), ("right_hand", "hands"), ("face", "face")):
                    if boxes[part] is not None:
                        a, b = metrics.crop_scores(f, g, boxes[part])
                        s[f"ssim_{group}"].append(a)
                        s[f"mse_{group}"].append(b)
            if clf is not None:
                s["crops"] += collect_crops(frames, xy[keep], conf[keep], sub, gtdoc, name)
    result = {"benchmark": "vae_reconstruction", "split": args.split, "clips": len(names), "frames": frames_scored,
              "size": f"{gt[0].shape[1]}x{gt[0].shape[0]}"}
    for k, s in scores.items():
        row = {"psnr": metrics.psnr_from_mse(float(np.mean(s["mse"]))), "ssim": float(np.mean(s["ssim"])),
               "psnr_hands": metrics.psnr_from_mse(float(np.mean(s["mse_hands"]))),
               "ssim_hands": float(np.nanmean(s["ssim_hands"])),
               "psnr_face": metrics.psnr_from_mse(float(np.mean(s["mse_face"]))),
               "ssim_face": float(np.nanmean(s["ssim_face"]))}
        if s["crops"]:
            row.update(legibility(clf, LabelledCrops.of(s["crops"])))
        if k in seconds:
            row["s_per_frame"] = seconds[k] / max(frames_scored, 1)
        result[k] = {kk: round(v, 4) if isinstance(v, float) else v for kk, v in row.items()}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
