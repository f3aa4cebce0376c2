"""Per-frame labels of what each hand shows, for the legibility score.

A procedural sentence knows each hand's handshape parameters per frame (its controls); a
frame is labelled with a named handshape when the hand holds exactly that shape (within a
small tolerance), and left unlabelled (None) while it morphs between two and while the signer
rests (a resting hand carries no sign). A fingerspelled
clip knows its letter boundaries exactly; frames inside a letter's segment are labelled with
the letter on the dominant hand (the one the recording raises: the higher wrist on average
over the letters), the other hand unlabelled. A classifier trained on ground-truth hand crops
with these labels, applied to generated frames, tells whether a sign can be read.
"""

from __future__ import annotations

import numpy as np

from . import hands
from .motion import SHAPE
from .vocabulary import SILENCE, TRANSITION

__all__ = ["handshape_labels", "letter_labels", "TOLERANCE"]

TOLERANCE = 1.0  # degrees (max over the shape parameters) from a named handshape
_NAMES = tuple(hands.HANDSHAPES)
_TABLE = np.stack([hands.HANDSHAPES[n] for n in _NAMES]).astype(np.float32)


def _nearest(params: np.ndarray) -> str | None:
    d = np.abs(_TABLE - params[None]).max(axis=1)
    k = int(d.argmin())
    return _NAMES[k] if d[k] <= TOLERANCE else None


def handshape_labels(controls: np.ndarray, segments=()) -> dict[str, list[str | None]]:
    """{"right_hand": [...], "left_hand": [...]} from arm controls [T, 2, ARM_DIM] (row 0 =
    right); frames inside SILENCE `segments` ((label, start, end), end exclusive) stay None."""
    controls = np.asarray(controls, np.float32)
    resting = np.zeros(len(controls), bool)
    for label, a, b in segments:
        if label == SILENCE:
            resting[a:b] = True
    return {side: [None if resting[t] else _nearest(controls[t, k, SHAPE:]) for t in range(len(controls))]
            for k, side in enumerate(("right_hand", "left_hand"))}


def letter_labels(segments, xy: np.ndarray, conf: np.ndarray) -> dict[str, list[str | None]]:
    """Letters per frame on the dominant hand, from (label, start, end) segments of a
    fingerspelled clip and its canonical track (to find which wrist is raised)."""
    T = len(xy)
    letters: list[str | None] = [None] * T
    frames = []
    for label, a, b in segments:
        if label in (SILENCE, TRANSITION):
            continue
        for t in range(a, min(b, T)):
            letters[t] = str(label)
            frames.append(t)
    right, left = 4, 7  # canonical wrists
    dominant = "right_hand"
    if frames:
        f = np.asarray(frames)
        ok = (conf[f, right] > 0) & (conf[f, left] > 0)
        if ok.any() and float(np.mean(xy[f[ok], left, 1] - xy[f[ok], right, 1])) < 0:
            dominant = "left_hand"  # image y grows downward: the left wrist is higher
    other = "left_hand" if dominant == "right_hand" else "right_hand"
    return {dominant: letters, other: [None] * T}
