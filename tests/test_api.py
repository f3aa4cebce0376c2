"""The Python API `signgen.api.render` / `synthesize`: return types, eager checks, reuse of a renderer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import signgen.api as api
from signgen.rendering import inputs
from signgen.errors import InputError
from signgen.pose.track import PoseTrack


def _track(n=4, w=32, h=24) -> PoseTrack:
    xy = np.tile(np.linspace([4, 4], [w - 4, h - 4], 128, dtype=np.float32), (n, 1, 1))
    return PoseTrack(xy=xy, conf=np.ones((n, 128), np.float32), fps=12, width=w, height=h)


PICTURE = np.full((24, 32, 3), 128, np.uint8)


def test_render_to_file_returns_the_path_and_iterator_otherwise(bundle, tmp_path):
    from signgen.rendering.pipeline import Renderer

    r = Renderer.load(bundle, "cpu")
    out = api.render(PICTURE, _track(), output=tmp_path / "v.mp4", renderer=r, retarget=False, progress=False)
    assert out == tmp_path / "v.mp4" and out.stat().st_size > 0
    frames = api.render(PICTURE, _track(), renderer=r, retarget=False, progress=False, side_by_side=True)
    assert not isinstance(frames, (list, Path))
    frames = list(frames)
    assert len(frames) == 4 and frames[0].shape == (24, 96, 3)
    assert np.array_equal(frames[0][:, :32], PICTURE)  # the source, unchanged, on the left


def test_checks_happen_before_any_frame_is_pulled(bundle, tmp_path):
    with pytest.raises(InputError, match="not a signgen model bundle"):
        api.render(PICTURE, _track(), model=tmp_path, retarget=False)  # no iteration needed to fail
    with pytest.raises(InputError, match="exactly one motion"):
        api.render(PICTURE, _track(), glosses="A B", model=bundle, retarget=False)
    with pytest.raises(InputError, match="exactly one motion"):
        api.render(PICTURE, model=bundle, retarget=False)
    with pytest.raises(InputError, match="noise must be one of"):
        api.render(PICTURE, _track(), noise="pink", model=bundle)
    with pytest.raises(InputError, match="--num-samples"):
        api.synthesize(PICTURE, _track(1), num_samples=0, model=bundle)
    with pytest.raises(InputError, match="outside the track"):
        api.synthesize(PICTURE, _track(2), frame=5, model=bundle, retarget=False)


def test_load_motion_resamples_and_refuses_invisible_tracks():
    t = inputs.load_motion(_track(12), fps=6)
    assert t.fps == 6 and t.num_frames == 6
    empty = _track(3).copy(conf=np.zeros((3, 128), np.float32))
    with pytest.raises(InputError, match="no keypoint is visible"):
        inputs.load_motion(empty)


def test_sample_paths():
    assert inputs.sample_paths("a/out.png", 1) == [Path("a/out.png")]
    assert inputs.sample_paths("a/out.png", 2) == [Path("a/out-0.png"), Path("a/out-1.png")]


def test_top_level_api_is_the_library_api():
    import signgen
    import signgen.rendering.pipeline  # noqa: F401  (importing the subpackage must not shadow the function)

    assert signgen.render is api.render and signgen.synthesize is api.synthesize
