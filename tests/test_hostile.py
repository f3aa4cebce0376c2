"""Hostile inputs, one of each kind the fuzz suite cannot build at random: special files,
symbolic links out of a folder, files swapped after a check, decompression bombs, bundles that
reach outside themselves or describe huge models, and the CLI's one-line answers to all of it."""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from signgen.errors import InputError
from signgen.pose import io as pose_io
from signgen.pose.lexicon import Lexicon, LexiconEntry, write_lexicon

HEADER = "path,spoken_language,signed_language,start,end,words,glosses,priority\n"


def error_of(fn, *args, **kw) -> str:
    with pytest.raises(InputError) as e:
        fn(*args, **kw)
    return str(e.value)


def track_of(frames: int = 3, visible: bool = True) -> pose_io.PoseTrack:
    conf = np.full((frames, 128), 1.0 if visible else 0.0, np.float32)
    return pose_io.PoseTrack(xy=np.full((frames, 128, 2), 5.0, np.float32), conf=conf, fps=25.0, width=64, height=64)


def op_frame(path: Path) -> None:
    body = [100.0, 100.0, 0.9] * 25
    path.write_text(json.dumps({"people": [{"pose_keypoints_2d": body}]}))


# ---- limits ------------------------------------------------------------------------------

def test_limits_name_the_variable_and_can_be_raised(tmp_path, monkeypatch):
    arr = np.zeros((50, 128, 3), np.float32)
    np.save(tmp_path / "t.npy", arr)
    monkeypatch.setenv("SIGNGEN_MAX_FRAMES", "10")
    msg = error_of(pose_io.read_track, tmp_path / "t.npy")
    assert "50 frames exceed the limit of 10 (SIGNGEN_MAX_FRAMES; set SIGNGEN_MAX_FRAMES=... to raise it)" in msg
    monkeypatch.setenv("SIGNGEN_MAX_FRAMES", "100")
    assert pose_io.read_track(tmp_path / "t.npy").num_frames == 50
    monkeypatch.setenv("SIGNGEN_MAX_FRAMES", "lots")
    assert "SIGNGEN_MAX_FRAMES='lots' is not a number" in error_of(pose_io.read_track, tmp_path / "t.npy")


def test_npy_header_declaring_a_huge_shape_is_refused_before_allocation(tmp_path):
    header = {"descr": "<f4", "fortran_order": False, "shape": (10_000_000, 553, 3)}
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    (tmp_path / "huge.npy").write_bytes(buf.getvalue() + b"\0" * 64)
    assert "exceed the limit" in error_of(pose_io.read_track, tmp_path / "huge.npy")
    header["shape"] = (20, 128, 3)  # plausible, but the data is not there
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    (tmp_path / "short.npy").write_bytes(buf.getvalue() + b"\0" * 64)
    assert "truncated: the header declares 30720 bytes" in error_of(pose_io.read_track, tmp_path / "short.npy")


