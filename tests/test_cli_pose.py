"""`signgen pose ...` in-process: real files in, decodable files out, one-line errors with exit code 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from signgen.pose import io
from signgen.pose.skeleton import LAYOUTS


def one_line_error(code: int, out: str, err: str, *needles: str) -> str:
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    for n in needles:
        assert n in lines[0]
    return lines[0]


def test_convert_real_pose_to_canonical_json(cli, real_pose_file, tmp_path):
    out = tmp_path / "seq.json"
    code, stdout, _ = cli("pose", "convert", real_pose_file, "-o", out, "--layout", "canonical")
    assert code == 0
    src = io.read_track(real_pose_file)
    back = io.read_track(out)
    assert back.layout == "canonical" and back.num_frames == src.num_frames
    want = src.to_layout("canonical")
    present = want.conf > 0
    np.testing.assert_allclose(back.xy[present], want.xy[present], atol=0.01)
    assert stdout.strip() == (
        f"wrote {out}: {src.num_frames} frames, {src.fps:g} fps, canonical (128 points), {src.width}x{src.height}"
    )


def test_convert_resamples_fps(cli, real_pose_file, tmp_path):
    pytest.importorskip("signgen.pose.filters")
    src = io.read_track(real_pose_file)
    code, _, _ = cli("pose", "convert", real_pose_file, "-o", tmp_path / "a.npz", "--fps", "50")
    assert code == 0
    back = io.read_track(tmp_path / "a.npz")
    assert back.fps == 50 and back.layout == "holistic"
    assert back.num_frames == round(src.num_frames * 50 / src.fps)


def test_convert_npy_with_input_header_flags(cli, tmp_path):
    arr = np.random.default_rng(0).uniform(0, 100, (4, 18, 3)).astype(np.float32)
    arr[..., 2] /= 100  # confidences in [0, 1]
    np.save(tmp_path / "a.npy", arr)
    code, out, _ = cli("pose", "convert", tmp_path / "a.npy", "-o", tmp_path / "a.pose",
                       "--in-fps", "30", "--in-size", "120x140")
    # OpenPose points go into a .pose as pose-format's OpenPose components (BODY_25 and friends)
    assert code == 0 and "4 frames, 30 fps, openpose (137 points), 120x140" in out
    t = io.read_track(tmp_path / "a.pose")
    assert (t.fps, t.width, t.height, t.layout) == (30.0, 120, 140, "openpose")
    back = t.to_layout("openpose18")
    np.testing.assert_allclose(back.xy, arr[..., :2], atol=1e-4)
    np.testing.assert_allclose(back.conf, arr[..., 2], atol=1e-6)


@pytest.mark.parametrize(
    "args, needles",
    [
        (["missing.pose", "-o", "{tmp}/a.json"], ["missing.pose: no such file"]),
        (["{real}", "-o", "{tmp}/a.txt"], ["unknown output format '.txt'", ".pose, .json, .npy, .npz"]),
        (["{real}", "-o", "{tmp}/no/dir/a.json"], ["does not exist"]),
        (["{real}", "-o", "{tmp}/a.json", "--layout", "smpl"], ["--layout: unknown layout 'smpl'"]),
        (["{real}", "-o", "{tmp}/a.json", "--fps", "0"], ["--fps must be > 0"]),
        (["{real}", "-o", "{tmp}/a.json", "--in-size", "big"], ["--in-size must look like 210x260"]),
        # regressions: inf crashed in resample, 1e9 filled memory until the kernel killed signgen
        (["{real}", "-o", "{tmp}/a.json", "--fps", "inf"], ["--fps must be > 0 and <= 1000, got inf"]),
        (["{real}", "-o", "{tmp}/a.json", "--fps", "1e9"], ["--fps must be > 0 and <= 1000"]),
        (["{real}", "-o", "{tmp}/a.json", "--in-fps", "0"], ["--in-fps must be > 0"]),
        (["{real}", "-o", "{tmp}/a.json", "--in-size", "-5x3"], ["--in-size width must be in 1..16384, got -5"]),
        (["{real}", "-o", "{real}/a.json"], ["is a file, not a folder"]),
        (["{video}", "-o", "{tmp}/a.json"], ["unknown track format '.mp4'", "run `signgen pose extract`"]),
        (["{gloss}", "-o", "{tmp}/a.json"], ["is a gloss sequence, not a keypoint track"]),
        (["{bad}", "-o", "{tmp}/a.json"], ["frame 0, point 1: confidence 7 is outside [0, 1]"]),
    ],
)
def test_convert_bad_input_is_one_line_and_exit_2(cli, real_pose_file, tmp_path, args, needles):
    (tmp_path / "g.json").write_text(json.dumps({"glosses": "MORGEN"}))
    (tmp_path / "bad.json").write_text(json.dumps(
        {"fps": 25, "width": 9, "height": 9, "layout": "openpose18", "frames": [[[1, 1, 1], [1, 1, 7]] + [[1, 1]] * 16]}
    ).replace("[1, 1]", "[1, 1, 1]"))
    (tmp_path / "v.mp4").write_bytes(b"\x00" * 64)
    subst = {"{tmp}": str(tmp_path), "{real}": str(real_pose_file), "{gloss}": str(tmp_path / "g.json"),
             "{bad}": str(tmp_path / "bad.json"), "{video}": str(tmp_path / "v.mp4")}
    argv = []
    for a in args:
        for k, v in subst.items():
            a = a.replace(k, v)
        argv.append(a)
    one_line_error(*cli("pose", "convert", *argv), *needles)
    assert not (tmp_path / "a.json").exists() and not (tmp_path / "a.txt").exists()


def test_from_glosses_writes_a_readable_track(cli, tmp_path):
    pytest.importorskip("signgen.pose.stitch")
    out = tmp_path / "hallo.json"
    code, stdout, _ = cli("pose", "from-glosses", "H A L L O", "--lexicon", "fingerspelling",
                          "--language", "gsg", "-o", out, "--fps", "25", "--width", "256", "--height", "256")
    assert code == 0 and stdout.startswith(f"wrote {out}: ")
    t = io.read_track(out)
    assert t.layout == "canonical" and (t.width, t.height) == (256, 256) and t.num_frames > 20
    assert t.conf.max() > 0


def test_from_glosses_reads_a_gloss_sequence_file(cli, tmp_path):
    pytest.importorskip("signgen.pose.stitch")
    seq = tmp_path / "seq.json"
    io.write_gloss_sequence(io.GlossSequence(("A", "B"), "fingerspelling", "gsg"), seq)
    code, _, _ = cli("pose", "from-glosses", seq, "-o", tmp_path / "ab.npz")
    assert code == 0 and io.read_track(tmp_path / "ab.npz").num_frames > 5


def test_from_glosses_errors(cli, tmp_path):
    pytest.importorskip("signgen.pose.stitch")
    one_line_error(*cli("pose", "from-glosses", "A", "--language", "gsg", "-o", tmp_path / "x.mp4"),
                   "unknown output format '.mp4'")
    one_line_error(*cli("pose", "from-glosses", "A", "--language", "gsg", "--lexicon", str(tmp_path / "nolex"),
                        "-o", tmp_path / "a.json"), "nolex")
    one_line_error(*cli("pose", "from-glosses", "A", "--language", "gsg", "--fps", "-1", "-o", tmp_path / "a.json"),
                   "--fps must be > 0")
    one_line_error(*cli("pose", "from-glosses", "A", "--language", "gsg", "--width", "100000", "-o", tmp_path / "a.json"),
                   "--width must be in 1..16384, got 100000")
    one_line_error(*cli("pose", "from-glosses", "A", "--language", "gsg", "--height", "0", "-o", tmp_path / "a.json"),
                   "--height must be in 1..16384, got 0")
    # the built-in lexicon is named, not its site-packages folder; the way out is named too
    line = one_line_error(*cli("pose", "from-glosses", "A", "-o", tmp_path / "a.json"),
                          "error: fingerspelling lexicon: gloss 'A' exists in", "(--language)")
    assert "site-packages" not in line
    assert not (tmp_path / "a.json").exists()


def test_unknown_gloss_suggests_fingerspelling_when_it_can_spell_it(cli, tmp_path):
    out = tmp_path / "a.json"
    one_line_error(*cli("pose", "from-glosses", "HAUS", "--language", "gsg", "-o", out),
                   "gloss 'HAUS' is not in the gsg lexicon", "--fingerspell-unknown", "spells it as H-A-U-S")
    line = one_line_error(*cli("pose", "from-glosses", "X9", "--language", "gsg", "-o", out), "'X9'")
    assert "--fingerspell-unknown" not in line  # no letter 9 in the gsg alphabet: no false promise
    assert not out.exists()
    code, stdout, _ = cli("pose", "from-glosses", "HAUS", "--language", "gsg", "--fingerspell-unknown", "-o", out)
    assert code == 0 and [s[0] for s in io.read_track(out).meta["segments"]] == ["HAUS"]


def test_library_warnings_are_one_line(cli, real_pose_file, tmp_path):
    """A .pose file holding two people: converted (first person), with one `warning:` line."""
    from pose_format import Pose

    pose = Pose.read(real_pose_file.read_bytes())
    two = np.ma.concatenate([pose.body.data, pose.body.data], axis=1)
    pose.body.data, pose.body.confidence = two, np.concatenate([pose.body.confidence] * 2, axis=1)
    src = tmp_path / "two.pose"
    with open(src, "wb") as f:
        pose.write(f)
    code, _, err = cli("pose", "convert", src, "-o", tmp_path / "one.npz")
    assert code == 0 and (tmp_path / "one.npz").exists()
    assert err.splitlines() == [f"warning: {src}: 2 people in the file; using the first"]


def test_preview_writes_a_decodable_video(cli, tmp_path):
    pytest.importorskip("signgen.pose.draw")
    pytest.importorskip("signgen.video")
    from signgen.video import video_info

    rng = np.random.default_rng(0)
    t = io.PoseTrack(xy=rng.uniform(20, 100, (6, 128, 2)), conf=np.ones((6, 128)), fps=12,
                     width=120, height=120, layout="canonical")
    io.write_track(t, tmp_path / "t.npz")
    code, out, _ = cli("pose", "preview", tmp_path / "t.npz", "-o", tmp_path / "p.mp4",
                       "--width", "64", "--height", "48", "--fps", "6")
    assert code == 0 and "3 frames, 6 fps" in out and "64x48" in out
    frames, fps, w, h = video_info(tmp_path / "p.mp4")
    assert (frames, w, h) == (3, 64, 48) and fps == pytest.approx(6)
    one_line_error(*cli("pose", "preview", tmp_path / "t.npz", "-o", tmp_path / "p.avi"),
                   "unknown output format '.avi'", ".mp4, .webm, .gif")
    one_line_error(*cli("pose", "preview", tmp_path / "t.npz", "-o", tmp_path / "q.mp4", "--width", "0"),
                   "--width must be in 1..16384")
    # one side given: the other follows the track's aspect ratio (it used to stay 120: a squashed skeleton)
    io.write_track(t.copy(width=200, height=100), tmp_path / "wide.npz")
    code, out, _ = cli("pose", "preview", tmp_path / "wide.npz", "-o", tmp_path / "w.mp4", "--width", "64")
    assert code == 0 and "64x32" in out and video_info(tmp_path / "w.mp4")[2:] == (64, 32)
    code, out, _ = cli("pose", "preview", tmp_path / "wide.npz", "-o", tmp_path / "h.gif", "--height", "40")
    assert code == 0 and "80x40" in out and video_info(tmp_path / "h.gif")[2:] == (80, 40)


def test_extract_an_image(cli, tmp_path):
    pytest.importorskip("signgen.pose.extract")
    import imageio.v3 as iio
    import skimage.data

    iio.imwrite(tmp_path / "astronaut.png", skimage.data.astronaut()[::4, ::4])
    code, out, _ = cli("pose", "extract", tmp_path / "astronaut.png", "-o", tmp_path / "a.json", "--no-progress")
    assert code == 0 and "1 frame, 25 fps, holistic (553 points), 128x128" in out
    t = io.read_track(tmp_path / "a.json")
    assert t.layout == "holistic" and t.num_frames == 1
    nose = t.xy[0, 0]
    assert t.conf[0, 0] > 0.5 and 0 < nose[0] < 128 and 0 < nose[1] < 128  # a face was found
    one_line_error(*cli("pose", "extract", tmp_path / "astronaut.png", "-o", tmp_path / "a.csv"),
                   "unknown output format '.csv'")
    one_line_error(*cli("pose", "extract", tmp_path / "none.png", "-o", tmp_path / "b.json"), "none.png")


def test_every_command_has_help_with_an_example(cli):
    for cmd in ("convert", "extract", "preview", "from-glosses"):
        code, out, _ = cli("pose", cmd, "--help")
        assert code == 0 and "Example: signgen pose " + cmd in out.replace("\n", " ")
    code, out, _ = cli("pose", "--help")
    assert code == 0 and all(c in out for c in ("convert", "extract", "preview", "from-glosses"))


def test_convert_help_lists_layouts(cli):
    _, out, _ = cli("pose", "convert", "--help")
    text = " ".join(out.split())
    assert all(name in text for name in LAYOUTS)


def test_error_text_with_brackets_is_printed_verbatim(cli, tmp_path):
    """Messages like "use [x, y] or [x, y, conf]" must not be eaten as rich markup."""
    frames = [[[1.0, 2.0, 1.0]] * 17 + [[1.0, 2.0]]]
    (tmp_path / "m.json").write_text(json.dumps(
        {"fps": 25, "width": 9, "height": 9, "layout": "openpose18", "frames": frames}
    ))
    one_line_error(*cli("pose", "convert", tmp_path / "m.json", "-o", tmp_path / "a.json"),
                   "frame 0, point 17 has 2 values", "use [x, y] or [x, y, conf] throughout")
