"""Regenerate `examples/`: held-out synthetic signers and three kinds of motion file.

The signers come from identity seeds far from any a synthetic release draws (releases derive
theirs by hashing the release seed), so no example signer is ever seen in training. Run:

    python scripts/make_examples.py
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from signgen.pose.io import write_gloss_sequence, write_pose, write_track, GlossSequence
from signgen.synth import Identity, Vocabulary, canonical_pose_for, paint_signer
from signgen.synth.motion import body_for

OUT = Path(__file__).resolve().parent.parent / "examples"
EXAMPLE_SEEDS = (900_001, 900_002, 900_003)
WIDTH, HEIGHT = 256, 320  # PHOENIX-2014-T's aspect, twice the bundled model's 128x160 frames


def main() -> None:
    OUT.mkdir(exist_ok=True)
    identities = [Identity.sample(seed) for seed in EXAMPLE_SEEDS]
    for k, identity in enumerate(identities, 1):
        xy, conf = canonical_pose_for(identity, "upper", WIDTH, HEIGHT)
        Image.fromarray(paint_signer(identity, xy, conf, WIDTH, HEIGHT)).save(OUT / f"signer-{k}.png")

    # A keypoint track: a sentence of the procedural vocabulary (its own seed, unseen glosses order).
    vocab = Vocabulary.sample(900_000, size=12)
    body = body_for(identities[0], "upper", WIDTH, HEIGHT)
    sentence = vocab.sentence(vocab.names[:3], body)
    track = sentence.track(body)
    track.meta["segments"] = [(s["gloss"], s["start"], s["end"]) for s in sentence.gloss_spans()]
    write_track(track, OUT / "sentence.json")
    # The same motion as a MediaPipe-Holistic-layout .pose file, as pose-format tools write them.
    write_pose(track.to_layout("holistic"), OUT / "sentence.pose")
    # A gloss sequence: fingerspell HALLO with the built-in lexicon (German Sign Language).
    write_gloss_sequence(GlossSequence(("H", "A", "L", "L", "O"), "fingerspelling", "gsg"), OUT / "hallo.json")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
