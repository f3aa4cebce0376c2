"""`keep_static`: frames generated only where the source's or the frame's arms and hands are
(and the face when it moves), the source picture kept elsewhere, in latents and in pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from signgen.errors import InputError
from signgen.pose.layouts import canonical as C
from signgen.rendering.static import StaticBlend, static_mask

W, H = 64, 80


def _pose(wrist_y: float) -> tuple[np.ndarray, np.ndarray]:
    """Shoulders at y 30, the right arm's elbow and wrist (and hand points) going to `wrist_y`;
    face points around (32, 15)."""
    xy = np.zeros((C.NUM_KEYPOINTS, 2), np.float32)
    conf = np.zeros(C.NUM_KEYPOINTS, np.float32)
    xy[2], xy[5] = (22, 30), (42, 30)
    xy[3], xy[4] = (18, (30 + wrist_y) / 2), (16, wrist_y)
    xy[6], xy[7] = (46, 45), (48, 60)
    conf[[2, 3, 4, 5, 6, 7]] = 1
    hand = slice(C.RIGHT_HAND_START, C.RIGHT_HAND_START + len(C.HAND))
    xy[hand] = np.array([16, wrist_y]) + np.random.default_rng(0).uniform(-2, 2, (len(C.HAND), 2))
    conf[hand] = 1
    face = slice(C.FACE_START, C.FACE_START + len(C.FACE68))
    angles = np.linspace(0, 2 * np.pi, len(C.FACE68), endpoint=False)
    xy[face] = np.stack([32 + 6 * np.cos(angles), 15 + 7 * np.sin(angles)], 1)
    conf[face] = 1
    return xy, conf


def test_the_mask_covers_both_poses_arms_and_the_face_only_when_it_moves():
    src, tgt = _pose(70), _pose(20)
    m = static_mask(*src, *tgt, W, H)
    assert m.shape == (H, W) and m.dtype == np.float32 and 0 <= m.min() and m.max() == 1
    assert m[70, 16] == 1 and m[20, 16] == 1  # the source's hand and the target's raised hand
    assert m[2, 62] == 0 and m[78, 32] == 0  # a corner of the background, the bottom middle
    assert m[15, 32] == 0  # the face holds still: kept
    moved = (tgt[0].copy(), tgt[1])
    moved[0][C.FACE_START:C.FACE_START + len(C.FACE68)] += (3, 0)
    assert static_mask(*src, *moved, W, H)[15, 32] == 1  # the face moved: generated
    assert (static_mask(*src, *src, W, H) <= m + 1e-6).sum() > 0.9 * W * H  # no motion, a smaller region


def test_the_mask_generates_all_of_the_scored_region_and_little_more():
    """The scored changed region (`region_from_poses`, what `signgen eval` calls the region) is
    generated whole; the kept source starts within a feather's width of it (`static.GROW`)."""
    from signgen.pose.parts import dilate_mask, region_from_poses, region_size

    src, tgt = _pose(70), _pose(20)
    m = static_mask(*src, *tgt, W, H)
    scored = region_from_poses([src, tgt], W, H)
    assert (m[scored] == 1).all()
    _, radius = region_size(W, H)
    near = dilate_mask(scored, 3 * radius)
    assert (m[~near] == 0).all() and (m[near & ~scored] < 1).any()  # feathered, then the source


