import numpy as np
import pytest
from PIL import Image

from signgen.base.images import read_image
from signgen.data.prepared import Clip, Pair, PreparedDataset
from signgen.errors import InputError
from signgen.pose import PoseTrack


def _track(T: int) -> PoseTrack:
    rng = np.random.default_rng(0)
    return PoseTrack(xy=rng.uniform(0, 50, (T, 128, 2)), conf=np.ones((T, 128)), fps=25, width=64, height=64)


def test_prepared_round_trip_and_resume(tmp_path):
    images = tmp_path / "raw" / "clipA"
    images.mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), i * 40, np.uint8)).save(images / f"images{i + 1:04d}.png")
    ds = PreparedDataset.create(tmp_path / "prep", name="t", fps=25, width=64, height=64, image_root=tmp_path / "raw")
    ds.add_clip(Clip(id="clipA", split="train", num_frames=3, frames="clipA", glosses=["A"]), _track(3))
    ds.save()
    assert ds.write_pairs("train", [Pair(("clipA", 0), ("clipA", 2))]) == 1

    again = PreparedDataset.create(tmp_path / "prep", name="t", fps=25, width=64, height=64, image_root="x")
    assert again.has_clip("clipA") and not again.has_clip("clipB")
    np.testing.assert_array_equal(again.pose("clipA").xy, _track(3).xy)
    assert [p.name for p in again.frame_paths("clipA")] == ["images0001.png", "images0002.png", "images0003.png"]
    assert list(again.pairs("train")) == [Pair(("clipA", 0), ("clipA", 2))]
    assert read_image(again.frame_paths("clipA")[2])[0, 0, 0] == 80


def test_prepared_errors(tmp_path):
    with pytest.raises(InputError, match="no meta.json"):
        PreparedDataset.open(tmp_path)
    ds = PreparedDataset.create(tmp_path / "p", name="t", fps=25, width=64, height=64, image_root=tmp_path)
    with pytest.raises(InputError, match="3 pose frames for 4 images"):
        ds.add_clip(Clip(id="c", split="train", num_frames=4, frames="c"), _track(3))
    with pytest.raises(InputError, match="invalid clip id"):
        ds.add_clip(Clip(id="../evil", split="train", num_frames=3, frames="c"), _track(3))
    ds.clips["esc"] = Clip(id="esc", split="train", num_frames=1, frames=["../../etc/passwd"])
    with pytest.raises(InputError, match="leaves the image root"):
        ds.frame_paths("esc")
    (tmp_path / "bad.png").write_text("not an image")
    with pytest.raises(InputError, match="bad.png: not a readable image"):
        read_image(tmp_path / "bad.png")


def test_meta_is_saved_every_n_clips_so_a_killed_run_keeps_them(tmp_path):
    ds = PreparedDataset.create(tmp_path / "p", name="t", fps=25, width=64, height=64, image_root=tmp_path)
    ds.save_every = 2
    ds.add_clip(Clip(id="a", split="train", num_frames=3, frames="a"), _track(3))
    assert not (tmp_path / "p" / "meta.json").exists()
    ds.add_clip(Clip(id="b", split="train", num_frames=3, frames="b"), _track(3))
    # no save() call: the process "dies" here
    assert sorted(PreparedDataset.open(tmp_path / "p").clips) == ["a", "b"]
