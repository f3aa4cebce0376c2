"""Render throughput and quality of the bundled model, each speed lever on top of the last.

On the same held-out clips (the first `--frames` frames of `--clips` test clips of a prepared
synthetic world: first frame as source, every frame's pose as target, exact ground truth), in
one run:

- `fpdm_naive`: FPDM's release loop: per frame, source re-encoded, the three guidance branches
  as three UNet calls, 20 DDPM steps, fp32;
- `today`: the pipeline before these levers: frames batched, source encoded once, uncond + full
  branches in one call (even at w = 1), conditions re-encoded at every step, 20 DDPM, fp32;
- `exact_branches`: only the branches of nonzero weight (w = 1: one);
- `encode_once`: + each frame's pose and fusion embedding encoded once, not per step;
- `bf16`: + the UNet under bf16 autocast (this CPU has AVX512-BF16);
- `few_steps`: + the bundle's sampler and steps (fp32), chosen on dev clips;
- `default`: what `signgen render` does now (bundle defaults, precision auto: the UNet and the
  VAE decoder in bf16);
- `default_4_steps`: the same with one step more.

For each: frames/s, SSIM / PSNR (pooled) / hand-crop SSIM against the ground truth, and for
`today` and `default` where the time goes. Also the image difference bf16 makes (mean absolute
pixel difference, SSIM) at equal sampler and steps. One JSON line.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/render_throughput.py --data /work/data-speed/prepared
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from signgen.base.images import read_image
from signgen.eval.metrics import mse, psnr_from_mse, ssim
from signgen.pose.draw import draw_pose
from signgen.pose.layouts import canonical as C
from signgen.rendering.export import jobs_from_prepared
from signgen.rendering.guidance import GuidedDenoiser, branch_weights, combine_guidance
from signgen.rendering.inputs import fit_motion, load_source
from signgen.rendering.pipeline import Renderer
from signgen.rendering.settings import Settings
from signgen.rendering.timing import recording, timed
from signgen.video import write_video

HANDS = slice(C.LEFT_HAND_START, C.FACE_START)  # both hands of the canonical layout


class PerStepRenderer(Renderer):
    """The renderer with stage 2's conditioners run inside every UNet call (as before the levers);
    `all_branches`: uncond + full even where a weight is 0."""

    all_branches = True

    def denoiser(self, source, conditions, guidance, fusion_guidance=None, precision="fp32"):
        stage2 = self.bundle.stage2
        weights = {"uncond": 1.0 - guidance, "full": guidance} if self.all_branches else branch_weights(guidance)

        @torch.no_grad()
        def branches(x_t, t, frame_index, names):
            poses, fused = conditions.inputs(frame_index)
            with timed("unet"):  # the conditioners run inside, as they did
                out = stage2.forward_branches(x_t.to(self.dtype), t, fused, source.tokens, poses, names,
                                              src_latents=source.latents)
            return tuple(o.float() for o in out)

        return GuidedDenoiser(branches, weights)


class ExactBranchRenderer(PerStepRenderer):
    all_branches = False


@torch.no_grad()
def fpdm_naive(r: Renderer, image: np.ndarray, track, steps: int, guidance: float) -> list[np.ndarray]:
    """One frame at a time: source re-encoded, three separate guidance passes per step, 20 DDPM."""
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


def hand_box(xy: np.ndarray, conf: np.ndarray, w: int, h: int, margin: int = 4, least: int = 12):
    """A box around both hands' visible keypoints (at least `least` px a side), or None."""
    pts = xy[HANDS][conf[HANDS] > 0]
    if len(pts) == 0:
        return None
    x0, y0 = np.floor(pts.min(0)).astype(int) - margin
    x1, y1 = np.ceil(pts.max(0)).astype(int) + margin
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    half_w, half_h = max(x1 - x0, least) // 2, max(y1 - y0, least) // 2
    x0, x1 = max(0, cx - half_w), min(w, cx + half_w)
    y0, y1 = max(0, cy - half_h), min(h, cy + half_h)
    return (y0, y1, x0, x1) if x1 - x0 >= 7 and y1 - y0 >= 7 else None


def quality(frames: list[np.ndarray], clips: list[dict]) -> dict:
    """SSIM, pooled PSNR and hand-crop SSIM of the frames (clip after clip) against the truth."""
    s, m, hands = [], [], []
    it = iter(frames)
    for clip in clips:
        for t, gt in enumerate(clip["gt"]):
            pred = next(it)
            s.append(ssim(pred, gt))
            m.append(mse(pred, gt))
            box = hand_box(clip["track"].xy[t], clip["track"].conf[t], gt.shape[1], gt.shape[0])
            if box is not None:
                y0, y1, x0, x1 = box
                hands.append(ssim(pred[y0:y1, x0:x1], gt[y0:y1, x0:x1]))
    return {"ssim": round(float(np.mean(s)), 4), "psnr": round(psnr_from_mse(float(np.mean(m))), 3),
            "hand_ssim": round(float(np.mean(hands)), 4)}


def difference(a: list[np.ndarray], b: list[np.ndarray]) -> dict:
    mad = float(np.mean([np.abs(x.astype(np.float32) - y).mean() for x, y in zip(a, b)]))
    return {"mean_abs_pixel_diff": round(mad, 3), "ssim": round(float(np.mean([ssim(x, y) for x, y in zip(a, b)])), 4)}


