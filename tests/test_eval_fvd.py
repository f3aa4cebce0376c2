"""FVD with cd-fvd's I3D from a local weights file (random weights here: none can be downloaded),
and the same "skipped, other metrics reported" note as LPIPS and FID when there are none."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("cdfvd", reason="cd-fvd is not installed")


@pytest.fixture(scope="module")
def i3d_weights(tmp_path_factory) -> Path:
    import torch
    from cdfvd.third_party.i3d.pytorch_i3d import InceptionI3d
    from safetensors.torch import save_file

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("i3d") / "i3d.safetensors"
    save_file({k: v.contiguous() for k, v in InceptionI3d(400, in_channels=3).state_dict().items()}, str(path))
    return path


def _clip(folder: Path, frames) -> None:
    folder.mkdir(parents=True)
    for t, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"{t:05d}.png")


def _moving(seed: int, n: int = 16) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    base = (rng.random((32, 32, 3)) * 255).astype(np.uint8)
    return [np.roll(base, t, axis=1) for t in range(n)]


def test_fvd_is_zero_for_the_truth_and_positive_for_noise(cli, tmp_path, i3d_weights):
    for name, seed in (("a", 1), ("b", 2)):
        gt = _moving(seed)
        _clip(tmp_path / "gt" / name, gt)
        _clip(tmp_path / "same" / name, gt)
        noise = np.random.default_rng(seed + 10)
        _clip(tmp_path / "noise" / name, [(noise.random((32, 32, 3)) * 255).astype(np.uint8) for _ in gt])
    scores = {}
    for pred in ("same", "noise"):
        out = tmp_path / f"{pred}.json"
        code, stdout, err = cli("eval", tmp_path / pred, tmp_path / "gt", "--fvd-weights", i3d_weights, "--json", out)
        assert code == 0, err
        assert "FVD skipped" not in stdout and "(2 windows of 16 frames)" in stdout
        scores[pred] = json.loads(out.read_text())["overall"]["fvd"]
    assert abs(scores["same"]) < 1e-3 * max(1.0, scores["noise"]) and scores["noise"] > 0


def test_fvd_says_why_it_is_skipped(cli, tmp_path, i3d_weights):
    from signgen.eval.fvd import load_fvd

    assert load_fvd(None)[0] is None and "--fvd-weights" in load_fvd(None)[1]
    _clip(tmp_path / "gt" / "short", _moving(0, 8))
    _clip(tmp_path / "pred" / "short", _moving(0, 8))
    code, stdout, _ = cli("eval", tmp_path / "pred", tmp_path / "gt", "--fvd-weights", i3d_weights)
    assert code == 0 and "FVD skipped: it needs at least 2 windows of 16 frames, the clips give 0" in stdout
    assert "SSIM" in stdout  # the other metrics are reported
    bad = tmp_path / "bad.safetensors"
    from safetensors.numpy import save_file

    save_file({"x": np.zeros(3, np.float32)}, str(bad))
    code, _, err = cli("eval", tmp_path / "pred", tmp_path / "gt", "--fvd-weights", bad)
    assert code == 2 and "weights do not fit the I3D network" in err and len(err.strip().splitlines()) == 1
