"""`signgen export` (resumable, sharded) and its output read back by `signgen eval`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from signgen.pose.io import read_track
from signgen.rendering import export as ex

CLIPS = {"c1": 3, "c2": 4, "c3": 3}


@pytest.fixture
def prepared(tiny_prepared) -> Path:
    return tiny_prepared


def test_shards_partition_deterministically(monkeypatch):
    jobs = [ex.RenderJob(id=f"k{i}", source=Path("x")) for i in (5, 1, 3, 2, 4)]
    parts = [[j.id for j in ex.take_shard(jobs, (i, 3))] for i in range(3)]
    assert sorted(sum(parts, [])) == ["k1", "k2", "k3", "k4", "k5"]
    assert parts[0] == ["k1", "k4"] and parts == [[j.id for j in ex.take_shard(jobs[::-1], (i, 3))] for i in range(3)]
    for k in ex.RANK_KEYS + ex.SIZE_KEYS:
        monkeypatch.delenv(k, raising=False)
    assert ex.shard_from_env() == (0, 1)
    monkeypatch.setenv("PMI_RANK", "2")  # accelerate's multi-CPU launch (MPI)
    monkeypatch.setenv("PMI_SIZE", "3")
    assert ex.shard_from_env() == (2, 3)
    monkeypatch.setenv("RANK", "1")  # torchrun (accelerate launch --multi_gpu)
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert ex.shard_from_env() == (1, 2)
    with pytest.raises(Exception, match="i/n"):
        ex.parse_shard("2")
    with pytest.raises(Exception, match="0 <= i < n"):
        ex.parse_shard("2/2")


def test_first_frames_cuts_poses_and_ground_truth_together(prepared):
    job = max(ex.jobs_from_prepared(prepared, "test"), key=lambda j: j.poses.num_frames)
    n = job.poses.num_frames
    assert n >= 3
    short = ex.first_frames(job, 2)
    assert short.poses.num_frames == 2 and short.gt_frames == job.gt_frames[:2]
    np.testing.assert_array_equal(short.poses.xy, job.poses.xy[:2])
    assert short.source == job.source and short.source_pose is job.source_pose
    assert ex.first_frames(job, n + 5).poses.num_frames == n  # longer than the clip: all of it
    assert job.poses.num_frames == n  # the job itself is not changed
    with pytest.raises(ValueError, match="n >= 1"):
        ex.first_frames(job, 0)


def test_export_writes_videos_and_pngs_resumes_and_evaluates(cli, bundle, prepared, tmp_path):
    from signgen.video import video_info

    out = tmp_path / "out"
    code, stdout, err = cli("export", prepared, "--split", "test", "-o", out, "--model", bundle, "-q")
    assert code == 0, err
    assert "3 clip(s) rendered (10 frames), 0 already done" in stdout
    for cid, n in CLIPS.items():
        assert video_info(out / "videos" / f"{cid}.mp4")[:1] == (n,)
        pngs = sorted((out / "pred" / cid).glob("*.png"))
        assert len(pngs) == n and np.asarray(Image.open(pngs[0])).shape == (32, 40, 3)
        assert len(list((out / "gt" / cid).glob("*.png"))) == n
        assert (out / "pred" / cid / "poses.npz").is_file()
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    code, stdout, _ = cli("export", prepared, "-o", out, "--model", bundle, "-q")
    assert code == 0 and "0 clip(s) rendered (0 frames), 3 already done" in stdout
    assert before == {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    # an unfinished clip (no video yet) is rendered again
    (out / "videos" / "c2.mp4").unlink()
    code, stdout, _ = cli("export", prepared, "-o", out, "--model", bundle, "-q")
    assert code == 0 and "1 clip(s) rendered (4 frames), 2 already done" in stdout

    scores = tmp_path / "scores.json"
    code, stdout, err = cli("eval", out / "pred", out / "gt", "--json", scores)
    assert code == 0, err
    rep = json.loads(scores.read_text())
    assert set(rep["clips"]) == set(CLIPS) and rep["overall"]["frames"] == 10
    assert all(c["region"] == "poses" for c in rep["clips"].values())
    # videos as predictions: decoded with decord, poses found on the ground-truth side
    code, _, err = cli("eval", out / "videos", out / "gt", "--json", scores)
    assert code == 0, err
    rep = json.loads(scores.read_text())
    assert rep["overall"]["frames"] == 10 and rep["clips"]["c2"]["region"] == "poses"


def test_export_shards_split_the_clips(cli, bundle, prepared, tmp_path):
    done = []
    for i in range(2):
        out = tmp_path / f"shard{i}"
        code, _, err = cli("export", prepared, "-o", out, "--model", bundle, "--shard", f"{i}/2", "-q")
        assert code == 0, err
        done.append({p.stem for p in (out / "videos").glob("*.mp4")})
    assert done[0] | done[1] == set(CLIPS) and not done[0] & done[1]
    assert done[0] == {"c1", "c3"}


def test_export_from_jobs_file(cli, bundle, tmp_path, real_pose_file):
    Image.fromarray(np.zeros((24, 30, 3), np.uint8)).save(tmp_path / "s.png")
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(json.dumps({"id": "j1", "source": "s.png", "poses": str(real_pose_file)}) + "\n")
    out = tmp_path / "out"
    code, stdout, err = cli("export", "--jobs", jobs, "-o", out, "--model", bundle, "--no-retarget", "-q",
                            "--steps", "1")
    assert code == 0, err
    from signgen.video import video_info

    n = read_track(real_pose_file).num_frames
    assert video_info(out / "videos" / "j1.mp4")[0] == n
    assert not (out / "gt").exists()


def test_export_bad_input(cli, bundle, prepared, tmp_path):
    code, _, err = cli("export", prepared, "--split", "dev", "-o", tmp_path / "o", "--model", bundle)
    assert code == 2 and "no pair list for split 'dev'" in err
    code, _, err = cli("export", prepared, "-o", tmp_path / "o", "--model", bundle, "--shard", "3/2")
    assert code == 2 and "0 <= i < n" in err
    code, _, err = cli("export", "-o", tmp_path / "o", "--model", bundle)
    assert code == 2 and "PREPARED or --jobs" in err
    assert not (tmp_path / "o").exists()
