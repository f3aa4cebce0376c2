"""A distilled student (`signgen train distill`) against its teacher, on held-out test clips.

Renders the test protocol (first frame as source, every frame's pose as target) of the same
clips with: the teacher at its own sampling (the bundled model: 20 DDPM steps); the student at
1, 2 and 4 LCM steps; and, as the baseline distillation has to beat, the *teacher* driven by the
student's LCMScheduler at the same steps (no training at all: the bundled model predicts clean
latents, so a few-step LCM sampler already runs it). Scores with `signgen eval`'s metrics (SSIM,
PSNR; whole frame and changed region) and seconds per frame on this machine. Each variant's
scores are stored in OUT/<variant>/scores.json, so an interrupted run resumes. Prints one JSON line.

    python benchmarks/distill_results.py --teacher signgen/assets/default-model \
        --student runs/distill/bundle --data data/prepared --clips 5 --out /tmp/distill-results
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from honest_results import scores, spread

from signgen.models.bundle import make_scheduler
from signgen.rendering.export import export, jobs_from_prepared
from signgen.rendering.pipeline import Renderer, Settings
from signgen.train.distill import lcm_scheduler_config


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
    args = ap.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = spread(sorted(jobs_from_prepared(args.data, args.split), key=lambda j: j.id), args.clips)
    teacher, student = Renderer.load(args.teacher, "cpu"), Renderer.load(args.student, "cpu")
    # The teacher's own weights driven by the student's few-step LCM scheduler: what distillation must beat.
    teacher_lcm = Renderer.load(args.teacher, "cpu")
    sc = student.bundle.scheduler.config
    teacher_lcm.bundle.scheduler = make_scheduler(lcm_scheduler_config(
        teacher.bundle.scheduler.config, sc.get("original_inference_steps", 50), sc.get("timestep_scaling", 10.0)))
    meta = teacher.bundle.meta
    variants = {f"teacher_{meta.sampler}{meta.steps}": (teacher, Settings())}
    for s in args.steps:
        variants[f"student_lcm{s}"] = (student, Settings(steps=s))
        variants[f"teacher_lcm{s}"] = (teacher_lcm, Settings(steps=s, guidance=1.0))
    results = {}
    for name, (renderer, settings) in variants.items():
        saved = out / name / "scores.json"
        if not saved.is_file() and (args.only is None or name in args.only):
            start = time.perf_counter()
            done = export(jobs, out / name, renderer, settings)
            row = {**scores(out / name / "pred", out / name / "gt"),
                   "seconds_per_frame": round((time.perf_counter() - start) / max(done["frames"], 1), 4)}
            saved.write_text(json.dumps(row) + "\n", encoding="utf-8")
        if saved.is_file():
            results[name] = json.loads(saved.read_text(encoding="utf-8"))
    print(json.dumps({"benchmark": "distill_results", "teacher": str(args.teacher), "student": str(args.student),
                      "student_meta": student.bundle.meta.extra, "split": args.split,
                      "clips": [j.id for j in jobs], "results": results}))


if __name__ == "__main__":
    main()
