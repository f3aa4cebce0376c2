"""Temporal scores: shared noise + latent smoothing vs independent noise without smoothing.

Ground truth: a procedural signer (signgen.synth) performing a real fingerspelling track from
spoken-to-signed's lexicon at 64x64; its first frame is the source, every frame's pose a target
(the PHOENIX test protocol). Both settings render the same clip with the same model, steps and
seed; flicker (minus the truth's own motion) and warping error (with the truth's optical flow)
are from signgen.eval.temporal.

Model: a tiny RANDOM-weight bundle: its frames are not signers, so the absolute values mean
little; the comparison between the two noise/smoothing settings is what this measures. Prints
one JSON line. Usage: python benchmarks/temporal_score.py [--frames 24 --steps 4]
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from signgen.eval import temporal
from signgen.rendering.pipeline import Renderer
from signgen.rendering.settings import Settings
from signgen.rendering.random_bundle import random_bundle

SIZE = 64


def ground_truth(frames: int, seed: int):
    """(frames [T, 64, 64, 3] uint8, canonical track) of a synthetic signer fingerspelling."""
    import spoken_to_signed

    from signgen.synth.identity import Identity
    from signgen.synth.motion import fingerspelling_track
    from signgen.synth.painter import paint_signer

    lex = Path(spoken_to_signed.__file__).parent / "assets" / "fingerspelling_lexicon"
    with open(lex / "index.csv", newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["signed_language"] == "gsg"]
    who = Identity.sample(seed)
    track = fingerspelling_track(who, lex / rows[0]["path"], width=SIZE, height=SIZE)
    for r in rows[1:]:
        if track.num_frames >= frames:
            break
        more = fingerspelling_track(who, lex / r["path"], width=SIZE, height=SIZE)
        track = track.concatenate([track, more.copy(fps=track.fps)])
    track = track.slice(0, frames)
    gt = np.stack([paint_signer(who, track.xy[t], track.conf[t], SIZE, SIZE) for t in range(frames)])
    return gt, track


def scores(pred: np.ndarray, gt: np.ndarray) -> dict:
    return {"flicker": round(temporal.flicker(pred, gt), 5),
            "warping_error": round(temporal.warping_error(pred, gt), 6)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    gt, track = ground_truth(args.frames, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        r = Renderer.load(random_bundle(Path(tmp) / "tiny"), "cpu")
    runs = {}
    for name, noise, smoothing in (("shared_smoothed", "shared", 0.5), ("independent_unsmoothed", "independent", 0.0)):
        s = Settings(steps=args.steps, seed=args.seed, noise=noise, smoothing=smoothing)
        runs[name] = scores(np.stack(list(r.render_video(gt[0], track, s))), gt)
    runs["copy_source"] = scores(np.repeat(gt[:1], len(gt), axis=0), gt)
    a, b = runs["shared_smoothed"], runs["independent_unsmoothed"]
    print(json.dumps({
        "benchmark": "temporal_score", "model": "tiny random-weight bundle (64x64)",
        "ground_truth": "synthetic signer, real gsg fingerspelling track", "frames": args.frames,
        "steps": args.steps, **runs,
        "warping_error_ratio": round(b["warping_error"] / max(a["warping_error"], 1e-12), 2),
    }))


if __name__ == "__main__":
    main()
