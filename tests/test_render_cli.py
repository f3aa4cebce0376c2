"""`signgen render` / `synthesize` end to end on a tiny random-weight bundle (64x64, 2 steps)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from signgen.pose.io import read_track, write_track


@pytest.fixture
def source(tmp_path) -> Path:
    """A 48x40 (W x H) picture: not the model's 64x64, so the resize path is used."""
    rng = np.random.default_rng(3)
    path = tmp_path / "signer.png"
    Image.fromarray((rng.random((40, 48, 3)) * 255).astype(np.uint8)).save(path)
    return path


@pytest.fixture
def motion(tmp_path, real_pose_file) -> Path:
    """6 frames of a real MediaPipe track (30 fps), as .npz."""
    path = tmp_path / "motion.npz"
    write_track(read_track(real_pose_file).slice(0, 6), path)
    return path


def _decord(path: Path):
    """(frames, fps, first frame's shape), decoded with decord (signgen.video wraps it)."""
    from signgen.video import read_video, video_info

    n, fps, _, _ = video_info(path)
    frames, _ = read_video(path)
    return n, fps, next(frames).shape


def test_render_mp4_decodes_with_frame_count_fps_and_size(cli, bundle, source, motion, tmp_path):
    out = tmp_path / "out.mp4"
    code, stdout, err = cli("render", "--source", source, "--poses", motion, "-o", out, "--model", bundle,
                            "--no-retarget", "--seed", "1")
    assert code == 0, err
    n, fps, shape = _decord(out)
    assert (n, round(fps), shape) == (6, 30, (40, 48, 3))  # the gsg "A" track is 30 fps
    assert "6 frames, 30 fps, 48x40" in stdout


def test_render_fps_resamples_and_gif_side_by_side(cli, bundle, source, motion, tmp_path):
    from signgen.video import video_info

    gif = tmp_path / "out.gif"
    code, _, err = cli("render", "--source", source, "--poses", motion, "-o", gif, "--model", bundle,
                       "--no-retarget", "--fps", "10", "--side-by-side", "-q")
    assert code == 0, err
    n, fps, w, h = video_info(gif)
    assert (w, h) == (3 * 48, 40)  # source | pose | result
    assert n == 2 and round(fps) == 10  # 6 frames at 30 fps = 0.2 s -> 10 fps


def test_render_webm_from_glosses(cli, bundle, source, tmp_path):
    out = tmp_path / "hi.webm"
    code, _, err = cli("render", "--source", source, "--glosses", "A", "--lexicon", "fingerspelling",
                       "--language", "gsg", "-o", out, "--model", bundle, "--no-retarget", "--fps", "4", "-q")
    assert code == 0, err
    n, fps, shape = _decord(out)
    assert n >= 1 and round(fps) == 4 and shape == (40, 48, 3)


def test_same_seed_same_frames_other_seed_differs(bundle, source, motion):
    import signgen.api as api

    def frames(seed):
        return np.stack(list(api.render(source, motion, model=bundle, seed=seed, retarget=False, progress=False,
                                        device="cpu")))

    a, b, c = frames(5), frames(5), frames(6)
    assert a.shape == (6, 40, 48, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_synthesize_writes_n_images(cli, bundle, source, motion, tmp_path):
    out = tmp_path / "person.png"
    code, stdout, err = cli("synthesize", "--source", source, "--pose", motion, "-o", out, "--num-samples", "3",
                            "--model", bundle, "--no-retarget", "--frame", "2", "-q")
    assert code == 0, err
    files = sorted(p.name for p in tmp_path.glob("person*.png"))
    assert files == ["person-0.png", "person-1.png", "person-2.png"]
    imgs = [np.asarray(Image.open(tmp_path / f)) for f in files]
    assert all(i.shape == (40, 48, 3) for i in imgs)
    assert not np.array_equal(imgs[0], imgs[1])  # independent noise per sample
    one = tmp_path / "one.jpg"
    code, _, err = cli("synthesize", "--source", source, "--pose", motion, "-o", one, "--model", bundle,
                       "--no-retarget", "-q")
    assert code == 0, err
    assert np.asarray(Image.open(one)).shape == (40, 48, 3)


def test_synthesize_retargets_onto_a_real_person(bundle, motion, tmp_path):
    """astronaut() is a real photo of a person: MediaPipe finds her and the pose is fitted."""
    from skimage import data

    import signgen.api as api

    pics = api.synthesize(data.astronaut()[::4, ::4], motion, model=bundle, progress=False, frame=3)
    assert len(pics) == 1 and pics[0].shape == (128, 128, 3)


def test_render_a_real_photo_end_to_end(cli, bundle, tmp_path):
    """`signgen render --source <a real photo>`: MediaPipe finds the person, the fingerspelled
    motion is retargeted onto her, and the video decodes with the motion's frame count."""
    import imageio.v3 as iio
    from skimage import data

    photo = tmp_path / "astronaut.png"
    iio.imwrite(photo, data.astronaut()[::4, ::4])
    out = tmp_path / "astronaut.mp4"
    code, _, err = cli("render", "--source", photo, "--glosses", "H A", "--lexicon", "fingerspelling",
                       "--language", "gsg", "--fps", "5", "-o", out, "--model", bundle, "-q")
    assert code == 0, err
    n, fps, shape = _decord(out)
    assert n >= 4 and round(fps) == 5 and shape == (128, 128, 3)


def test_render_keep_static_keeps_the_photo_where_nothing_moves(cli, bundle, tmp_path):
    """--keep-static: the photo's own pose (MediaPipe) and each frame's say what moves; the rest
    of every frame is the photo itself, exactly (a plain render redraws it)."""
    import imageio.v3 as iio
    from skimage import data

    import signgen

    photo = tmp_path / "astronaut.png"
    image = data.astronaut()[::4, ::4]
    iio.imwrite(photo, image)
    out = tmp_path / "static.mp4"
    code, _, err = cli("render", "--source", photo, "--glosses", "H A", "--lexicon", "fingerspelling",
                       "--language", "gsg", "--fps", "5", "-o", out, "--model", bundle, "-q", "--keep-static")
    assert code == 0, err
    n, _, shape = _decord(out)
    assert n >= 4 and shape == (128, 128, 3)
    for keep in (True, False):
        frames = list(signgen.render(photo, glosses="H A", lexicon="fingerspelling", language="gsg", fps=5,
                                     model=bundle, progress=False, keep_static=keep))
        assert len(frames) == n
        kept = [(f == image).all(axis=2).mean() for f in frames]  # share of pixels exactly the photo's
        assert min(kept) > 0.3 if keep else max(kept) < 0.05, kept


# ---- bad input: one line, exit 2, no output file --------------------------------------------

def _bad(cli, tmp_path, out: Path, *args) -> str:
    code, stdout, err = cli(*args)
    assert code == 2, (stdout, err)
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith("." + out.stem)]  # no temp left
    line = err.strip()
    assert "\n" not in line and line.startswith("error:")
    return line


