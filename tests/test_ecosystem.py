"""What signgen writes, the ecosystem reads: pose-format's readers and normalisation accept every
.pose signgen writes, and spoken-to-signed's own text -> gloss -> pose pipeline runs on a lexicon
learned by `signgen prep lexicon` and on signgen's .pose outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pose_format import Pose
from pose_format.utils.generic import detect_known_pose_format, pose_normalization_info, reduce_holistic

from signgen.data.prepared import Clip, PreparedDataset
from signgen.pose import io
from test_align import GLOSSES, H, W, corpus

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def ecosystem_checks(path: Path) -> Pose:
    """pose-format reads the file, knows its format, reduces and normalises it."""
    pose = Pose.read(path.read_bytes())
    kind = detect_known_pose_format(pose)
    assert kind in ("holistic", "openpose")
    reduced = reduce_holistic(pose)
    if kind == "holistic":
        assert [c.name for c in reduced.header.components] == [
            "POSE_LANDMARKS", "FACE_LANDMARKS", "LEFT_HAND_LANDMARKS", "RIGHT_HAND_LANDMARKS"]
    normalised = pose.normalize(pose_normalization_info(pose.header))
    shoulders = [pose.header.get_point_index(c, p) for c, p in
                 (("POSE_LANDMARKS", "LEFT_SHOULDER"), ("POSE_LANDMARKS", "RIGHT_SHOULDER"))] if kind == "holistic" \
        else [pose.header.get_point_index("pose_keypoints_2d", p) for p in ("LShoulder", "RShoulder")]
    sh = np.ma.getdata(normalised.body.data)[:, 0, shoulders, :2]
    assert np.isfinite(sh).all()
    width = np.linalg.norm(sh[:, 0] - sh[:, 1], axis=-1)
    assert width.mean() == pytest.approx(1.0, abs=1e-3)  # pose-format's normalisation: unit mean shoulder width
    return pose


@pytest.fixture(scope="module")
def learned_lexicon(tmp_path_factory) -> Path:
    from signgen.prep.lexicon import learn_lexicon

    root = tmp_path_factory.mktemp("eco")
    ds = PreparedDataset.create(root / "prep", name="constructed", fps=25, width=W, height=H, image_root=root)
    for i, (track, segs) in enumerate(corpus(12, seed=1)):
        ds.add_clip(Clip(f"s{i:02d}", "train", track.num_frames, f"s{i:02d}", glosses=[s.gloss for s in segs]),
                    track)
    ds.save()
    learn_lexicon(root / "prep", root / "lex", iterations=2, progress=False)
    return root / "lex"


def test_learned_lexicon_index_has_words_and_whole_clip_ends(learned_lexicon):
    from spoken_to_signed.gloss_to_pose import CSVPoseLookup

    from signgen.pose.lexicon import Lexicon

    lex = Lexicon.open(learned_lexicon)
    lookup = CSVPoseLookup(str(learned_lexicon))
    assert sorted(lookup.words_index["de"]["gsg"]) == sorted(g.lower() for g in GLOSSES)
    for entry in lex.entries:
        assert entry.words == entry.glosses.lower() and entry.start == 0 and entry.end > 0
        ours = lex.lookup(entry.glosses, "gsg")
        row = lookup.words_index["de"]["gsg"][entry.words][0]
        theirs, _ = lookup.get_pose(row)  # spoken-to-signed's own cropping by start/end
        assert len(theirs.body.data) == ours.num_frames  # every frame, in both readers
        ecosystem_checks(learned_lexicon / entry.path)


def test_spoken_to_signed_text_to_gloss_to_pose_runs_on_a_learned_lexicon(learned_lexicon, tmp_path):
    from spoken_to_signed.gloss_to_pose import CSVPoseLookup, CoverageType, gloss_to_pose
    from spoken_to_signed.text_to_gloss.simple import text_to_gloss

    sentences = text_to_gloss("Lang, kurz und breit.", "de")
    lookup = CSVPoseLookup(str(learned_lexicon))
    result = gloss_to_pose(sentences[0], lookup, "de", "gsg")
    coverage = {t.word: t.coverage for t in lookup.last_coverage}
    assert coverage["lang"] == coverage["kurz"] == coverage["breit"] == CoverageType.LEXICON
    assert len(result.pose.body.data) > 10
    out = tmp_path / "sentence.pose"
    with open(out, "wb") as f:
        result.pose.write(f)
    back = io.read_track(out)  # and signgen reads what spoken-to-signed made of it
    assert back.layout == "holistic" and back.num_frames == len(result.pose.body.data)


def _outputs(cli, tmp_path: Path) -> dict[str, Path]:
    """Every kind of .pose signgen writes by default."""
    rng = np.random.default_rng(0)
    op = rng.uniform(10, 100, (4, 18, 3)).astype(np.float32)
    op[..., 2] = 1.0
    np.save(tmp_path / "op.npy", op)
    runs = {
        "convert canonical json": ("pose", "convert", EXAMPLES / "sentence.json", "-o", tmp_path / "conv.pose"),
        "convert openpose18": ("pose", "convert", tmp_path / "op.npy", "-o", tmp_path / "op.pose"),
        "from-glosses": ("pose", "from-glosses", "H A L L O", "--language", "gsg", "-o", tmp_path / "gl.pose"),
        "from-text": ("pose", "from-text", "Hallo du", "--language", "de", "--signed-language", "gsg",
                      "-o", tmp_path / "tx.pose"),
    }
    out = {}
    for name, args in runs.items():
        code, _, err = cli(*args)
        assert code == 0, err
        out[name] = Path(args[-1])
    return out


def test_every_pose_signgen_writes_is_read_and_normalised_by_pose_format(cli, tmp_path):
    outputs = _outputs(cli, tmp_path)
    kinds = {name: detect_known_pose_format(ecosystem_checks(p)) for name, p in outputs.items()}
    assert kinds == {"convert canonical json": "holistic", "convert openpose18": "openpose",
                     "from-glosses": "holistic", "from-text": "holistic"}
    ecosystem_checks(EXAMPLES / "sentence.pose")
    # points signgen does not have are marked missing, the ones it has are kept
    track = io.read_track(EXAMPLES / "sentence.json")
    back = io.read_track(outputs["convert canonical json"])
    assert back.layout == "holistic"
    assert (back.conf > 0).sum() < 0.3 * back.conf.size  # most of the 478-point mesh is absent
    again = back.canonical()
    body = [k for k in range(18) if k != 1]  # the neck is derived from the shoulders in holistic
    np.testing.assert_allclose(again.xy[:, body], track.xy[:, body], atol=1e-3)
    np.testing.assert_array_equal(again.conf[:, 18:] > 0, track.conf[:, 18:] > 0)


def test_spoken_to_signed_concatenates_signgen_pose_files(cli, tmp_path):
    from spoken_to_signed.gloss_to_pose import concatenate_poses

    outputs = _outputs(cli, tmp_path)
    poses = [Pose.read(outputs[k].read_bytes()) for k in ("convert canonical json", "from-glosses", "from-text")]
    joined = concatenate_poses(poses)
    assert len(joined.body.data) > 20 and detect_known_pose_format(joined) == "holistic"  # signs capped at 0.8 s


def test_canonical_stays_available_on_request(cli, tmp_path):
    out = tmp_path / "c.pose"
    code, stdout, err = cli("pose", "convert", EXAMPLES / "sentence.json", "-o", out, "--layout", "canonical")
    assert code == 0 and "canonical (128 points)" in stdout, err
    assert [c.name for c in Pose.read(out.read_bytes()).header.components] == ["SIGNGEN_CANONICAL"]
    np.testing.assert_allclose(io.read_track(out).xy, io.read_track(EXAMPLES / "sentence.json").xy, atol=1e-4)
