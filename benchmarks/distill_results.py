"""A distilled student (`signgen train distill`) against its teacher, on held-out test clips.

Renders the test protocol (first frame as source, every frame's pose as target) of the same
clips with: the teacher at FPDM's 20 DDPM steps and at its own default sampling; the student at
1, 2 and 4 LCM steps; and, as the baseline distillation has to beat, the *teacher* driven by the
"lcm" sampler at the same steps (no training at all: the bundled model predicts clean latents,
so a few-step LCM sampler already runs it). Scores with `signgen eval`'s metrics (SSIM,
PSNR; whole frame and changed region), seconds per frame on this machine, and a blur measure
SSIM and PSNR do not see: `sharpness`, the variance of the Laplacian of the predicted frames over
that of the ground truth (1 = as much fine detail as the truth; a mean prediction scores low). Each variant's
scores are stored in OUT/<variant>/scores.json, so an interrupted run resumes. Prints one JSON line.

    python benchmarks/distill_results.py --teacher signgen/assets/default-model \
        --student runs/distill/bundle --data data/prepared --clips 5 --out /tmp/distill-results
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.ndimage import laplace

from signgen.eval.report import evenly_spaced, overall_scores
from signgen.rendering.export import export, jobs_from_prepared
from signgen.rendering.pipeline import Renderer
from signgen.rendering.settings import Settings


def _detail(folder: Path) -> float:
    """Mean variance of the Laplacian of every frame (grey, [0, 1]) under `folder`/<clip>/*.png."""
    values = [laplace(np.asarray(Image.open(f).convert("L"), np.float64) / 255.0).var()
              for f in sorted(folder.glob("*/*.png"))]
    return float(np.mean(values))


def sharpness(pred: Path, gt: Path) -> float:
    """Fine detail of the predictions relative to the ground truth's (1 = equal)."""
    return round(_detail(pred) / _detail(gt), 4)


def interleaved_timing(job, variants: dict, frames: int, rounds: int) -> dict[str, float]:
    """Median seconds per frame of each variant on the first `frames` frames of one clip, the
    variants taking turns `rounds` times: on a shared machine the load then hits all alike."""
    from signgen.rendering.inputs import fit_motion, load_source

    image, path = load_source(job.source)
    track = fit_motion(job.poses, image, str(path), retarget=False)
    track = track.copy(xy=track.xy[:frames], conf=track.conf[:frames])
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, (renderer, settings) in variants.items():
            start = time.perf_counter()
            n = sum(1 for _ in renderer.render_video(image, track, settings))
            times[name].append((time.perf_counter() - start) / n)
    return {name: round(float(np.median(v)), 4) for name, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--teacher", required=True)
    ap.add_argument("--student", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--clips", type=int, default=5)
    ap.add_argument("--steps", type=int, nargs="+", default=[1, 2, 4], help="student steps to measure")
    ap.add_argument("--only", nargs="*", default=None, help="variant names to run now (default: all)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--timing", type=int, default=0,
                    help="also time N frames of the first clip with every variant, interleaved, --rounds times")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--precision", default="fp32", help="the UNet's precision for every variant (fp32, bf16, auto)")
    args = ap.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = evenly_spaced(sorted(jobs_from_prepared(args.data, args.split), key=lambda j: j.id), args.clips)
    teacher, student = Renderer.load(args.teacher, "cpu"), Renderer.load(args.student, "cpu")
    meta = teacher.bundle.meta
    variants = {"teacher_ddpm20": (teacher, Settings(steps=20, sampler="ddpm", precision=args.precision)),
                f"teacher_{meta.sampler}{meta.steps}": (teacher, Settings(precision=args.precision))}
    for s in args.steps:
        variants[f"student_lcm{s}"] = (student, Settings(steps=s, precision=args.precision))
        # The teacher's own weights under the "lcm" sampler: what distillation must beat.
        variants[f"teacher_lcm{s}"] = (teacher, Settings(steps=s, sampler="lcm", guidance=1.0,
                                                          precision=args.precision))
    results = {}
    for name, (renderer, settings) in variants.items():
        saved = out / name / "scores.json"
        if not saved.is_file() and (args.only is None or name in args.only):
            start = time.perf_counter()
            done = export(jobs, out / name, renderer, settings)
            row = {**overall_scores(out / name / "pred", out / name / "gt"),
                   "seconds_per_frame": round((time.perf_counter() - start) / max(done["frames"], 1), 4)}
            saved.write_text(json.dumps(row) + "\n", encoding="utf-8")
        if saved.is_file():
            results[name] = json.loads(saved.read_text(encoding="utf-8"))
            if "sharpness" not in results[name] and (out / name / "pred").is_dir():
                results[name]["sharpness"] = sharpness(out / name / "pred", out / name / "gt")
                saved.write_text(json.dumps(results[name]) + "\n", encoding="utf-8")
    timing = interleaved_timing(jobs[0], variants, args.timing, args.rounds) if args.timing else {}
    print(json.dumps({"benchmark": "distill_results", "teacher": str(args.teacher), "student": str(args.student),
                      "student_meta": student.bundle.meta.extra, "split": args.split,
                      "clips": [j.id for j in jobs], "results": results,
                      **({"interleaved_seconds_per_frame": timing, "timing_frames": args.timing} if timing else {})}))


if __name__ == "__main__":
    main()
