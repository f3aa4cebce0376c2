"""Per-frame hand labels of the synthetic release: handshapes of procedural glosses, letters of
fingerspelled clips, written beside the ground truth (and added to older releases on a rerun)."""

from __future__ import annotations

import json

import numpy as np

from signgen.synth import hands, write_synthetic_release
from signgen.synth.labels import handshape_labels, letter_labels
from signgen.synth.motion import arm_control


def test_handshape_labels_name_held_shapes_and_leave_morphs_unlabelled():
    fist, v = arm_control(0, 0, shape="fist"), arm_control(0, 0, shape="V")
    mid = (fist + v) / 2
    controls = np.stack([np.stack([fist, v]), np.stack([mid, v])])
    labels = handshape_labels(controls)
    assert labels["right_hand"] == ["fist", None]
    assert labels["left_hand"] == ["V", "V"]
    assert handshape_labels(controls, [("si", 0, 1), ("G1", 1, 2)])["left_hand"] == [None, "V"]
    assert set(hands.HANDSHAPES) >= {"fist", "V"}


def test_letter_labels_go_to_the_raised_hand():
    T = 6
    xy = np.zeros((T, 128, 2), np.float32)
    conf = np.ones((T, 128), np.float32)
    xy[:, 4, 1], xy[:, 7, 1] = 100, 40  # left wrist (7) higher in the image
    segs = [("si", 0, 1), ("tr", 1, 2), ("A", 2, 4), ("B", 4, 5), ("si", 5, 6)]
    labels = letter_labels(segs, xy, conf)
    assert labels["left_hand"] == [None, None, "A", "A", "B", None]
    assert labels["right_hand"] == [None] * T


def test_release_writes_labels_and_a_rerun_adds_missing_ones(tmp_path):
    kw = dict(num_signers=3, sentences_per_signer=1, seed=2, max_glosses=2, fashion_poses=2,
              fingerspelling_per_signer=1, progress=False, phoenix_size=(64, 80))
    write_synthetic_release(tmp_path, **kw)
    files = sorted((tmp_path / "groundtruth" / "phoenix").rglob("*.labels.json"))
    gts = [f for f in (tmp_path / "groundtruth" / "phoenix").rglob("*.json") if not f.name.endswith(".labels.json")]
    assert len(files) == len(gts) == 6
    kinds = set()
    for f in files:
        doc = json.loads(f.read_text())
        n = json.loads(f.with_name(f.name.replace(".labels.json", ".json")).read_text())["num_frames"]
        assert len(doc["right_hand"]) == len(doc["left_hand"]) == n
        kinds.add(doc["kind"])
        named = [x for x in doc["right_hand"] + doc["left_hand"] if x is not None]
        assert named, f
        if doc["kind"] == "handshape":
            assert set(named) <= set(hands.HANDSHAPES)
    assert kinds == {"handshape", "letter"}
    files[0].unlink()
    again = write_synthetic_release(tmp_path, **kw)
    assert again["rendered"] == 0 and files[0].exists()
