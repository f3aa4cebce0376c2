"""GPU smoke test, for whoever has a GPU: train each stage a few steps and render 32 frames.

A random-init bundle of a paper size (`--size phoenix`: CLIP ViT-L/14 stage 1, SD 2.1-base-sized
UNet and VAE, 256x256), a toy prepared dataset at that size, then under accelerate with bf16
mixed precision: `--steps` optimiser steps of the VAE, stage 1 (fusion) and stage 2 (diffusion),
and a 32-frame render with the bundled model's sampler and steps (the same code path as on the
CPU: fp16 weights on CUDA, PyTorch SDPA attention inside diffusers, channels_last UNet;
`--compile` adds torch.compile). Prints s/step per stage, s/frame, peak memory; exits 1 if any
loss or UNet output is NaN/inf. Meant to finish in under 5 minutes on one GPU; on a CPU,
`--size tiny --device cpu` checks the script itself.

    python benchmarks/gpu_smoke.py [--size phoenix] [--device auto] [--steps 4] [--frames 32] [--compile]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def seconds_per_step(run: Path) -> tuple[float, bool]:
    """(s/step after the first logged step, all losses finite) from a run's log.csv."""
    with open(run / "log.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("elapsed")]
    finite = all(math.isfinite(float(v)) for r in rows for k, v in r.items()
                 if k not in ("step", "elapsed") and v not in ("", None))
    if len(rows) < 2:
        return float(rows[-1]["elapsed"]) / max(1, int(rows[-1]["step"])), finite
    a, b = rows[0], rows[-1]
    return (float(b["elapsed"]) - float(a["elapsed"])) / (int(b["step"]) - int(a["step"])), finite


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="phoenix", choices=["tiny", "phoenix", "deepfashion"])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=4, help="optimiser steps per stage")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--compile", action="store_true", help="torch.compile the UNet for the render")
    args = ap.parse_args()

    from signgen.config import load_config
    from signgen.models.bundle import BundleMeta, load_bundle
    from signgen.models.device import pick_device
    from signgen.models.sizes import get_size
    from signgen.pose.track import PoseTrack
    from signgen.rendering.pipeline import DEFAULT_MODEL, Renderer, default_dtype
    from signgen.rendering.random_bundle import random_bundle
    from signgen.rendering.settings import Settings
    from signgen.train import train_stage
    from signgen.train.toy import make_toy_prepared

    warnings.simplefilter("ignore")
    device = pick_device(args.device)
    spec = get_size(args.size)
    h, w = spec.image_size
    precision = "bf16" if device.type == "cpu" or torch.cuda.is_bf16_supported() else "fp16"
    out: dict = {"benchmark": "gpu_smoke", "size": args.size, "device": str(device), "precision": precision}
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_toy_prepared(tmp / "toy", clips=3, frames=6, size=max(h, w), pairs_per_clip=8)
        data = tmp / "toy" / "prepared"
        base = [f"model.size={args.size}", "train.log_every=1", "train.sample_every=0", "train.cache=false",
                f"train.checkpoint_every={args.steps}", f"train.mixed_precision={precision}", "data.val_split=null"]
        runs = {}
        for stage in ("vae", "fusion", "diffusion"):
            extra = [f"{stage}.steps={args.steps}", f"{stage}.batch_size={args.batch}", f"{stage}.warmup=0"]
            if stage == "diffusion":
                extra += [f"model.vae_path={runs['vae']}", f"model.stage1_path={runs['fusion']}"]
            cfg = load_config(CONFIGS / ("tiny.yaml" if args.size == "tiny" else f"{args.size}.yaml"), base + extra)
            runs[stage] = tmp / stage
            t0 = time.perf_counter()
            train_stage(stage, cfg, data, runs[stage], progress=False)
            s_step, finite = seconds_per_step(runs[stage])
            out[f"{stage}_s_per_step"] = round(s_step, 3)
            out[f"{stage}_wall_s"] = round(time.perf_counter() - t0, 1)
            ok &= finite
        default = BundleMeta.from_dict(json.loads((DEFAULT_MODEL / "bundle.json").read_text())["meta"])
        bundle = load_bundle(random_bundle(tmp / "bundle", args.size), device, default_dtype(device))
        r = Renderer(bundle)
        if device.type == "cuda":
            r.bundle.stage2.unet.to(memory_format=torch.channels_last)
        if args.compile:
            r.bundle.stage2.unet = torch.compile(r.bundle.stage2.unet)
        bad = []
        r.bundle.stage2.unet.register_forward_hook(lambda m, i, o: bad.append(not torch.isfinite(o.sample).all()))
        rng = np.random.default_rng(0)
        image = (rng.random((h, w, 3)) * 255).astype(np.uint8)
        pts = rng.uniform([w * 0.2, h * 0.2], [w * 0.8, h * 0.8], (128, 2))
        xy = np.stack([pts + 4 * np.sin(0.3 * t) for t in range(args.frames)]).astype(np.float32)
        track = PoseTrack(xy=xy, conf=np.ones((args.frames, 128), np.float32), fps=25, width=w, height=h)
        settings = Settings(sampler=default.sampler, steps=default.steps, guidance=default.guidance)
        list(r.render_video(image, track.slice(0, 2), settings))  # warm-up (and compilation)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        frames = list(r.render_video(image, track, settings))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        out["render_s_per_frame"] = round((time.perf_counter() - t0) / len(frames), 4)
        out["render_settings"] = f"{default.sampler} {default.steps} steps, w={default.guidance:g}"
        ok &= not any(bad) and len(frames) == args.frames
    out["peak_memory_mb"] = round(peak_memory_mb(device), 1)
    out["finite"] = bool(ok)
    print(json.dumps(out))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
