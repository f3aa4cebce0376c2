"""The bundled default model: shipped inside the package, small, and used when --model is absent.

These run the README's first command the way a newcomer would (examples/ and a real photo),
with few denoising steps and a low frame rate so the suite stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from signgen.rendering.pipeline import DEFAULT_MODEL

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _frames(path: Path) -> tuple[int, tuple[int, ...], np.ndarray]:
    from signgen.video import read_video, video_info

    n = video_info(path)[0]
    frames, _ = read_video(path)
    frames = list(frames)
    return n, frames[0].shape, np.stack(frames)


def test_bundle_is_in_the_package_small_and_trained():
    files = [p for p in DEFAULT_MODEL.rglob("*") if p.is_file()]
    assert (DEFAULT_MODEL / "bundle.json").is_file()
    assert sum(p.stat().st_size for p in files) < 40_000_000
    assert not [p for p in files if p.suffix in (".pt", ".pth", ".bin", ".pkl", ".ckpt")]  # safetensors only
    meta = json.loads((DEFAULT_MODEL / "bundle.json").read_text())
    text = json.dumps(meta)
    assert '"size": "small"' in text and "trained_steps" in text
    assert meta["meta"]["image_size"] == [160, 128]  # PHOENIX-2014-T's aspect


def test_render_examples_without_model_flag(cli, tmp_path):
    """The README's first command: examples/ -> an mp4, with the bundled model."""
    out = tmp_path / "sentence.mp4"
    code, stdout, err = cli("render", "--source", EXAMPLES / "signer-1.png", "--poses", EXAMPLES / "sentence.json",
                            "--fps", "5", "--steps", "3", "-o", out, "-q")
    assert code == 0, err
    n, shape, frames = _frames(out)
    assert n >= 5 and shape == (320, 256, 3)  # the picture's size
    # A signer, not noise or a flat frame: the output keeps the source's colours and moves.
    from signgen.base.images import read_image

    src = read_image(EXAMPLES / "signer-1.png").astype(np.float32)
    mean = frames.astype(np.float32).mean(axis=0)
    assert np.abs(mean.mean(axis=(0, 1)) - src.mean(axis=(0, 1))).max() < 40
    assert frames.std() > 10 and np.abs(np.diff(frames.astype(np.float32), axis=0)).mean() > 0.1


def test_render_gloss_example_and_pose_file_without_model_flag(cli, tmp_path):
    out = tmp_path / "hallo.gif"
    code, _, err = cli("render", "--source", EXAMPLES / "signer-2.png", "--poses", EXAMPLES / "hallo.json",
                       "--fps", "4", "--steps", "2", "--side-by-side", "-o", out, "-q")
    assert code == 0, err
    n, shape, _ = _frames(out)
    assert n >= 4 and shape == (320, 3 * 256, 3)
    out = tmp_path / "pose.mp4"
    code, _, err = cli("render", "--source", EXAMPLES / "signer-3.png", "--poses", EXAMPLES / "sentence.pose",
                       "--fps", "3", "--steps", "2", "-o", out, "-q")
    assert code == 0, err
    assert _frames(out)[0] >= 3


def test_render_a_real_photo_with_the_bundled_model(cli, tmp_path):
    """skimage's astronaut (a real photo): MediaPipe finds her, the motion is retargeted."""
    import imageio.v3 as iio
    from skimage import data

    photo = tmp_path / "astronaut.png"
    iio.imwrite(photo, data.astronaut()[::4, ::4])
    out = tmp_path / "astronaut.mp4"
    code, _, err = cli("render", "--source", photo, "--glosses", "H A", "--lexicon", "fingerspelling",
                       "--language", "gsg", "--fps", "4", "--steps", "2", "-o", out, "-q")
    assert code == 0, err
    n, shape, _ = _frames(out)
    assert n >= 3 and shape == (128, 128, 3)


def test_synthesize_with_the_bundled_model(cli, tmp_path):
    from PIL import Image

    out = tmp_path / "one.png"
    code, _, err = cli("synthesize", "--source", EXAMPLES / "signer-1.png", "--pose", EXAMPLES / "sentence.json",
                       "--frame", "20", "--steps", "3", "-o", out)
    assert code == 0, err
    assert np.asarray(Image.open(out)).shape == (320, 256, 3)


@pytest.mark.parametrize("api_name", ["render"])
def test_python_api_uses_the_bundled_model(api_name, tmp_path):
    import signgen
    from signgen.pose.io import read_sequence

    track = read_sequence(EXAMPLES / "sentence.json").slice(0, 4)
    frames = list(getattr(signgen, api_name)(str(EXAMPLES / "signer-1.png"), track, steps=2, progress=False))
    assert len(frames) == 4 and frames[0].shape == (320, 256, 3) and frames[0].dtype == np.uint8