def render_all(renderer: Renderer, clips: list[dict], settings: Settings) -> tuple[list[np.ndarray], float, dict]:
    with recording() as parts:
        t0 = time.perf_counter()
        frames = [f for c in clips for f in renderer.render_video(c["image"], c["track"], settings)]
        seconds = time.perf_counter() - t0
    return frames, seconds, dict(parts)


def breakdown(parts: dict, seconds: float, frames: list[np.ndarray], fps: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp, recording():
        t0 = time.perf_counter()
        write_video(iter(frames), Path(tmp) / "clip.mp4", fps)
        parts = {**parts, "ffmpeg": time.perf_counter() - t0}
    parts["other"] = seconds - sum(v for k, v in parts.items() if k != "ffmpeg")
    return {k: round(v / len(frames) * 1000, 2) for k, v in sorted(parts.items(), key=lambda kv: -kv[1])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="bundle (default: the bundled model)")
    ap.add_argument("--data", required=True, help="a prepared synthetic world")
    ap.add_argument("--split", default="test")
    ap.add_argument("--clips", type=int, default=3)
    ap.add_argument("--frames", type=int, default=12, help="first frames of each clip")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    jobs = sorted(jobs_from_prepared(args.data, args.split), key=lambda j: j.id)[: args.clips]
    clips = []
    for job in jobs:
        image, path = load_source(job.source)
        track = fit_motion(job.poses, image, str(path), retarget=False)
        n = min(args.frames, track.num_frames)
        clips.append({"image": image, "track": track.slice(0, n), "gt": [read_image(p) for p in job.gt_frames[:n]]})
    total = sum(c["track"].num_frames for c in clips)
    load = os.getloadavg()[0]

    renderers = {cls: cls.load(args.model, "cpu") for cls in (Renderer, PerStepRenderer, ExactBranchRenderer)}
    r = renderers[Renderer]
    meta = r.bundle.meta
    ddpm20 = Settings(sampler="ddpm", steps=20, precision="fp32")
    fast = Settings(precision="fp32")  # the bundle's sampler and steps
    variants = {
        "today": (PerStepRenderer, ddpm20),
        "exact_branches": (ExactBranchRenderer, ddpm20),
        "encode_once": (Renderer, ddpm20),
        "bf16": (Renderer, dataclasses.replace(ddpm20, precision="bf16")),
        "few_steps": (Renderer, fast),
        "default": (Renderer, Settings()),
        "default_4_steps": (Renderer, Settings(steps=4)),  # one step more than the default, for the record
    }
    for cls, s in variants.values():  # warm-up: allocator, oneDNN kernels of each precision
        list(renderers[cls].render_video(clips[0]["image"], clips[0]["track"].slice(0, 2), dataclasses.replace(s, steps=2)))

    results, outputs, parts = {}, {}, {}
    t0 = time.perf_counter()
    naive = [f for c in clips for f in fpdm_naive(r, c["image"], c["track"], 20, meta.guidance)]
    seconds = time.perf_counter() - t0
    results["fpdm_naive"] = {"fps": round(total / seconds, 3), **quality(naive, clips)}
    for name, (cls, s) in variants.items():
        frames, seconds, p = render_all(renderers[cls], clips, s)
        outputs[name], parts[name] = frames, (p, seconds)
        results[name] = {"fps": round(total / seconds, 3), **quality(frames, clips)}
        print(json.dumps({name: results[name]}), flush=True)
    base = results["today"]["fps"]
    for name, row in results.items():
        row["x_today"] = round(row["fps"] / base, 2)
        row["x_naive"] = round(row["fps"] / results["fpdm_naive"]["fps"], 2)
    order = list(variants)
    gains = {name: round(results[name]["fps"] / results[prev]["fps"], 2)
             for prev, name in zip(order, order[1:]) if not name.startswith("default")}
    gains["vae_bf16_and_auto"] = round(results["default"]["fps"] / results["few_steps"]["fps"], 2)
    d = results["default"]
    print(json.dumps({
        "benchmark": "render_throughput", "model": str(meta.size) + (f" {args.model}" if args.model else " bundled"),
        "clips": len(clips), "frames": total, "threads": args.threads, "load_average_at_start": round(load, 1),
        "default_settings": f"{meta.sampler} {meta.steps} steps, w={meta.guidance:g}, precision "
                            f"{r.precision(Settings())}",
        "results": results, "lever_gains": gains,
        "ms_per_frame_today": breakdown(*parts["today"], outputs["today"], clips[0]["track"].fps),
        "ms_per_frame_default": breakdown(*parts["default"], outputs["default"], clips[0]["track"].fps),
        "bf16_vs_fp32_ddpm20": difference(outputs["bf16"], outputs["encode_once"]),
        "bf16_vs_fp32_default": difference(outputs["default"], outputs["few_steps"]),
        "equal_quality": bool(d["ssim"] >= results["today"]["ssim"] - 0.005
                              and d["psnr"] >= results["today"]["psnr"] - 0.3),
    }))


if __name__ == "__main__":
    main()
