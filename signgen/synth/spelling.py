"""Real fingerspelling performed by a synthetic signer, with exact per-letter boundaries.

A word is spelled with the built-in lexicon (real MediaPipe recordings shipped by
spoken-to-signed) by `signgen.pose.stitch.glosses_to_track`, which gives one continuous track
and the frame range of every letter. That track is fitted onto the identity, the face is
swapped for the identity's own (so the person keeps their head size and features; the recorded
head motion is kept as a shift), and the clip starts and ends at the identity's rest pose
with eased moves in between, the way the procedural sentences do. The letter ranges are then
exact ground truth: the clip is built from them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..pose.layouts import canonical as C
from ..pose.lexicon import Lexicon
from ..pose.track import PoseTrack
from .body import in_view
from .identity import Identity
from .motion import FPS, interpolate, neutral_track, retarget_onto
from .vocabulary import SILENCE, TRANSITION

# Short common words per sign language (A-Z only, 3-6 letters), spelled with that language's
# alphabet; digraph signs (Spanish CH, LL, RR) come out as one letter where the alphabet has them.
WORDS: dict[str, tuple[str, ...]] = {
    "gsg": ("HALLO", "HAUS", "BAUM", "AUTO", "REGEN", "WIND", "NORD", "SONNE", "MOND", "BROT",
            "KALT", "WARM", "NEBEL", "BERLIN", "BONN", "MAMA", "PAPA", "NAME", "TAG", "JAHR",
            "ZEIT", "WOLKE", "FRAU", "MANN", "KIND", "SCHULE", "WASSER", "GRAD"),
    "ase": ("HELLO", "NAME", "RAIN", "SNOW", "WIND", "SUN", "COLD", "WARM", "BOSTON", "DALLAS",
            "MOM", "DAD", "BOOK", "DOG", "CAT", "TODAY", "STORM", "CLOUD", "WATER", "HOUSE",
            "SCHOOL", "FRIEND", "JOB", "CAR"),
    "fsl": ("SALUT", "PARIS", "NUAGE", "PLUIE", "NEIGE", "VENT", "SOLEIL", "FROID", "CHAUD",
            "LYON", "NICE", "MAMAN", "PAPA", "NOM", "JOUR", "NUIT", "MAISON", "ECOLE", "AMI", "EAU"),
    "ssp": ("HOLA", "LLUVIA", "SOL", "NUBE", "VIENTO", "FRIO", "CALOR", "MADRID", "CASA",
            "NOMBRE", "PERRO", "NOCHE", "AGUA", "AMIGO", "MAMA", "PAPA", "DIA", "GATO"),
}
LANGUAGES = tuple(WORDS)
RANDOM_LETTERS = 0.25  # share of clips spelling random letters instead of a word
REST_FRAMES, LEAD_FRAMES = 8, 6
MAX_STEP = 0.4  # fastest wrist move per frame in the rest transitions, in shoulder widths (as the vocabulary)
HEAD_POINTS = [0, 14, 15, 16, 17] + list(range(C.FACE_START, C.NUM_KEYPOINTS))


@dataclass(frozen=True)
class SpelledClip:
    """A fingerspelled word on one identity: the track and its segmentation.

    `segments` tiles [0, T) in order: rest (`si`), the move up (`tr`), one segment per letter,
    the move down (`tr`), rest (`si`); ends exclusive."""

    language: str
    letters: tuple[str, ...]
    track: PoseTrack
    segments: tuple[tuple[str, int, int], ...]

    @property
    def num_frames(self) -> int:
        return self.track.num_frames

    def gloss_spans(self) -> list[dict]:
        """[{"gloss", "start", "end"}] for the letters only, in order (end exclusive)."""
        return [{"gloss": lab, "start": a, "end": b} for lab, a, b in self.segments
                if lab not in (SILENCE, TRANSITION)]


def alphabet(language: str, lexicon: Lexicon) -> list[str]:
    """The single Latin letters A-Z that `language`'s fingerspelling alphabet has a sign for."""
    if language not in lexicon.languages():
        raise InputError(f"no fingerspelling alphabet for {language!r} (have: {', '.join(lexicon.languages())})")
    return sorted(g for g in lexicon.glosses(language) if len(g) == 1 and "A" <= g <= "Z")


