"""Stage-2 training speed with and without the feature cache, in one run: prints ONE JSON line.

Builds a small synthetic prepared dataset in a temporary folder, trains the `tiny` size for a
few steps twice (cache on, cache off) from the same config, and reads the steps/second of the
training loop itself (cache building and start-up excluded) from each run's log.csv.

    python benchmarks/train_cache.py [--steps 12] [--batch 16] [--threads 1]
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import warnings
from pathlib import Path


def _steps_per_second(run: Path, skip: int) -> float:
    with open(run / "log.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["elapsed"]]
    a, b = rows[skip - 1], rows[-1]
    return (int(b["step"]) - int(a["step"])) / (float(b["elapsed"]) - float(a["elapsed"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--precision", default="bf16", choices=["no", "bf16"])
    args = parser.parse_args()

    import torch

    from signgen.config import load_config
    from signgen.train import train_stage
    from signgen.train.toy import make_toy_prepared

    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    config = Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml"
    skip = 2  # the first steps include one-off warm-up
    out: dict = {"benchmark": "train_cache", "size": "tiny", "batch": args.batch, "steps": args.steps,
                 "threads": args.threads, "precision": args.precision}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_toy_prepared(tmp / "toy", clips=4, frames=8, pairs_per_clip=16)
        for cached in (True, False):
            cfg = load_config(config, [
                f"diffusion.steps={args.steps}", f"diffusion.batch_size={args.batch}", "diffusion.warmup=0",
                f"train.cache={str(cached).lower()}", "train.log_every=1", "train.sample_every=0",
                f"train.checkpoint_every={args.steps}", f"train.mixed_precision={args.precision}",
            ])
            run = tmp / f"run-{cached}"
            train_stage("diffusion", cfg, tmp / "toy" / "prepared", run, progress=False)
            out["steps_per_s_cache" if cached else "steps_per_s_no_cache"] = round(_steps_per_second(run, skip), 3)
    out["ratio"] = round(out["steps_per_s_cache"] / out["steps_per_s_no_cache"], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
