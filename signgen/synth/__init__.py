"""Procedural signers: a synthetic world of people, signs and sentences with exact ground truth.

No PHOENIX or DeepFashion data can be downloaded here, so the toolkit carries its own:
`Identity` (how a person looks and is built), `paint_signer` (that person in a canonical
pose), a gloss `Vocabulary` whose sentences have exact gloss boundaries, real fingerspelling
tracks retargeted onto a synthetic signer, and `write_synthetic_release`, which lays all of it
out like the real releases. numpy + OpenCV only; no torch.
"""

from .body import FRAMINGS, ArmState, Body, body_geometry, canonical_pose_for, compose_pose
from .identity import Identity
from .motion import controls_to_track, fingerspelling_track, neutral_track, retarget_onto
from .painter import paint_signer
from .spelling import SpelledClip, spell_onto
from .tree import write_synthetic_release
from .vocabulary import Gloss, Sentence, Vocabulary

__all__ = [
    "FRAMINGS", "ArmState", "Body", "Gloss", "Identity", "Sentence", "Vocabulary", "body_geometry",
    "canonical_pose_for", "compose_pose", "controls_to_track", "fingerspelling_track", "neutral_track",
    "SpelledClip", "paint_signer", "retarget_onto", "spell_onto", "write_synthetic_release",
]
