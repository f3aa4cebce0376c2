"""MediaPipe Holistic extraction on real pictures: skimage's astronaut photo and a video made from it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from signgen.errors import InputError
from signgen.pose.extract import detect_person, extract_file, extract_image, extract_video
from signgen.pose.layouts import canonical as C
from signgen.pose.layouts import holistic as H

P = {name: i for i, name in enumerate(H.POSE33)}
FACE = slice(H.FACE_START, H.FACE_START + H.FACE_POINTS)
CHIN = H.FACE_START + 152  # face-mesh vertex at the bottom of the chin


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="module")
def astro_track(astronaut):
    return extract_image(astronaut)


def test_image_track_shape_and_meta(astro_track):
    t = astro_track
    assert (t.num_frames, t.num_keypoints, t.layout) == (1, 553, "holistic")
    assert (t.width, t.height) == (512, 512)
    assert t.meta["z"].shape == (1, 553)
    assert np.isfinite(t.xy).all() and ((t.conf >= 0) & (t.conf <= 1)).all()


def test_astronaut_body_and_face_found_where_they_are(astro_track):
    xy, conf = astro_track.xy[0], astro_track.conf[0]
    for name in ("nose", "left_shoulder", "right_shoulder", "right_elbow"):
        assert conf[P[name]] > 0.5, name
    # Her left elbow is hidden behind the helmet she holds: MediaPipe still places it, with low
    # visibility, below her left shoulder.
    assert conf[P["left_elbow"]] > 0
    assert xy[P["left_elbow"], 1] > xy[P["left_shoulder"], 1] + 50
    assert xy[P["right_elbow"], 1] > xy[P["right_shoulder"], 1] + 50
    # The whole refined face mesh (478 points) is there, in the face region of the photo.
    assert (conf[FACE] == 1.0).all()
    fx, fy = xy[FACE, 0], xy[FACE, 1]
    assert 140 < fx.min() < fx.max() < 320 and 20 < fy.min() < fy.max() < 200
    # Shoulders below the chin; facing the camera, her right shoulder is on the image's left.
    assert xy[P["left_shoulder"], 1] > xy[CHIN, 1] and xy[P["right_shoulder"], 1] > xy[CHIN, 1]
    assert xy[P["right_shoulder"], 0] < xy[P["nose"], 0] < xy[P["left_shoulder"], 0]
    assert xy[P["right_shoulder"], 0] < 200 and xy[P["left_shoulder"], 0] > 280


def test_undetected_parts_have_zero_confidence(astro_track):
    # Her left hand is behind the helmet and her right glove is cut by the frame edge.
    hands = astro_track.conf[0, H.LEFT_HAND_START :].reshape(2, 21)
    for hand, hand_xy in zip(hands, astro_track.xy[0, H.LEFT_HAND_START :].reshape(2, 21, 2)):
        assert (hand == hand[0]).all() and hand[0] in (0.0, 1.0)
        if hand[0] == 0:
            assert (hand_xy == 0).all()
    assert (hands[0] == 0).all()  # the hidden left hand


def test_canonical_keeps_body_and_face(astro_track):
    can = astro_track.canonical()
    cn = {n: i for i, n in enumerate(C.NAMES)}
    for name in ("nose", "neck", "left_shoulder", "right_shoulder", "right_elbow"):
        assert can.conf[0, cn[name]] > 0.5, name
    np.testing.assert_allclose(can.xy[0, cn["left_shoulder"]], astro_track.xy[0, P["left_shoulder"]])
    neck = astro_track.xy[0, [P["left_shoulder"], P["right_shoulder"]]].mean(axis=0)
    np.testing.assert_allclose(can.xy[0, cn["neck"]], neck, atol=1e-4)
    assert (can.conf[0, C.FACE_START :] == 1.0).all()
    assert can.meta["z"].shape == (1, C.NUM_KEYPOINTS)


def test_sides_follow_the_person_like_the_lexicon(astronaut, astro_track, real_pose_file):
    """No mirroring: left = the person's left, as in spoken-to-signed's .pose files."""
    from signgen.pose.io import read_pose

    lex = read_pose(real_pose_file)
    seen = (lex.conf[:, P["left_shoulder"]] > 0.5) & (lex.conf[:, P["right_shoulder"]] > 0.5)
    assert seen.any()
    assert (lex.xy[seen, P["left_shoulder"], 0] > lex.xy[seen, P["right_shoulder"], 0]).all()
    assert astro_track.xy[0, P["left_shoulder"], 0] > astro_track.xy[0, P["right_shoulder"], 0]
    # The mirrored photo gives the mirrored track (x -> width - x, sides swapped).
    mirrored = extract_image(np.ascontiguousarray(astronaut[:, ::-1])).canonical()
    expect = astro_track.canonical().flipped()
    body = [C.NAMES.index(n) for n in ("nose", "neck", "left_shoulder", "right_shoulder")]
    assert np.abs(mirrored.xy[0, body] - expect.xy[0, body]).max() < 20
    assert np.abs(mirrored.xy[0, C.FACE_START :] - expect.xy[0, C.FACE_START :]).max() < 6


def test_image_file_matches_array(tmp_path, astronaut, astro_track):
    from PIL import Image

    path = tmp_path / "astronaut.png"
    Image.fromarray(astronaut).save(path)
    t = extract_file(path)
    assert t.meta["source"] == str(path)
    np.testing.assert_allclose(t.xy, astro_track.xy, atol=0.5)
    np.testing.assert_allclose(t.conf, astro_track.conf, atol=1e-3)


def test_detect_person(astronaut):
    found = detect_person(astronaut)
    assert found is not None and found.num_frames == 1
    with pytest.warns(UserWarning, match="no person found in the image; every point is missing"):
        assert detect_person(np.full((128, 128, 3), 127, np.uint8)) is None


def test_mediapipe_start_up_logs_do_not_reach_stderr(astronaut, capfd):
    """Every new Holistic graph printed a dozen C++ log lines (TFLite, absl) on fd 2."""
    capfd.readouterr()
    track = extract_image(astronaut[::4, ::4])
    assert track.conf.max() > 0
    assert capfd.readouterr().err == ""


# ---------------------------------------------------------------- video

SHIFT, FRAMES, FPS, SIZE = 4, 10, 12, 256


@pytest.fixture(scope="module")
def shifted_video(tmp_path_factory, astronaut) -> Path:
    """The astronaut, moving SHIFT pixels to the right every frame, as an H.264 .mp4."""
    import imageio_ffmpeg
    from skimage.transform import resize

    small = (resize(astronaut, (SIZE, SIZE), anti_aliasing=True) * 255).round().astype(np.uint8)
    margin = SHIFT * FRAMES
    wide = np.pad(small, ((0, 0), (margin, margin), (0, 0)), mode="edge")
    path = tmp_path_factory.mktemp("video") / "shifted.mp4"
    writer = imageio_ffmpeg.write_frames(str(path), (SIZE, SIZE), fps=FPS, macro_block_size=1, quality=8)
    writer.send(None)
    for t in range(FRAMES):
        x0 = margin - SHIFT * t
        writer.send(np.ascontiguousarray(wide[:, x0 : x0 + SIZE]).tobytes())
    writer.close()
    return path


@pytest.fixture(scope="module")
def video_track(shifted_video):
    return extract_video(shifted_video, progress=False, batch_size=3)  # 10 frames in chunks of 3


def test_video_frames_fps_and_motion(video_track):
    t = video_track
    assert (t.num_frames, t.fps, t.width, t.height, t.layout) == (FRAMES, FPS, SIZE, SIZE, "holistic")
    assert t.meta["z"].shape == (FRAMES, 553)
    nose = t.xy[:, P["nose"]]
    assert (t.conf[:, P["nose"]] > 0.5).all()
    assert 100 < nose[0, 0] < 130 and 50 < nose[0, 1] < 85  # her nose in the 256 px frame
    slope = np.polyfit(np.arange(FRAMES), nose[:, 0], 1)[0]
    assert 0.6 * SHIFT < slope < 1.4 * SHIFT
    assert np.ptp(nose[:, 1]) < 6  # the motion is horizontal only
    assert (t.conf[:, FACE] == 1.0).all()


def test_video_chunking_and_progress_do_not_change_results(shifted_video, video_track, capsys):
    whole = extract_file(shifted_video, progress=True)  # default batch of 32: one chunk
    assert "10/10" in capsys.readouterr().err  # the rich bar went to stderr
    np.testing.assert_allclose(whole.xy, video_track.xy, atol=1e-3)
    np.testing.assert_allclose(whole.conf, video_track.conf, atol=1e-4)


# ---------------------------------------------------------------- errors


def test_text_file_named_png(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not an image\n")
    with pytest.raises(InputError, match="not a readable image") as err:
        extract_file(path)
    assert str(path) in str(err.value) and err.value.path == str(path)


def test_unknown_extension(tmp_path):
    path = tmp_path / "clip.xyz"
    path.write_bytes(b"\x00" * 16)
    with pytest.raises(InputError, match=r"unknown file type '\.xyz'") as err:
        extract_file(path)
    assert str(path) in str(err.value)


def test_missing_file(tmp_path):
    for name in ("gone.mp4", "gone.png", "gone.xyz"):
        with pytest.raises(InputError, match="no such file"):
            extract_file(tmp_path / name)


def test_garbage_and_empty_videos(tmp_path):
    import imageio_ffmpeg

    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video at all" * 10)
    with pytest.raises(InputError, match="not a readable video") as err:
        extract_video(garbage, progress=False)
    assert str(garbage) in str(err.value)

    empty = tmp_path / "empty.mp4"
    writer = imageio_ffmpeg.write_frames(str(empty), (64, 64), fps=10, macro_block_size=1)
    writer.send(None)
    writer.close()  # ffmpeg writes a container with no video stream
    with pytest.raises(InputError, match="has no frames"):
        extract_file(empty, progress=False)


def test_bad_arguments(tmp_path, shifted_video):
    with pytest.raises(InputError, match="batch_size"):
        extract_video(shifted_video, batch_size=0, progress=False)
    with pytest.raises(InputError, match="model_complexity"):
        extract_image(np.zeros((8, 8, 3), np.uint8), model_complexity=3)
    with pytest.raises(InputError, match="image, got shape"):
        extract_image(np.zeros((8, 8, 5), np.uint8))


def test_read_image_scales_16bit_grey(tmp_path):
    from PIL import Image

    from signgen.base.images import read_image

    grey = np.linspace(0, 65535, 64 * 32).reshape(32, 64).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(grey).save(path)
    rgb = read_image(path)
    assert rgb.shape == (32, 64, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0, 0] == 0 and rgb[-1, -1, 0] == 255
    assert 100 < rgb[16, 32, 0] < 156  # mid-grey stays mid-grey, not clipped to white
    assert (rgb[..., 0] == rgb[..., 2]).all()


def test_video_track_round_trips_through_pose_file(tmp_path, video_track):
    from signgen.pose.io import read_pose, write_pose

    path = tmp_path / "driving.pose"
    write_pose(video_track, path)
    back = read_pose(path)
    seen = video_track.conf > 0
    assert (back.num_frames, back.fps, back.layout) == (FRAMES, FPS, "holistic")
    np.testing.assert_array_equal(back.conf, video_track.conf)
    np.testing.assert_allclose(back.xy[seen], video_track.xy[seen], atol=1e-3)
    np.testing.assert_allclose(back.meta["z"][seen], video_track.meta["z"][seen], atol=1e-5)


def test_import_is_light():
    """Importing the module pulls in neither torch nor mediapipe (that happens on first use)."""
    import subprocess
    import sys

    code = "import sys, signgen.pose.extract; print('torch' in sys.modules, 'mediapipe' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_float_and_int_arrays_are_read_as_8bit(astronaut, astro_track):
    for image in (astronaut / 255.0, astronaut.astype(np.int64)):
        t = extract_image(image)
        np.testing.assert_allclose(t.xy[0, :13], astro_track.xy[0, :13], atol=2.0)
    with pytest.raises(InputError, match="8-bit RGB"):
        extract_image(astronaut.astype(np.float32))  # floats must be in [0, 1]


def test_extract_images_matches_extract_image_frame_by_frame():
    from skimage import data

    from signgen.pose.extract import extract_image, extract_images

    img = data.astronaut()[::2, ::2].copy()
    one = extract_image(img)
    seq = extract_images([img, img[:, ::-1].copy()], fps=12.5)
    assert seq.num_frames == 2 and seq.fps == 12.5 and seq.layout == "holistic"
    body = slice(0, 33)
    np.testing.assert_allclose(seq.xy[0, body], one.xy[0, body], atol=1e-3)
    with pytest.raises(InputError, match="image 1 is 128x256"):
        extract_images([img, img[:, :128]])