def pick_letters(rng: np.random.Generator, language: str, lexicon: Lexicon) -> tuple[str, ...]:
    """The letters of one clip: a common word of `language` (or, in `RANDOM_LETTERS` of the
    cases, 3-6 random letters of its alphabet), split into that alphabet's signs."""
    from ..pose.stitch import spell

    if language in WORDS and rng.random() >= RANDOM_LETTERS:
        word = str(rng.choice(WORDS[language]))
    else:
        letters = alphabet(language, lexicon)
        word = "".join(str(c) for c in rng.choice(letters, size=int(rng.integers(3, 7))))
    return tuple(spell(word, language, lexicon))


def _moves(a: np.ndarray, b: np.ndarray, at_least: int, shoulder_width: float) -> int:
    """Frames for an eased move between poses a and b: no wrist faster than MAX_STEP per frame."""
    dist = float(np.linalg.norm(b[[4, 7]] - a[[4, 7]], axis=-1).max()) / max(shoulder_width, 1e-6)
    return max(at_least, int(np.ceil(1.5 * dist / MAX_STEP)) - 1)


def _own_face(xy: np.ndarray, neutral: np.ndarray, limit: float) -> np.ndarray:
    """The identity's own face on every frame, moved as the recorded head moves (its shift
    from the clip's median head position, at most `limit` pixels)."""
    head = xy[:, C.FACE_START:].mean(axis=1)
    shift = head - np.median(head, axis=0)
    norm = np.linalg.norm(shift, axis=-1, keepdims=True)
    shift = shift * np.minimum(1.0, limit / np.maximum(norm, 1e-6))
    out = xy.copy()
    out[:, HEAD_POINTS] = neutral[HEAD_POINTS][None] + shift[:, None]
    return out


def spell_onto(identity: Identity, letters: tuple[str, ...] | list[str], language: str, *,
               width: int = 210, height: int = 260, framing: str = "upper", fps: float = FPS,
               lexicon: Lexicon | None = None, rest: int = REST_FRAMES, lead: int = LEAD_FRAMES) -> SpelledClip:
    """`letters` fingerspelled in `language` by `identity`, starting and ending at rest."""
    from ..pose.stitch import glosses_to_track

    lex = lexicon or Lexicon.open("fingerspelling")
    letters = tuple(letters)
    spelled = glosses_to_track(list(letters), lex, language, fps=fps, width=width, height=height)
    moved = retarget_onto(spelled, identity, framing, width, height)
    neutral = neutral_track(identity, framing, width, height, fps=fps)
    rest_xy, rest_conf = neutral.xy[0], neutral.conf[0]
    sw = float(np.linalg.norm(rest_xy[2] - rest_xy[5]))
    xy = _own_face(moved.xy, rest_xy, limit=0.15 * sw)
    n_in = _moves(rest_xy, xy[0], lead, sw)
    n_out = _moves(xy[-1], rest_xy, lead, sw)
    parts = [
        (SILENCE, np.repeat(rest_xy[None], rest, 0)),
        (TRANSITION, interpolate(rest_xy, xy[0], n_in)),
        (None, xy),
        (TRANSITION, interpolate(xy[-1], rest_xy, n_out)),
        (SILENCE, np.repeat(rest_xy[None], rest, 0)),
    ]
    segments, start = [], 0
    for label, part in parts:
        if label is None:
            segments += [(str(g), start + a, start + b) for g, a, b in spelled.meta["segments"]]
        elif len(part):
            segments.append((label, start, start + len(part)))
        start += len(part)
    all_xy = np.concatenate([p for _, p in parts]).astype(np.float32)
    conf = np.minimum(in_view(all_xy, width, height), rest_conf[None]).astype(np.float32)
    track = PoseTrack(xy=all_xy, conf=conf, fps=fps, width=width, height=height,
                      meta={"identity_seed": identity.seed, "framing": framing, "language": language,
                            "glosses": list(letters)})
    if [s[0] for s in segments if s[0] not in (SILENCE, TRANSITION)] != list(letters):
        raise RuntimeError(f"fingerspelling segments do not match the letters {letters}")  # a stitch bug
    return SpelledClip(language, letters, track, tuple(segments))
