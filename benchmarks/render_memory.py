"""Peak memory of rendering 50 vs 500 frames: it must not grow with the video's length.

Each length runs in its own subprocess (a fresh peak): the model is loaded and warmed up on a
few frames, then the clip is rendered and streamed into an .mp4. Reported per length: the
growth of the process's peak RSS over the warmed-up state (resource.getrusage ru_maxrss,
covers torch's CPU tensors) and the peak of Python/numpy allocations (tracemalloc).

Model: the bundled model with its default sampling (`--model` another bundle; `--random` a
tiny random-weight bundle), window 16. Prints one JSON line.
Usage: python benchmarks/render_memory.py [--lengths 50 500] [--steps N]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def child(frames: int, steps: int | None, bundle_dir: str) -> dict:
    import resource
    import tracemalloc

    import numpy as np
    import torch

    from signgen.pose.track import PoseTrack
    from signgen.rendering.pipeline import Renderer
    from signgen.rendering.settings import Settings
    from signgen.video import write_video

    torch.set_num_threads(1)
    r = Renderer.load(bundle_dir, "cpu")
    rng = np.random.default_rng(0)
    image = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
    base = rng.uniform(8, 56, (128, 2))
    xy = np.stack([base + 3 * np.sin(0.3 * t) for t in range(frames)]).astype(np.float32)
    track = PoseTrack(xy=xy, conf=np.ones((frames, 128), np.float32), fps=25, width=64, height=64)
    settings = Settings(steps=steps, window=16, overlap=4, batch_size=8)  # steps None: the bundle's
    with tempfile.TemporaryDirectory() as tmp:
        write_video(r.render_video(image, track.slice(0, 20), settings), Path(tmp) / "warm.mp4", 25)  # warm-up
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        tracemalloc.start()
        n = write_video(r.render_video(image, track, settings), Path(tmp) / "clip.mp4", 25)
        _, py_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert n == frames
    return {"frames": frames, "rss_growth_mb": round((after - before) / 1024, 1),
            "peak_rss_mb": round(after / 1024, 1), "tracemalloc_peak_mb": round(py_peak / 2**20, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", type=int, nargs="+", default=[50, 500])
    ap.add_argument("--steps", type=int, default=None, help="default: the bundle's")
    ap.add_argument("--model", default=None, help="bundle (default: the bundled model)")
    ap.add_argument("--random", action="store_true", help="a tiny random-weight bundle instead")
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--bundle", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.steps, args.bundle)))
        return
    from signgen.rendering.pipeline import DEFAULT_MODEL
    from signgen.rendering.random_bundle import random_bundle

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        bundle = random_bundle(Path(tmp) / "tiny") if args.random else Path(args.model or DEFAULT_MODEL)
        steps = [] if args.steps is None else ["--steps", str(args.steps)]
        for n in args.lengths:
            out = subprocess.run([sys.executable, __file__, "--child", str(n), *steps,
                                  "--bundle", str(bundle)], check=True, capture_output=True, text=True)
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    first, last = results[0], results[-1]
    print(json.dumps({
        "benchmark": "render_memory", "model": "tiny random-weight bundle" if args.random else str(bundle.name),
        "steps": args.steps or "the bundle's", "window": 16, "runs": results,
        "rss_growth_ratio": round(last["rss_growth_mb"] / max(first["rss_growth_mb"], 0.1), 2),
        "tracemalloc_ratio": round(last["tracemalloc_peak_mb"] / max(first["tracemalloc_peak_mb"], 1e-3), 2),
    }))


if __name__ == "__main__":
    main()
