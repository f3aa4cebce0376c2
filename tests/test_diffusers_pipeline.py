"""The bundle the diffusers way: SigngenPipeline.from_pretrained(folder) is a DiffusionPipeline
whose frames are the Renderer's (one path), and bundles carry a model_index.json."""

from __future__ import annotations

import json

import numpy as np
import pytest
from diffusers import DiffusionPipeline

from signgen.errors import InputError
from signgen.pose.io import read_track


@pytest.fixture(scope="module")
def pipe(bundle):
    from signgen.rendering.diffusers_pipeline import SigngenPipeline

    return SigngenPipeline.from_pretrained(bundle, device="cpu")


def _inputs(real_pose_file):
    rng = np.random.default_rng(1)
    image = (rng.random((40, 48, 3)) * 255).astype(np.uint8)
    t = read_track(real_pose_file).slice(0, 4).canonical()
    xy = t.xy * np.array([48 / t.width, 40 / t.height], np.float32)
    return image, t.copy(xy=xy, width=48, height=40)


def test_bundle_has_a_model_index_naming_its_components(bundle):
    index = json.loads((bundle / "model_index.json").read_text())
    assert index["_class_name"] == "SigngenPipeline"
    assert index["unet"] == ["diffusers", "UNet2DConditionModel"] and index["vae"] == ["diffusers", "AutoencoderKL"]
    assert index["scheduler"][0] == "diffusers" and set(index) >= {"stage1", "stage2"}


def test_pipeline_renders_the_renderers_frames(pipe, bundle, real_pose_file):
    import signgen

    assert isinstance(pipe, DiffusionPipeline)
    assert set(pipe.components) == {"unet", "vae", "scheduler", "stage1", "stage2"}
    image, track = _inputs(real_pose_file)
    out = pipe(image, track, num_inference_steps=2, seed=3)
    assert len(out.frames) == 4 and out.frames[0].shape == (40, 48, 3) and out.frames[0].dtype == np.uint8
    same = list(signgen.render(image, track, model=bundle, steps=2, seed=3, retarget=False, device="cpu"))
    for a, b in zip(out.frames, same):
        np.testing.assert_array_equal(a, b)
    pictures = pipe(image, track.frame(0), num_inference_steps=2, num_images_per_prompt=2).frames
    assert len(pictures) == 2 and not np.array_equal(pictures[0], pictures[1])


def test_pipeline_refuses_poses_of_another_frame(pipe, real_pose_file):
    image, track = _inputs(real_pose_file)
    with pytest.raises(InputError, match="poses are in a 96x40 frame but the picture is 48x40"):
        pipe(image, track.copy(width=96))
    with pytest.raises(InputError, match="poses must be a PoseTrack"):
        pipe(image, "seq.json")
