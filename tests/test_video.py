from pathlib import Path

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio

from signgen.errors import InputError
from signgen.video import FORMATS, read_video, video_info, write_video


def smooth_frames(n: int = 10, h: int = 48, w: int = 64):
    """A generator of smooth, slowly moving colour gradients."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for i in range(n):
        yield np.stack(
            [128 + 90 * np.sin(xx / 11 + 0.3 * i), 128 + 90 * np.cos(yy / 9), 128 + 60 * np.sin((xx + yy) / 14 - 0.2 * i)],
            axis=-1,
        ).astype(np.uint8)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_mp4_round_trip_frames_fps_and_content(tmp_path):
    path = tmp_path / "clip.mp4"
    assert write_video(smooth_frames(), path, 12.5) == 10
    assert video_info(path) == (10, 12.5, 64, 48)
    frames, fps = read_video(path)
    frames = list(frames)
    assert fps == pytest.approx(12.5) and len(frames) == 10
    for got, want in zip(frames, smooth_frames()):
        assert got.shape == want.shape and got.dtype == np.uint8
        assert peak_signal_noise_ratio(want, got, data_range=255) > 25
    assert leftovers(tmp_path) == ["clip.mp4"]  # no temp file left behind


def test_odd_sizes_are_padded_for_h264(tmp_path):
    path = tmp_path / "odd.mp4"
    write_video(smooth_frames(3, h=31, w=45), path, 25)
    n, fps, w, h = video_info(path)
    assert (n, fps, w, h) == (3, 25.0, 46, 32)
    frames, _ = read_video(path)
    first = next(frames)
    want = next(smooth_frames(1, h=31, w=45))
    assert peak_signal_noise_ratio(want, first[:31, :45], data_range=255) > 25


@pytest.mark.parametrize("ext", [".webm", ".gif"])
def test_webm_and_gif_are_written_and_readable(tmp_path, ext):
    path = tmp_path / f"clip{ext}"
    assert write_video(smooth_frames(6), path, 12.5) == 6
    n, fps, w, h = video_info(path)
    assert (n, w, h) == (6, 64, 48) and fps == pytest.approx(12.5)
    frames, fps = read_video(path)
    frames = list(frames)
    assert len(frames) == 6 and fps == pytest.approx(12.5)
    assert peak_signal_noise_ratio(next(smooth_frames(1)), frames[0][:48, :64], data_range=255) > 20


def test_float_and_gray_frames_are_accepted(tmp_path):
    path = tmp_path / "f.mp4"
    frames = [np.full((16, 16, 3), 0.5, np.float32), np.full((16, 16), 128, np.uint8)]
    assert write_video(frames, path, 10) == 2
    got = list(read_video(path)[0])
    assert abs(int(got[0].mean()) - 128) <= 3 and abs(int(got[1].mean()) - 128) <= 3


def test_unknown_extension_lists_supported_formats(tmp_path):
    with pytest.raises(InputError, match=r"clip.avi: unsupported video format '.avi'; supported: .mp4, .webm, .gif"):
        write_video(smooth_frames(2), tmp_path / "clip.avi", 25)
    assert FORMATS == (".mp4", ".webm", ".gif")


def test_missing_output_folder(tmp_path):
    with pytest.raises(InputError, match="output folder .* does not exist"):
        write_video(smooth_frames(2), tmp_path / "nope" / "clip.mp4", 25)


def test_zero_frames(tmp_path):
    with pytest.raises(InputError, match="no frames to write"):
        write_video(iter([]), tmp_path / "clip.mp4", 25)
    assert leftovers(tmp_path) == []


def test_inconsistent_frame_sizes_leave_no_file_and_keep_the_old_one(tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"previous video")
    frames = [np.zeros((16, 16, 3), np.uint8), np.zeros((16, 16, 3), np.uint8), np.zeros((18, 16, 3), np.uint8)]
    with pytest.raises(InputError, match=r"frame 2 is 16x18, the first was 16x16"):
        write_video(frames, path, 25)
    assert leftovers(tmp_path) == ["clip.mp4"]
    assert path.read_bytes() == b"previous video"


def test_keyboard_interrupt_leaves_no_partial_file(tmp_path):
    def interrupted():
        yield from smooth_frames(3)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_video(interrupted(), tmp_path / "clip.mp4", 25)
    assert leftovers(tmp_path) == []


def test_bad_frame_shape(tmp_path):
    with pytest.raises(InputError, match=r"frame 0 has shape \(4, 4, 2\)"):
        write_video([np.zeros((4, 4, 2), np.uint8)], tmp_path / "c.mp4", 25)


def test_reading_missing_and_corrupt_files(tmp_path):
    with pytest.raises(InputError, match="no such video file"):
        read_video(tmp_path / "missing.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"this is not a video" * 10)
    with pytest.raises(InputError, match="bad.mp4: not a readable video"):
        video_info(bad)


def test_truncated_video_is_one_message_and_nothing_on_stderr(tmp_path, capfd):
    """decord and its libav printed up to 7 log lines on fd 2 before our one-line error."""
    good = tmp_path / "good.mp4"
    write_video(smooth_frames(), good, 10)
    capfd.readouterr()
    for name, data in (("cut.mp4", good.read_bytes()[:1500]), ("empty.mp4", b"")):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InputError, match=rf"{name}: not a readable video \(truncated, corrupt, or not a video\)$"):
            video_info(tmp_path / name)
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("fps", [float("inf"), float("nan"), 0.0])
def test_write_video_refuses_non_finite_fps(tmp_path, fps):
    with pytest.raises(InputError, match="fps must be a finite number > 0"):
        write_video(smooth_frames(2), tmp_path / "a.mp4", fps)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("w", [16, 24])
def test_small_widths_read_back_as_rgb(tmp_path, w):
    """decord pads rows of some small widths into extra channels; read_video undoes it."""
    path = tmp_path / "small.mp4"
    write_video(smooth_frames(2, h=16, w=w), path, 25)
    frame = next(read_video(path)[0])
    assert frame.shape == (16, w, 3)
    assert peak_signal_noise_ratio(next(smooth_frames(1, h=16, w=w)), frame, data_range=255) > 25


def test_quality_changes_the_encoding_and_is_checked(tmp_path):
    low, high = tmp_path / "low.mp4", tmp_path / "high.mp4"
    write_video(smooth_frames(4), low, 25, quality=2)
    write_video(smooth_frames(4), high, 25, quality=9)
    assert high.stat().st_size > low.stat().st_size
    with pytest.raises(InputError, match="quality must be between 1 and 10"):
        write_video(smooth_frames(1), tmp_path / "x.mp4", 25, quality=11)


def test_drawn_pose_track_streams_into_a_video(tmp_path, real_pose_file):
    from signgen.pose.draw import draw_track
    from signgen.pose.io import read_pose

    track = read_pose(real_pose_file)
    path = tmp_path / "pose.mp4"
    assert write_video(draw_track(track, 64, 64), path, track.fps) == track.num_frames
    assert video_info(path) == (track.num_frames, track.fps, 64, 64)