def test_npz_with_a_huge_member_and_corrupt_members(tmp_path):
    header = {"descr": "<f4", "fortran_order": False, "shape": (4_000_000, 553, 2)}
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    import zipfile

    with zipfile.ZipFile(tmp_path / "bomb.npz", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xy.npy", buf.getvalue() + b"\0" * 1000)
    assert "exceed the limit" in error_of(pose_io.read_track, tmp_path / "bomb.npz")
    pose_io.write_track(track_of(), tmp_path / "ok.npz")
    raw = bytearray((tmp_path / "ok.npz").read_bytes())
    raw[60:80] = b"\xff" * 20  # inside the first member's compressed data
    (tmp_path / "bad.npz").write_bytes(bytes(raw))
    assert "not a readable" in error_of(pose_io.read_track, tmp_path / "bad.npz")


def test_deeply_nested_segments_in_npz(tmp_path):
    from signgen.pose.io.arrays import npz_bytes

    track = track_of()
    deep = "[" * 100_000 + "]" * 100_000
    (tmp_path / "deep.npz").write_bytes(npz_bytes(xy=track.xy, conf=track.conf, segments=np.str_(deep)))
    assert "nested too deeply" in error_of(pose_io.read_track, tmp_path / "deep.npz")


def test_npz_writes_are_byte_for_byte_repeatable(tmp_path):
    track = track_of()
    pose_io.write_track(track, tmp_path / "a.npz")
    pose_io.write_track(track, tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


# ---- OpenPose folders --------------------------------------------------------------------

def test_openpose_frame_gap_is_bounded(tmp_path):
    op_frame(tmp_path / "0_keypoints.json")
    op_frame(tmp_path / "10000000_keypoints.json")
    msg = error_of(pose_io.read_track, tmp_path)
    assert "frame numbers 0..10000000 span" in msg and "SIGNGEN_MAX_FRAMES" in msg
    (tmp_path / "10000000_keypoints.json").unlink()
    op_frame(tmp_path / "20000_keypoints.json")
    assert "SIGNGEN_MAX_FRAME_GAP" in error_of(pose_io.read_track, tmp_path)


def test_openpose_special_files_and_links_out_are_refused(tmp_path):
    folder = tmp_path / "op"
    folder.mkdir()
    op_frame(folder / "0_keypoints.json")
    os.symlink("/dev/zero", folder / "1_keypoints.json")  # an endless device
    assert "leaves the folder" in error_of(pose_io.read_track, folder)
    os.unlink(folder / "1_keypoints.json")
    os.mknod(folder / "1_keypoints.json", 0o600 | __import__("stat").S_IFCHR, os.makedev(1, 5))  # /dev/zero
    assert "is a character device, not a regular file" in error_of(pose_io.read_track, folder)
    os.unlink(folder / "1_keypoints.json")
    os.mkfifo(folder / "1_keypoints.json")  # would block an open() forever
    assert "is a FIFO, not a regular file" in error_of(pose_io.read_track, folder)
    os.unlink(folder / "1_keypoints.json")
    op_frame(tmp_path / "outside.json")
    os.symlink(tmp_path / "outside.json", folder / "1_keypoints.json")
    assert "leaves the folder" in error_of(pose_io.read_track, folder)
    os.unlink(folder / "1_keypoints.json")
    os.symlink(folder / "1_keypoints.json", folder / "1_keypoints.json")  # a loop
    assert "symbolic link loop" in error_of(pose_io.read_track, folder)


def test_special_files_as_tracks(tmp_path):
    os.mkfifo(tmp_path / "fifo.npy")
    assert "FIFO" in error_of(pose_io.read_track, tmp_path / "fifo.npy")
    os.symlink("/dev/zero", tmp_path / "zero.pose")
    assert "character device" in error_of(pose_io.read_track, tmp_path / "zero.pose")
    os.symlink(tmp_path / "missing.json", tmp_path / "broken.json")
    assert "no such file" in error_of(pose_io.read_track, tmp_path / "broken.json")


# ---- images ------------------------------------------------------------------------------

def png_header(width: int, height: int) -> bytes:
    """A PNG signature + IHDR declaring width x height (correct CRC), and no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    def chunk_of(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk + chunk_of(b"IDAT", zlib.compress(b"\0" * 64)) + chunk_of(b"IEND", b"")


@pytest.mark.parametrize("size", [(100_000, 100_000), (20_000, 20_000), (9000, 9000)])
def test_decompression_bombs_are_refused(tmp_path, size):
    from signgen.base.images import read_image as read_frame
    from signgen.pose.extract import read_image

    path = tmp_path / "bomb.png"
    path.write_bytes(png_header(*size))
    for reader in (read_image, read_frame):
        msg = error_of(reader, path)
        assert "image" in msg and "SIGNGEN_MAX_IMAGE_PIXELS" in msg


def test_broken_images_are_input_errors(tmp_path):
    from signgen.pose.extract import read_image

    path = tmp_path / "cut.png"
    path.write_bytes(png_header(64, 64))  # 64 zero bytes of pixel data for 64x64 RGB
    assert "not a readable image" in error_of(read_image, path)


# ---- lexicons ----------------------------------------------------------------------------

@pytest.fixture
def lexicon(tmp_path, real_pose_file) -> Path:
    folder = tmp_path / "lex"
    folder.mkdir()
    shutil.copy(real_pose_file, folder / "a.pose")
    write_lexicon([LexiconEntry("a.pose", "de", "gsg", 0, 0, "A", "A")], folder)
    return folder


@pytest.mark.parametrize("field,value,expected", [
    ("start", "inf", "must be a finite number"), ("end", "1e400", "must be a finite number"),
    ("priority", "nan", "must be a finite number"), ("path", "a\0.pose", "NUL byte"),
    ("glosses", "x" * 200_000, "SIGNGEN_MAX_CSV_FIELD"),
])
def test_lexicon_bad_fields(lexicon, field, value, expected):
    row = dict(path="a.pose", spoken_language="de", signed_language="gsg", start="0", end="0", words="A",
               glosses="A", priority="0")
    row[field] = value
    (lexicon / "index.csv").write_text(HEADER + ",".join(row[k] for k in HEADER.strip().split(",")) + "\n")
    assert expected in error_of(Lexicon.open, lexicon)


def test_lexicon_symlink_loop_and_link_out(lexicon, tmp_path):
    os.symlink(lexicon / "loop.pose", lexicon / "loop.pose")
    (lexicon / "index.csv").write_text(HEADER + "loop.pose,de,gsg,0,0,B,B,0\n")
    assert "cannot be resolved" in error_of(Lexicon.open, lexicon)
    shutil.copy(lexicon / "a.pose", tmp_path / "secret.pose")
    os.symlink(tmp_path / "secret.pose", lexicon / "out.pose")
    (lexicon / "index.csv").write_text(HEADER + "out.pose,de,gsg,0,0,B,B,0\n")
    assert "leaves the lexicon folder" in error_of(Lexicon.open, lexicon)


def test_lexicon_file_swapped_after_open_is_not_read(lexicon, tmp_path):
    """Checked at open, swapped for a link out before the lookup: the lookup refuses it."""
    lex = Lexicon.open(lexicon)
    shutil.copy(lexicon / "a.pose", tmp_path / "secret.pose")
    os.rename(lexicon / "a.pose", tmp_path / "kept.pose")  # kept alive: its inode cannot be reused
    os.symlink(tmp_path / "secret.pose", lexicon / "a.pose")
    assert "leaves the folder" in error_of(lex.lookup, "A", "gsg")
    os.unlink(lexicon / "a.pose")
    shutil.copy(tmp_path / "secret.pose", lexicon / "a.pose")  # another file at the same name
    assert "was replaced after it was checked" in error_of(lex.lookup, "A", "gsg")


# ---- bundles -----------------------------------------------------------------------------

@pytest.fixture
def bundle_copy(bundle, tmp_path) -> Path:
    dst = tmp_path / "b"
    shutil.copytree(bundle, dst)
    return dst


def _edit(path: Path, **changes) -> None:
    doc = json.loads(path.read_text())
    doc.update(changes)
    path.write_text(json.dumps(doc))


def test_bundle_pretrained_path_outside_is_refused_and_never_loaded(bundle_copy, tmp_path, monkeypatch):
    import torch

    from signgen.models.bundle import load_bundle

    calls = []
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(a))
    (tmp_path / "evil.pt").write_bytes(b"pickle")
    cfg = json.loads((bundle_copy / "stage1" / "config.json").read_text())
    cfg["encoder"]["pretrained"] = str(tmp_path / "evil.pt")
    (bundle_copy / "stage1" / "config.json").write_text(json.dumps(cfg))
    assert "a bundle is self-contained" in error_of(load_bundle, bundle_copy)
    assert calls == []


def test_bundle_symlink_out_and_special_files(bundle_copy, tmp_path):
    from signgen.models.bundle import load_bundle

    weights = bundle_copy / "stage2" / "model.safetensors"
    shutil.move(weights, tmp_path / "elsewhere.safetensors")
    os.symlink(tmp_path / "elsewhere.safetensors", weights)
    assert "symbolic link leads out of the bundle folder" in error_of(load_bundle, bundle_copy)
    os.unlink(weights)
    shutil.move(tmp_path / "elsewhere.safetensors", weights)
    os.mkfifo(bundle_copy / "unet" / "extra")
    assert "is not a regular file" in error_of(load_bundle, bundle_copy)


@pytest.mark.parametrize("file,change,expected", [
    ("stage1/config.json", {"encoder": {"arch": "ViT-bigG-14", "image_size": 224}}, "must be one of tiny"),
    ("stage2/config.json", {"block_out_channels": [100_000, 100_000]}, "must be an integer in 1..8192"),
    ("stage2/config.json", {"block_out_channels": [8192] * 4, "down_block_types": ["DownBlock2D"] * 4,
                            "up_block_types": ["UpBlock2D"] * 4, "attention_head_dim": 8},
     "SIGNGEN_MAX_MODEL_PARAMS"),
    ("scheduler/scheduler_config.json", {"num_train_timesteps": 10**12}, "must be an integer in 1..10000"),
    ("unet/config.json", {"sample_size": 10**9}, "must be an integer in 1..4096"),
    ("vae/config.json", {"_class_name": "os.system"}, "must be one of AutoencoderKL"),
    ("bundle.json", {"meta": {"image_size": [10**9, 64]}}, "meta image_size"),
])
def test_bundle_configs_are_checked_before_building(bundle_copy, file, change, expected):
    from signgen.models.bundle import load_bundle

    _edit(bundle_copy / file, **change)
    assert expected in error_of(load_bundle, bundle_copy)


@pytest.mark.parametrize("content", [b"[]", b"\xff\xfe{}", b"{" * 5000, b'{"a": 1e400}'])
def test_bundle_config_shapes(bundle_copy, content):
    from signgen.models.bundle import load_bundle

    (bundle_copy / "stage2" / "config.json").write_bytes(content)
    error_of(load_bundle, bundle_copy)


def test_no_torch_load_in_loading_code():
    root = Path(__file__).resolve().parents[1] / "signgen"
    import re

    call = re.compile(r"^[^\"'#]*\btorch\.load\(", re.M)  # a call, not a mention in a message
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if call.search(p.read_text()) and p.name not in ("metrics.py", "perceptual.py")]
    assert offenders == []  # (LPIPS weights for `eval`/`train vae` are a user's own local files)


# ---- the CLI -----------------------------------------------------------------------------

def test_cli_os_errors_are_one_line_exit_2(cli, tmp_path, monkeypatch):
    pose_io.write_track(track_of(), tmp_path / "t.json")
    out = tmp_path / "ro"
    out.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, m: False if Path(p) == out else real_access(p, m))
    code, _, err = cli("pose", "convert", tmp_path / "t.json", "-o", out / "t.npz")
    assert code == 2 and "is not writable" in err and len(err.strip().splitlines()) == 1
    monkeypatch.setattr(os, "access", real_access)

    import tempfile

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tempfile, "mkstemp", full)
    code, _, err = cli("pose", "convert", tmp_path / "t.json", "-o", out / "t.npz")
    assert code == 2 and "no space left on the device" in err and len(err.strip().splitlines()) == 1


def test_cli_internal_error_is_one_line_and_a_log(cli, tmp_path, monkeypatch):
    from signgen.pose.io import jsonseq

    monkeypatch.setenv("SIGNGEN_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setattr(jsonseq, "_track_from_doc", lambda *a: 1 / 0)
    pose_io.write_track(track_of(), tmp_path / "t.json")
    code, _, err = cli("pose", "convert", tmp_path / "t.json", "-o", tmp_path / "t.npz")
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "internal error: ZeroDivisionError" in err and "full traceback in" in err
    (log,) = (tmp_path / "logs").iterdir()
    assert "Traceback" in log.read_text() and "ZeroDivisionError" in log.read_text()


def test_preview_refuses_a_track_with_nothing_visible(cli, tmp_path):
    pose_io.write_track(track_of(visible=False), tmp_path / "empty.npz")
    code, _, err = cli("pose", "preview", tmp_path / "empty.npz", "-o", tmp_path / "p.mp4")
    assert code == 2 and "no keypoint is visible" in err and not (tmp_path / "p.mp4").exists()
