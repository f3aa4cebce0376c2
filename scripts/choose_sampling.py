"""Choose a bundle's default sampler and guidance weight on held-out *dev* clips (never test).

Renders a few dev clips (first frame as source, every frame's pose as target) with each
combination of `--samplers` and `--guidance`, scores them with `signgen eval`'s metrics and
prints one JSON line per combination, then the best by whole-frame SSIM (within 0.001 of the
best is a tie, which PSNR breaks). With `--write`, the
best sampler and weight become the bundle's defaults (its scheduler config and meta), with the
dev scores recorded in the meta, so the choice is visible in the bundle itself.

    python scripts/choose_sampling.py --model runs/diffusion/bundle --data prepared --clips 2 \
        --samplers ddpm ddim --guidance 1.0 1.5 --out /tmp/choose [--write]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from signgen.eval.report import evenly_spaced, overall_scores
from signgen.models.bundle import make_scheduler
from signgen.rendering.export import export, jobs_from_prepared
from signgen.rendering.pipeline import Renderer
from signgen.rendering.settings import Settings

SCHEDULERS = {"ddpm": "DDPMScheduler", "ddim": "DDIMScheduler"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--clips", type=int, default=2)
    ap.add_argument("--samplers", nargs="+", default=["ddpm", "ddim"], choices=sorted(SCHEDULERS))
    ap.add_argument("--guidance", nargs="+", type=float, default=[1.0, 1.5, 2.0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--write", action="store_true", help="make the best the bundle's defaults")
    args = ap.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = evenly_spaced(sorted(jobs_from_prepared(args.data, "dev"), key=lambda j: j.id), args.clips)
    renderer = Renderer.load(args.model, "cpu")
    base = dict(renderer.bundle.scheduler.config)
    found = {}
    for sampler in args.samplers:
        renderer.bundle.scheduler = make_scheduler({**base, "_class_name": SCHEDULERS[sampler]})
        for w in args.guidance:
            name = f"{sampler}-w{w:g}"
            export(jobs, out / name, renderer, Settings(guidance=w))
            found[name] = (sampler, w, overall_scores(out / name / "pred", out / name / "gt"))
            print(json.dumps({"sampler": sampler, "guidance": w, **found[name][2]}), flush=True)
    top = max(v[2]["ssim"] for v in found.values())  # SSIM within 0.001 of the best is a tie: PSNR decides
    best = max((k for k, v in found.items() if v[2]["ssim"] >= top - 0.001), key=lambda k: found[k][2]["psnr"])
    sampler, w, _ = found[best]
    summary = ", ".join(f"{k} SSIM {v[2]['ssim']:.3f} PSNR {v[2]['psnr']:.2f}" for k, v in found.items())
    print(json.dumps({"best": best, "dev": summary}))
    if args.write:  # the loaded bundle is float32 on the CPU: save it as it is, with the choice
        bundle = renderer.bundle
        bundle.scheduler = make_scheduler({**base, "_class_name": SCHEDULERS[sampler]})
        bundle.meta.sampler, bundle.meta.guidance = sampler, w
        bundle.meta.extra = {**bundle.meta.extra, "sampling_chosen_on": f"dev ({len(jobs)} clips): {summary}"}
        bundle.save(args.model)


if __name__ == "__main__":
    main()
