"""Honest results of a model bundle on held-out signers and held-out motion.

Renders the test protocol (first frame as source, every frame's pose as target) of clips of a
prepared split whose signers and gloss sequences never appear in training, and scores, with
`signgen eval`'s metrics, on the whole frame and on the changed region:

- the full model (shared noise + temporal smoothing, the defaults);
- the same with `keep_static` (generated only where the source's or the frame's arms and hands
  are, and the face when it moves; the source picture elsewhere);
- the same model with the fusion-embedding term off at sampling (`--fusion-guidance 0`);
- with `--stage2-alone BUNDLE`: the paper's ablation, a stage 2 trained without the fusion
  embedding (`--set model.overrides.stage2.drop_fusion=1.0`), same data and steps;
- the same model with independent noise and no smoothing (the temporal comparison);
- with `--old-model BUNDLE`: another (e.g. the 64x64) bundle on the same clips, its frames
  resized to the picture's size by the renderer, so the step between two models is visible;
- two trivial baselines: copying the source frame, and the drawn pose alone.

Every row has the whole frame, the changed region, hand and face crops (from the target pose)
and the temporal scores; with `--legibility C --labels R/groundtruth/phoenix` also the share of
labelled hands the classifier reads right, and a `ground_truth` row (the ceiling). Also reports
seconds per frame on this machine at the given steps. Prints one JSON line.

    python benchmarks/honest_results.py --model signgen/assets/default-model \
        --stage2-alone runs/diffusion-alone/bundle --data data/prepared --split test --clips 6 --out /tmp/honest \
        [--old-model OLD_BUNDLE] [--legibility runs/legibility --labels data/synthetic/groundtruth/phoenix]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from PIL import Image

from signgen.eval.report import PART_SCORE_KEYS, SCORE_KEYS, evenly_spaced, find_clips, overall_scores, read_poses
from signgen.pose.draw import draw_pose
from signgen.rendering.export import export, first_frames, jobs_from_prepared
from signgen.rendering.pipeline import Renderer
from signgen.rendering.settings import Settings

def baseline(gt_root: Path, out: Path, kind: str) -> Path:
    """Predictions that need no model: the source frame copied, or the target pose drawn."""
    for name, clip in find_clips(gt_root).items():
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        poses = read_poses(clip)
        first = None
        for t, frame in enumerate(clip):
            if first is None:
                first = frame
            h, w = frame.shape[:2]
            pred = first if kind == "copy" else draw_pose(poses["xy"][t], poses["conf"][t], w, h)
            Image.fromarray(pred).save(folder / f"{t:05d}.png")
        (folder / "poses.npz").write_bytes((clip.where / "poses.npz").read_bytes())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--clips", type=int, default=6)
    ap.add_argument("--frames", type=int, default=None, help="only the first N frames of each clip (default: all)")
    ap.add_argument("--steps", type=int, default=None, help="default: the bundle's own")
    ap.add_argument("--sampler", default=None, help="default: the bundle's own (ddpm, ddim, dpm++, unipc, lcm)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--stage2-alone", default=None, help="bundle of a stage 2 trained without the fusion embedding")
    ap.add_argument("--old-model", default=None, help="another bundle to compare with (e.g. the 64x64 one)")
    ap.add_argument("--legibility", default=None, help="hand classifier (signgen train legibility)")
    ap.add_argument("--labels", default=None, help="with --legibility: the release's groundtruth/phoenix")
    ap.add_argument("--no-ablations", action="store_true", help="skip fusion-off and independent-noise rows")
    args = ap.parse_args()
    keys = SCORE_KEYS + PART_SCORE_KEYS
    options = {"legibility": args.legibility, "labels": args.labels} if args.legibility else {}

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = evenly_spaced(sorted(jobs_from_prepared(args.data, args.split), key=lambda j: j.id), args.clips)
    if args.frames:
        jobs = [first_frames(j, args.frames) for j in jobs]
    renderer = Renderer.load(args.model, args.device)
    variants = {  # name: (renderer, settings)
        "full": (renderer, Settings(sampler=args.sampler, steps=args.steps)),
    }
    variants["keep_static"] = (renderer, Settings(sampler=args.sampler, steps=args.steps, keep_static=True))
    if not args.no_ablations:
        variants["fusion_off_at_sampling"] = (renderer, Settings(sampler=args.sampler, steps=args.steps,
                                                                 fusion_guidance=0.0))
        variants["independent_noise_no_smoothing"] = (renderer, Settings(sampler=args.sampler, steps=args.steps,
                                                                         noise="independent", smoothing=0.0))
    if args.stage2_alone:
        variants["stage2_alone"] = (Renderer.load(args.stage2_alone, args.device),
                                    Settings(sampler=args.sampler, steps=args.steps))
    if args.old_model:
        variants["old_model"] = (Renderer.load(args.old_model, args.device), Settings())
    results, timing = {}, {}
    for name, (model, settings) in variants.items():
        start = time.perf_counter()
        done = export(jobs, out / name, model, settings)
        if done["frames"]:
            timing[name] = round((time.perf_counter() - start) / done["frames"], 4)
        results[name] = overall_scores(out / name / "pred", out / name / "gt", keys, **options)
    gt = out / "full" / "gt"
    if options:
        results["ground_truth"] = overall_scores(gt, gt, keys, **options)
    results["copy_source"] = overall_scores(baseline(gt, out / "copy_source", "copy"), gt, keys, **options)
    results["pose_only"] = overall_scores(baseline(gt, out / "pose_only", "pose"), gt, keys, **options)
    frames = sum(len(c) for c in find_clips(gt).values())
    print(json.dumps({
        "benchmark": "honest_results", "model": str(args.model), "split": args.split,
        "clips": [j.id for j in jobs], "frames": frames,
        "steps": args.steps or renderer.bundle.meta.steps, "sampler": args.sampler or renderer.bundle.meta.sampler,
        "seconds_per_frame": timing, "results": results,
    }))


if __name__ == "__main__":
    main()
