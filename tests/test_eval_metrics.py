"""Image metrics (whole frame and changed region), the region masks, and `signgen eval` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from signgen.eval import metrics, temporal
from signgen.eval.report import write_poses
from signgen.pose.layouts import canonical as C
from signgen.pose.parts import region_from_poses


def _frames(n=4, h=32, w=40, seed=0):
    rng = np.random.default_rng(seed)
    base = (rng.random((h, w, 3)) * 200).astype(np.uint8)
    out = []
    for t in range(n):
        f = base.copy()
        f[8:16, 4 + 4 * t: 12 + 4 * t] = 255  # a bright block moving right
        out.append(f)
    return out


def test_identical_frames_score_ssim_1_and_capped_psnr():
    f = _frames(1)[0]
    mask = np.zeros(f.shape[:2], bool)
    mask[4:20, 4:20] = True
    assert metrics.ssim(f, f) == pytest.approx(1.0)
    assert metrics.ssim(f, f, mask) == pytest.approx(1.0)
    assert metrics.psnr(f, f) == metrics.PSNR_CAP == 100.0
    assert metrics.psnr(f, f, mask) == 100.0


def test_psnr_known_value_and_region_only_sees_the_region():
    gt = np.zeros((16, 16, 3), np.float32)
    pred = gt + 0.1  # MSE 0.01 -> exactly 20 dB
    assert metrics.psnr(pred, gt) == pytest.approx(20.0, abs=1e-4)
    pred = gt.copy()
    pred[:, :8] = 0.1  # wrong only on the left half
    left = np.zeros((16, 16), bool)
    left[:, :8] = True
    assert metrics.psnr(pred, gt, ~left) == 100.0  # right half is perfect
    assert metrics.psnr(pred, gt, left) == pytest.approx(20.0, abs=1e-4)
    assert metrics.psnr(pred, gt) == pytest.approx(10 * np.log10(1 / 0.005), abs=1e-4)
    assert np.isnan(metrics.psnr(pred, gt, np.zeros((16, 16), bool)))


def test_ssim_region_is_lower_where_the_error_is():
    gt = _frames(1, seed=1)[0]
    pred = gt.copy()
    pred[:, :20] = 255 - pred[:, :20]
    left = np.zeros(gt.shape[:2], bool)
    left[:, :14] = True
    assert metrics.ssim(pred, gt, left) < metrics.ssim(pred, gt) < metrics.ssim(pred, gt, ~left)


def _pose(w=64, h=64):
    xy = np.zeros((C.NUM_KEYPOINTS, 2), np.float32)
    conf = np.zeros(C.NUM_KEYPOINTS, np.float32)
    # right shoulder (2) -> elbow (3) -> wrist (4), a horizontal arm at y = 20
    for k, x in ((2, 10), (3, 25), (4, 40)):
        xy[k], conf[k] = (x, 20), 1
    # a right hand around (48, 20)
    for j in range(21):
        xy[C.RIGHT_HAND_START + j], conf[C.RIGHT_HAND_START + j] = (44 + (j % 5) * 2, 16 + (j // 5) * 2), 1
    return xy, conf


def test_region_from_poses_covers_arm_and_hand_not_the_rest():
    mask = region_from_poses([_pose()], 64, 64)
    assert mask.shape == (64, 64) and mask.dtype == bool
    assert mask[20, 18] and mask[20, 33] and mask[20, 48]  # on the arm, the hand
    assert not mask[55, 5] and not mask[5, 60]  # far away
    assert mask.mean() < 0.25


def test_region_from_pixels_finds_the_moving_block():
    f = _frames(3)
    mask = metrics.region_from_pixels(f[0], f[2])
    assert mask[12, 6] and mask[12, 18]  # where the block was, and where it is
    assert not mask[28, 36]
    assert not metrics.region_from_pixels(f[0], f[0]).any()


def test_masked_temporal_scores_match_temporal_module_on_full_mask():
    p, g = _frames(4, seed=2), _frames(4, seed=3)
    full = np.ones(p[0].shape[:2], bool)
    assert metrics.masked_flicker(p, g, full) == pytest.approx(temporal.flicker(p, g), rel=1e-5)
    assert metrics.masked_warping_error(p, g, full) == pytest.approx(temporal.warping_error(p, g), rel=1e-5)
    # a static prediction flickers less than the moving truth
    still = [p[0]] * 4
    assert metrics.masked_flicker(still, g, full) < 0


def test_lpips_and_fid_report_why_they_are_skipped(tmp_path):
    assert metrics.load_lpips(None)[0] is None and "--lpips-weights" in metrics.load_lpips(None)[1]
    assert metrics.load_fid(None)[0] is None and "--fid-weights" in metrics.load_fid(None)[1]
    w = tmp_path / "w.safetensors"
    w.write_bytes(b"x")
    try:
        import lpips  # noqa: F401
    except ImportError:
        assert "not installed" in metrics.load_lpips(w)[1]


# ---- signgen eval ------------------------------------------------------------------------------

def _write_clip(folder: Path, frames) -> None:
    folder.mkdir(parents=True)
    for t, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"{t:05d}.png")


def test_eval_identical_and_copy_source(cli, tmp_path):
    gt = _frames(4)
    _write_clip(tmp_path / "gt" / "clipA", gt)
    _write_clip(tmp_path / "pred" / "clipA", gt)
    _write_clip(tmp_path / "gt" / "clipB", gt)
    _write_clip(tmp_path / "pred" / "clipB", [gt[0]] * 4)  # copies the source frame
    out = tmp_path / "scores.json"
    code, stdout, err = cli("eval", tmp_path / "pred", tmp_path / "gt", "--json", out)
    assert code == 0, err
    rep = json.loads(out.read_text())
    a, b = rep["clips"]["clipA"], rep["clips"]["clipB"]
    assert a["ssim"] == pytest.approx(1.0) and a["psnr"] == 100.0 and a["psnr_region"] == 100.0
    assert a["flicker"] == pytest.approx(0.0, abs=1e-7) and a["warping_error"] >= 0
    assert a["region"] == "pixels" and b["frames"] == 4
    # copying the source: fine on the whole frame, clearly worse on the changed region
    assert b["ssim_region"] < b["ssim"] < 1.0
    assert b["psnr_region"] < b["psnr"]
    assert b["flicker"] < 0  # frozen while the truth moves
    assert rep["overall"]["frames"] == 8 and rep["overall"]["clips"] == 2
    assert rep["overall"]["ssim"] == pytest.approx((a["ssim"] + b["ssim"]) / 2)
    assert "LPIPS skipped" in stdout and "FID skipped" in stdout and "FVD skipped" in stdout and "overall" in stdout


def test_clip_psnr_pools_mse_so_copied_frames_do_not_add_the_cap(tmp_path):
    """Two frames exact, two with MSE 0.01: the clip's PSNR is that of the pooled MSE 0.005
    (23.0 dB), not the mean of 100, 100, 20 and 20 dB (which depends on the cap)."""
    from signgen.eval.report import evaluate

    gt = [np.full((16, 16, 3), 100, np.uint8) for _ in range(4)]
    pred = [f.copy() for f in gt]
    for t in (2, 3):  # |error| 0.1 everywhere -> MSE 0.01 -> 20 dB
        pred[t] = np.full((16, 16, 3), 100 + 25.5, np.float64).round().astype(np.uint8)
    _write_clip(tmp_path / "gt" / "c", gt)
    _write_clip(tmp_path / "pred" / "c", pred)
    rep = evaluate(tmp_path / "pred", tmp_path / "gt")
    c, o = rep["clips"]["c"], rep["overall"]
    mse = ((126 - 100) / 255) ** 2 / 2
    assert c["mse"] == pytest.approx(mse) and c["psnr"] == pytest.approx(10 * np.log10(1 / mse), abs=1e-3)
    assert c["psnr_frame_mean"] == pytest.approx((100 + 100 + 2 * 10 * np.log10(1 / (2 * mse))) / 4, abs=1e-3)
    assert o["psnr"] == pytest.approx(c["psnr"]) and o["psnr_frame_mean"] == pytest.approx(c["psnr_frame_mean"])
    assert metrics.psnr_from_mse(0.0) == 100.0 and np.isnan(metrics.psnr_from_mse(float("nan")))


def test_eval_uses_poses_when_present(cli, tmp_path):
    frames = [np.full((64, 64, 3), 90, np.uint8) for _ in range(2)]
    _write_clip(tmp_path / "gt" / "c", frames)
    pred = [f.copy() for f in frames]
    pred[1][55:60, 2:8] = 0  # an error far from the arms: counts for the whole frame only
    _write_clip(tmp_path / "pred" / "c", pred)
    xy, conf = _pose()
    write_poses(tmp_path / "pred" / "c" / "poses.npz", np.stack([xy, xy]), np.stack([conf, conf]), xy, conf)
    out = tmp_path / "s.json"
    code, _, err = cli("eval", tmp_path / "pred", tmp_path / "gt", "--json", out)
    assert code == 0, err
    c = json.loads(out.read_text())["clips"]["c"]
    assert c["region"] == "poses"
    assert c["psnr_region"] == 100.0 and c["psnr"] < 100.0


def test_eval_errors(cli, tmp_path):
    _write_clip(tmp_path / "gt" / "a", _frames(3))
    _write_clip(tmp_path / "pred" / "a", _frames(2))
    code, _, err = cli("eval", tmp_path / "pred", tmp_path / "gt")
    assert code == 2 and "2 predicted frames but 3 ground-truth frames" in err
    _write_clip(tmp_path / "pred2" / "zzz", _frames(2))
    _write_clip(tmp_path / "pred2" / "yyy", _frames(2))
    code, _, err = cli("eval", tmp_path / "pred2", tmp_path / "gt")
    assert code == 2 and "no ground truth for clip(s) yyy, zzz" in err
    code, _, err = cli("eval", tmp_path / "nothing", tmp_path / "gt")
    assert code == 2 and "nothing" in err
    code, _, err = cli("eval", tmp_path / "pred", tmp_path / "gt", "--json", tmp_path / "no" / "s.json")
    assert code == 2 and "does not exist" in err


def test_eval_scores_hand_and_face_crops(cli, tmp_path):
    """An error inside the right hand's box shows in the hand crops, not the face crop."""
    from signgen.pose.parts import part_boxes

    xy, conf = _pose()
    for j in range(68):  # a face around (20, 45), away from the hand
        xy[C.FACE_START + j], conf[C.FACE_START + j] = (16 + (j % 9), 41 + (j // 9)), 1
    frames = [np.full((64, 64, 3), 90, np.uint8) for _ in range(2)]
    _write_clip(tmp_path / "gt" / "c", frames)
    pred = [f.copy() for f in frames]
    x0, y0, x1, y1 = part_boxes(xy, conf, 64, 64)["right_hand"]
    pred[1][y0:y1, x0:x1] = 0
    _write_clip(tmp_path / "pred" / "c", pred)
    write_poses(tmp_path / "pred" / "c" / "poses.npz", np.stack([xy, xy]), np.stack([conf, conf]), xy, conf)
    out = tmp_path / "s.json"
    code, stdout, err = cli("eval", tmp_path / "pred", tmp_path / "gt", "--json", out)
    assert code == 0, err
    rep = json.loads(out.read_text())
    c = rep["clips"]["c"]
    assert c["crops_hands"] == 2 and c["crops_face"] == 2  # no left hand in this pose
    assert c["psnr_face"] == 100.0 and c["ssim_face"] == pytest.approx(1.0)
    assert c["psnr_hands"] < c["psnr"] < 100.0  # the error is a larger share of the hand crops
    assert rep["overall"]["psnr_hands"] == pytest.approx(c["psnr_hands"])
    from signgen.eval.report import table

    headers = [col.header for col in table(rep).columns]
    assert "SSIM hands/face" in headers and "PSNR hands/face" in headers


def test_eval_keypoint_consistency_on_a_real_photo(cli, tmp_path):
    """--keypoints: MediaPipe on the frames against the target poses. The target here is
    MediaPipe's own result on the same photo, so the arm joints agree to within a pixel."""
    import skimage

    from signgen.pose.extract import extract_image

    photo = np.ascontiguousarray(skimage.data.astronaut()[::2, ::2])
    track = extract_image(photo).to_layout("canonical")
    for name in ("pred", "gt"):
        _write_clip(tmp_path / name / "c", [photo, photo])
    write_poses(tmp_path / "pred" / "c" / "poses.npz", np.concatenate([track.xy, track.xy]),
                np.concatenate([track.conf, track.conf]), track.xy[0], track.conf[0])
    out = tmp_path / "s.json"
    code, stdout, err = cli("eval", tmp_path / "pred", tmp_path / "gt", "--json", out, "--keypoints")
    assert code == 0, err
    c = json.loads(out.read_text())["clips"]["c"]
    assert c["arm_error_px"] < 1.0
    assert "MediaPipe on the frames: arm joint error" in stdout
