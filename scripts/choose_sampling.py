"""Choose a bundle's default sampler, steps and guidance on held-out *dev* clips (never test).

Renders the first `--frames` frames of a few dev clips (first frame as source, every frame's
pose as target) with the bundle's current defaults (the reference) and with each combination of
`--samplers`, `--steps` and `--guidance`, scores them with `signgen eval`'s metrics and prints
one JSON line each. The choice is the cheapest combination (fewest steps, then best SSIM) whose
dev scores are equal to the reference's: SSIM within `--ssim-tol` (0.005) and PSNR within
`--psnr-tol` dB (0.3), and, with `--legibility C --labels R/groundtruth/phoenix` (synthetic dev
clips), the share of hands the classifier reads right within `--legibility-tol` (0.03): a few
steps can keep SSIM and PSNR and still blur the fingers, which only legibility sees. With
`--most-legible` the rule puts the hands first: the most legible combination whose whole-frame
and region PSNR stay within `--psnr-tol` of the reference's (fewer UNet calls break ties; SSIM
is reported, not required). Rendering is resumable: a second run with the same `--out` only
re-scores. With `--write` it becomes the bundle's defaults (meta sampler, steps,
guidance), with the dev scores in the meta, so the choice is visible in the bundle itself.

    python scripts/choose_sampling.py --model signgen/assets/default-model --data prepared \
        --clips 3 --frames 24 --samplers dpm++ unipc ddim --steps 4 6 8 --guidance 1.0 --out /tmp/choose \
        [--legibility runs/legibility --labels synthetic/groundtruth/phoenix] [--write]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from signgen.eval.report import PART_SCORE_KEYS, SCORE_KEYS, evenly_spaced, overall_scores
from signgen.rendering.export import export, first_frames, jobs_from_prepared
from signgen.rendering.pipeline import Renderer
from signgen.rendering.settings import SAMPLERS, Settings


def _unet_calls(steps: int, guidance: float) -> int:
    """UNet evaluations per frame: one branch at w = 1, two (unconditional + full) otherwise."""
    return steps * (1 if guidance == 1 else 2)


def _read(scores: dict) -> str:
    """", legibility 32.4%" when the scores have it, else ""."""
    return "" if scores.get("legibility") is None else f", legibility {100 * scores['legibility']:.1f}%"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--clips", type=int, default=3)
    ap.add_argument("--frames", type=int, default=24, help="first frames of each clip")
    ap.add_argument("--samplers", nargs="+", default=["dpm++", "unipc", "ddim"], choices=SAMPLERS)
    ap.add_argument("--steps", nargs="+", type=int, default=[4, 6, 8])
    ap.add_argument("--guidance", nargs="+", type=float, default=None, help="default: the bundle's")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--ssim-tol", type=float, default=0.005)
    ap.add_argument("--psnr-tol", type=float, default=0.3)
    ap.add_argument("--legibility", default=None, help="hand classifier (signgen train legibility)")
    ap.add_argument("--labels", default=None, help="with --legibility: the release's groundtruth/phoenix")
    ap.add_argument("--legibility-tol", type=float, default=0.03)
    ap.add_argument("--most-legible", action="store_true",
                    help="with --legibility: the most legible combination whose whole-frame and region PSNR stay "
                         "within --psnr-tol of the reference's (SSIM may drop: reported, not required)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--write", action="store_true", help="make the choice the bundle's defaults")
    args = ap.parse_args()

    if args.most_legible and not args.legibility:
        ap.error("--most-legible needs --legibility")
    if args.legibility and not args.labels:
        ap.error("--legibility needs --labels (the synthetic release's groundtruth/phoenix)")
    options = {"legibility": args.legibility, "labels": args.labels} if args.legibility else {}
    keys = SCORE_KEYS + PART_SCORE_KEYS if options else SCORE_KEYS
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [first_frames(j, args.frames)
            for j in evenly_spaced(sorted(jobs_from_prepared(args.data, "dev"), key=lambda j: j.id), args.clips)]
    renderer = Renderer.load(args.model, "cpu")
    meta = renderer.bundle.meta
    export(jobs, out / "reference", renderer, Settings(precision="fp32"))
    ref = overall_scores(out / "reference" / "pred", out / "reference" / "gt", keys, **options)
    print(json.dumps({"reference": f"{meta.sampler} {meta.steps} steps w={meta.guidance:g} fp32", **ref}), flush=True)
    found = {}
    for sampler in args.samplers:
        for steps in args.steps:
            for w in args.guidance or [meta.guidance]:
                name = f"{sampler}-{steps}-w{w:g}"
                export(jobs, out / name, renderer, Settings(sampler=sampler, steps=steps, guidance=w,
                                                            precision=args.precision))
                found[name] = (sampler, steps, w, overall_scores(out / name / "pred", out / name / "gt", keys, **options))
                print(json.dumps({"sampler": sampler, "steps": steps, "guidance": w, **found[name][3]}), flush=True)
    if args.most_legible:  # hands first: the most legible combination that keeps both PSNRs
        equal = {k: v for k, v in found.items()
                 if v[3]["psnr"] >= ref["psnr"] - args.psnr_tol and v[3]["psnr_region"] >= ref["psnr_region"] - args.psnr_tol}
    else:
        equal = {k: v for k, v in found.items()
                 if v[3]["ssim"] >= ref["ssim"] - args.ssim_tol and v[3]["psnr"] >= ref["psnr"] - args.psnr_tol
                 and (not options or (v[3]["legibility"] or 0) >= (ref["legibility"] or 0) - args.legibility_tol)}
    if not equal:
        print(json.dumps({"best": None, "why": "no combination matches the reference on dev"}))
        return
    if args.most_legible:
        best = max(equal, key=lambda k: (equal[k][3]["legibility"] or 0, -_unet_calls(equal[k][1], equal[k][2])))
    else:
        best = min(equal, key=lambda k: (equal[k][1], -equal[k][3]["ssim"]))
    sampler, steps, w, sc = found[best]
    summary = (f"{best}: SSIM {sc['ssim']:.3f} PSNR {sc['psnr']:.2f} dB{_read(sc)} vs {meta.sampler}-{meta.steps}: "
               f"SSIM {ref['ssim']:.3f} PSNR {ref['psnr']:.2f} dB{_read(ref)}")
    print(json.dumps({"best": best, "dev": summary}))
    if args.write:  # the loaded bundle is float32 on the CPU: save it as it is, with the choice
        bundle = renderer.bundle
        bundle.meta.sampler, bundle.meta.steps, bundle.meta.guidance = sampler, steps, w
        clips = f"dev ({len(jobs)} clips x {args.frames} frames)"
        bundle.meta.extra = {**bundle.meta.extra, "sampling_chosen_on": f"{clips}: {summary}"}
        bundle.save(args.model)


if __name__ == "__main__":
    main()
