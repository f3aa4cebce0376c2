"""Shared fixtures: real data that ships with the dependencies, and a CLI runner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Tiny models run fastest on one thread (two threads of tiny ops mostly wait on each other),
# and the CI machine has 2 cores: one torch thread for the whole suite.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_configure(config) -> None:
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def fingerspelling_dir() -> Path:
    """The real fingerspelling lexicon (MediaPipe Holistic .pose tracks) shipped by spoken-to-signed."""
    import spoken_to_signed

    return Path(spoken_to_signed.__file__).parent / "assets" / "fingerspelling_lexicon"


@pytest.fixture(scope="session")
def real_pose_file(fingerspelling_dir: Path) -> Path:
    """One real .pose file: the German (gsg) fingerspelled letter A."""
    import csv

    with open(fingerspelling_dir / "index.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["signed_language"] == "gsg" and row["glosses"] == "A":
                return fingerspelling_dir / row["path"]
    raise AssertionError("fingerspelling lexicon has no gsg A")


@pytest.fixture
def cli(capsys):
    """Run the CLI in-process: returns (exit code, stdout, stderr)."""
    from signgen.cli import main

    def run(*args: str):
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


@pytest.fixture(scope="session")
def bundle(tmp_path_factory) -> Path:
    """One tiny random-weight model bundle per test session (rendering does not need trained weights)."""
    from signgen.rendering.random_bundle import random_bundle

    return random_bundle(tmp_path_factory.getbasetemp() / "tiny-bundle", steps=2)


@pytest.fixture
def tiny_prepared(tmp_path, real_pose_file) -> Path:
    """Three tiny clips c1, c2, c3 (3, 4, 3 frames of 40x32 noise, real keypoints scaled to
    them) with the test protocol: what `export` renders in the tests."""
    import numpy as np
    from PIL import Image

    from signgen.data.prepared import Clip, Pair, PreparedDataset
    from signgen.pose.io import read_track

    root, images = tmp_path / "prepared", tmp_path / "frames"
    ds = PreparedDataset.create(root, name="tiny", fps=25, width=40, height=32, image_root=images)
    real = read_track(real_pose_file).canonical()
    rng = np.random.default_rng(0)
    pairs = []
    for cid, n in {"c1": 3, "c2": 4, "c3": 3}.items():
        (images / cid).mkdir(parents=True)
        for t in range(n):
            Image.fromarray((rng.random((32, 40, 3)) * 255).astype(np.uint8)).save(images / cid / f"images{t:04d}.png")
        xy = real.xy[:n] * np.array([40 / real.width, 32 / real.height], np.float32)
        ds.add_clip(Clip(id=cid, split="test", num_frames=n, frames=cid),
                    real.slice(0, n).copy(xy=xy, width=40, height=32, fps=25.0))
        pairs += [Pair((cid, 0), (cid, t)) for t in range(n)]
    ds.save()
    ds.write_pairs("test", pairs)
    return root