@pytest.mark.parametrize("kind", ["sample", "epsilon", "v_prediction"])
def test_outside_the_region_the_sampler_is_led_to_the_source_latents(kind):
    from diffusers import DDPMScheduler

    sched = DDPMScheduler(num_train_timesteps=1000, prediction_type=kind)
    known = torch.randn(1, 4, 10, 8)
    src, tgt = _pose(70), _pose(20)
    src, tgt = (src[0] * 2, src[1]), (tgt[0] * 2, tgt[1])
    blend = StaticBlend(*src, np.stack([tgt[0]] * 2), np.stack([tgt[1]] * 2), (2 * W, 2 * H), (W, H),
                        lambda xy: xy / 2, known, sched.alphas_cumprod, kind)
    x_t, t = torch.randn(2, 4, 10, 8), torch.tensor(500)
    inner_out = torch.full((2, 4, 10, 8), 7.0)
    out = blend.denoiser(lambda x, tt, f: inner_out)(x_t, t, torch.tensor([0, 1]))
    m = blend.latent_masks(torch.tensor([0, 1]))
    inside, outside = (m == 1).expand_as(out), (m == 0).expand_as(out)
    assert inside.any() and outside.any()
    assert torch.equal(out[inside], inner_out[inside])
    ab = sched.alphas_cumprod[500]
    x0 = {"sample": lambda o: o,
          "epsilon": lambda o: (x_t - (1 - ab).sqrt() * o) / ab.sqrt(),
          "v_prediction": lambda o: ab.sqrt() * x_t - (1 - ab).sqrt() * o}[kind](out)
    torch.testing.assert_close(x0[outside], known.expand_as(x0)[outside], atol=1e-4, rtol=1e-4)


def test_export_keep_static_keeps_the_source_and_needs_its_pose(bundle, tiny_prepared, tmp_path):
    from signgen.rendering.export import export, jobs_from_prepared
    from signgen.rendering.pipeline import Renderer
    from signgen.rendering.settings import Settings

    import imageio.v3 as iio

    renderer = Renderer.load(bundle, "cpu")
    jobs = jobs_from_prepared(tiny_prepared, "test")
    err = {}
    for name, keep in (("plain", False), ("static", True)):
        export(jobs, tmp_path / name, renderer, Settings(keep_static=keep))
        diffs = []
        for job in jobs:
            src = iio.imread(sorted((tmp_path / name / "gt" / job.id).glob("*.png"))[0]).astype(np.float32)
            for p in sorted((tmp_path / name / "pred" / job.id).glob("*.png")):
                diffs.append(np.abs(iio.imread(p).astype(np.float32) - src).mean())
        err[name] = float(np.mean(diffs))
    assert err["static"] < 0.8 * err["plain"], err  # random weights: only the kept source is close
    track = jobs[0].poses
    with pytest.raises(InputError, match="needs the source picture's pose"):
        list(renderer.render_video(np.zeros((track.height, track.width, 3), np.uint8), track,
                                   Settings(keep_static=True)))
    with pytest.raises(InputError, match="keep_static is for videos"):
        renderer.synthesize(np.zeros((track.height, track.width, 3), np.uint8), track.slice(0, 1), 1,
                            Settings(keep_static=True))
    with pytest.raises(InputError, match="keep_static must be true or false"):
        Settings(keep_static="yes")


def test_outside_the_region_a_frame_is_the_source_picture_exactly(bundle):
    from signgen.pose.track import PoseTrack
    from signgen.rendering.pipeline import Renderer
    from signgen.rendering.settings import Settings

    renderer = Renderer.load(bundle, "cpu")  # tiny: 64x64, so the picture is the model frame
    image = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    src = _pose(55)
    targets = [_pose(y) for y in (50, 35, 20)]
    track = PoseTrack(xy=np.stack([t[0] for t in targets]), conf=np.stack([t[1] for t in targets]),
                      fps=25.0, width=64, height=64)
    frames = list(renderer.render_video(image, track, Settings(keep_static=True), source_pose=src))
    plain = list(renderer.render_video(image, track, Settings()))
    for t, (frame, other) in enumerate(zip(frames, plain)):
        kept = static_mask(*src, *targets[t], 64, 64) == 0
        assert 0.3 < kept.mean() < 0.95
        assert np.array_equal(frame[kept], image[kept])
        assert not np.array_equal(other[kept], image[kept])  # without it, the model redraws them


def test_export_keep_static_with_a_jobs_file_is_refused_up_front(cli, bundle, tmp_path):
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text('{"id": "a", "source": "x.png", "poses": "y.json"}\n')
    code, _, err = cli("export", "--jobs", jobs, "-o", tmp_path / "out", "--model", bundle, "--keep-static")
    assert code == 2 and "--keep-static needs PREPARED" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