def test_unreadable_source(cli, bundle, motion, tmp_path):
    src = tmp_path / "notes.png"
    src.write_text("not a picture")
    out = tmp_path / "out.mp4"
    msg = _bad(cli, tmp_path, out, "render", "--source", src, "--poses", motion, "-o", out, "--model", bundle)
    assert "notes.png" in msg and "not a readable image" in msg


def test_missing_source(cli, bundle, motion, tmp_path):
    out = tmp_path / "out.mp4"
    msg = _bad(cli, tmp_path, out, "render", "--source", tmp_path / "nope.png", "--poses", motion, "-o", out,
               "--model", bundle)
    assert "nope.png" in msg and "no such file" in msg


def test_source_without_person_suggests_no_retarget(cli, bundle, source, motion, tmp_path):
    out = tmp_path / "out.mp4"
    msg = _bad(cli, tmp_path, out, "render", "--source", source, "--poses", motion, "-o", out, "--model", bundle)
    assert "no person found" in msg and "--no-retarget" in msg and "signer.png" in msg
    msg = _bad(cli, tmp_path, out, "render", "--source", source, "--poses", motion, "-o", out, "--model", bundle,
               "--no-retarget", "--keep-static")
    assert "no person found" in msg and "keep_static" in msg and "signer.png" in msg


def test_empty_track(cli, bundle, source, tmp_path):
    from signgen.pose.track import PoseTrack

    empty = tmp_path / "empty.npz"
    write_track(PoseTrack(xy=np.zeros((3, 128, 2)), conf=np.zeros((3, 128)), fps=25, width=48, height=40), empty)
    out = tmp_path / "out.mp4"
    msg = _bad(cli, tmp_path, out, "render", "--source", source, "--poses", empty, "-o", out, "--model", bundle,
               "--no-retarget")
    assert "empty.npz" in msg and "empty" in msg


@pytest.mark.parametrize("name, expect", [("missing/out.mp4", "does not exist"), ("out.avi", "unknown output format")])
def test_bad_output_path(cli, bundle, source, motion, tmp_path, name, expect):
    out = tmp_path / name
    code, _, err = cli("render", "--source", source, "--poses", motion, "-o", out, "--model", bundle, "--no-retarget")
    assert code == 2 and expect in err and not out.exists()


def test_model_folder_not_a_bundle(cli, source, motion, tmp_path):
    fake = tmp_path / "model"
    fake.mkdir()
    out = tmp_path / "out.mp4"
    msg = _bad(cli, tmp_path, out, "render", "--source", source, "--poses", motion, "-o", out, "--model", fake,
               "--no-retarget")
    assert "not a signgen model bundle" in msg


def test_no_default_model_is_a_clear_error(cli, source, motion, tmp_path, monkeypatch):
    import signgen.rendering.pipeline as pipeline

    monkeypatch.setattr(pipeline, "DEFAULT_MODEL", tmp_path / "default-model")
    out = tmp_path / "out.mp4"
    msg = _bad(cli, tmp_path, out, "render", "--source", source, "--poses", motion, "-o", out, "--no-retarget")
    assert "--model" in msg and "no bundled model" in msg


def test_unavailable_device(cli, bundle, source, motion, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    out = tmp_path / "out.mp4"
    msg = _bad(cli, tmp_path, out, "render", "--source", source, "--poses", motion, "-o", out, "--model", bundle,
               "--no-retarget", "--device", "cuda")
    assert "CUDA is not available" in msg


def test_synthesize_bad_output_extension(cli, bundle, source, motion, tmp_path):
    out = tmp_path / "out.mp4"
    code, _, err = cli("synthesize", "--source", source, "--pose", motion, "-o", out, "--model", bundle)
    assert code == 2 and "unknown output format" in err and not out.exists()


def test_driving_video_without_a_person_is_an_empty_motion(cli, bundle, source, tmp_path):
    """--poses VIDEO extracts keypoints on the fly (MediaPipe); noise has none -> one clear line."""
    from signgen.video import write_video

    drive = tmp_path / "drive.mp4"
    rng = np.random.default_rng(0)
    write_video(((rng.random((32, 32, 3)) * 255).astype(np.uint8) for _ in range(3)), drive, 10)
    out = tmp_path / "out.mp4"
    msg = _bad(cli, tmp_path, out, "render", "--source", source, "--poses", drive, "-o", out, "--model", bundle,
               "--no-retarget", "-q")
    assert "drive.mp4" in msg and "no keypoint is visible" in msg
