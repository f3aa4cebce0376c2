"""The shipped examples stay readable and consistent with the formats they demonstrate."""

from pathlib import Path

import numpy as np

from signgen.base.images import read_image
from signgen.pose.io import GlossSequence, read_sequence

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_example_motions_read():
    track = read_sequence(EXAMPLES / "sentence.json")
    assert (track.width, track.height, track.fps, track.layout) == (256, 320, 25.0, "canonical")
    assert [g for g, _, _ in track.meta["segments"]] == ["TROCKEN", "LUFT", "TIEF"]
    pose = read_sequence(EXAMPLES / "sentence.pose")
    assert pose.layout == "holistic" and pose.num_frames == track.num_frames
    # The .pose holds the same motion: body and hands agree to JSON rounding, except the neck,
    # which Holistic does not have (it comes back as the shoulder midpoint).
    keep = [k for k in range(60) if k != 1]
    np.testing.assert_allclose(pose.canonical().xy[:, keep], track.xy[:, keep], atol=0.01)
    glosses = read_sequence(EXAMPLES / "hallo.json")
    assert glosses == GlossSequence(("H", "A", "L", "L", "O"), "fingerspelling", "gsg")


def test_example_signers_are_upper_body_frames():
    for k in (1, 2, 3):
        assert read_image(EXAMPLES / f"signer-{k}.png").shape == (320, 256, 3)  # PHOENIX's aspect, 2x the model's
