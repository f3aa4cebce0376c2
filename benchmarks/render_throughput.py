"""Render throughput: the clip pipeline vs a naive per-frame loop, same model, same steps.

Naive = what FPDM's release does per frame: re-encode the source, sample the frame alone, and
run the three guidance branches as three separate UNet calls. Pipeline = `Renderer.render_video`:
source encoded once, frames batched, the guidance branches in one UNet call (2N). Both
include pose drawing, stage 1 and VAE decoding; neither writes a file.

Model: a tiny RANDOM-weight bundle (64x64, 32x32x4 latents; speed does not depend on the
weights). Prints one JSON line. Usage: python benchmarks/render_throughput.py [--frames 32 --steps 4]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from signgen.pose.draw import draw_pose
from signgen.pose.track import PoseTrack
from signgen.rendering.guidance import combine_guidance
from signgen.rendering.pipeline import Renderer
from signgen.rendering.settings import Settings
from signgen.rendering.random_bundle import random_bundle


def _track(n: int, w: int, h: int) -> PoseTrack:
    rng = np.random.default_rng(0)
    base = rng.uniform([8, 8], [w - 8, h - 8], (128, 2))
    xy = np.stack([base + 3 * np.sin(0.3 * t) for t in range(n)]).astype(np.float32)
    return PoseTrack(xy=xy, conf=np.ones((n, 128), np.float32), fps=25, width=w, height=h)


@torch.no_grad()
def naive(r: Renderer, image: np.ndarray, track: PoseTrack, steps: int, guidance: float) -> list[np.ndarray]:
    """One frame at a time: source re-encoded, three separate guidance passes per step."""
    stage1, stage2, sched_t = r.bundle.stage1, r.bundle.stage2, r.bundle.scheduler
    fit = r.fit(image.shape[1], image.shape[0])
    xy = fit.points_to_model(track.xy)
    masks = [torch.tensor([[True, True, True]]), torch.tensor([[False, False, True]]), torch.tensor([[False, False, False]])]
    frames = []
    for t in range(track.num_frames):
        src = r.image_tensor([fit.to_model(image)])
        emb, tokens = stage1.encoder.embed_and_tokens(src)
        src_latents = r.bundle.vae.encode(src) if stage2.config.src_latent_channels else None
        pose = r.image_tensor([draw_pose(xy[t], track.conf[t], fit.model_width, fit.model_height)])
        fused = stage1.fusion(emb, stage1.encoder.embed(pose))
        sched = type(sched_t).from_config(sched_t.config)
        sched.set_timesteps(steps)
        g = torch.Generator().manual_seed(0)  # FPDM re-seeds per frame
        x = torch.randn((1, *r.latent_shape), generator=g) * sched.init_noise_sigma
        for ts in sched.timesteps:
            xin = sched.scale_model_input(x, ts)
            eps = [stage2(xin, ts, fused, tokens, pose, drop_mask=m, src_latents=src_latents) for m in masks]
            x = sched.step(combine_guidance(*eps, w=guidance), ts, x, generator=g).prev_sample
        frames.append(fit.from_model(r.decode(x)[0]))
    return frames


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        r = Renderer.load(random_bundle(Path(tmp) / "tiny"), "cpu")
    image = (np.random.default_rng(1).random((64, 64, 3)) * 255).astype(np.uint8)
    track = _track(args.frames, 64, 64)
    settings = Settings(steps=args.steps, guidance=2.0, window=16, overlap=4, batch_size=8)
    list(r.render_video(image, track.slice(0, 4), settings))  # warm-up (allocator, kernels)
    naive(r, image, track.slice(0, 1), args.steps, 2.0)

    t0 = time.perf_counter()
    out = list(r.render_video(image, track, settings))
    t_pipe = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = naive(r, image, track, args.steps, 2.0)
    t_naive = time.perf_counter() - t0
    assert len(out) == len(ref) == args.frames
    print(json.dumps({
        "benchmark": "render_throughput", "model": "tiny random-weight bundle (64x64, 32x32x4 latents)",
        "frames": args.frames, "steps": args.steps, "threads": args.threads, "window": settings.window,
        "batch_size": settings.batch_size,
        "pipeline_fps": round(args.frames / t_pipe, 2), "naive_fps": round(args.frames / t_naive, 2),
        "speedup": round(t_naive / t_pipe, 2),
    }))


if __name__ == "__main__":
    main()
