"""A procedural gloss vocabulary and sentences with exactly known gloss boundaries.

Each gloss is 2-4 keyframes of body-relative arm controls (wrist place, wrist bend, palm
direction, handshape) with its own duration. A sentence is rest, then each gloss in turn
with short eased transitions between the end of one and the start of the next
(co-articulation), then rest: so every frame's label is known — which PHOENIX lacks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..pose.track import PoseTrack
from . import hands
from .body import REST_BEND, REST_DEPTH, REST_LATERAL, REST_REACH, Body
from .motion import ARM_DIM, FACE_DIM, FPS, arm_control, controls_to_track, ease, interpolate, rest_control

GLOSS_NAMES = (
    "MORGEN", "REGEN", "NORD", "SONNE", "WOLKE", "SCHNEE", "WIND", "HEUTE", "ABEND", "NACHT",
    "TAG", "WARM", "KALT", "GRAD", "SUED", "OST", "WEST", "REGION", "DEUTSCHLAND", "NEBEL",
    "GEWITTER", "FROST", "STURM", "MEHR", "WENIG", "AUCH", "DANN", "SPAETER", "MONTAG",
    "DIENSTAG", "MITTWOCH", "DONNERSTAG", "FREITAG", "SAMSTAG", "SONNTAG", "WETTER",
    "FREUNDLICH", "TEMPERATUR", "KUEHL", "HOCH", "TIEF", "MILD", "SCHAUER", "KLAR", "GLATT",
    "VORSICHT", "MAXIMAL", "MINUS", "NULL", "BERG", "KUESTE", "FLUSS", "WECHSELHAFT",
    "BEWOELKT", "TROCKEN", "NASS", "LUFT", "MITTAG", "WOCHENENDE", "ZEHN",
)
SILENCE, TRANSITION = "si", "tr"  # labels of rest and transition frames in a segmentation

# Places in signing space: (lateral in shoulder widths toward the hand's own side,
# in head units below the neck).
# vertical in head units below the neck, depth in head units toward the camera).
LOCATIONS = {
    "neutral": (0.18, 1.25, 1.1), "neutral_low": (0.25, 1.7, 0.9), "neutral_high": (0.2, 0.6, 1.2),
    "chest": (-0.05, 0.75, 0.45), "chin": (0.02, -0.5, 0.6), "mouth": (0.05, -0.7, 0.65),
    "cheek": (0.18, -0.8, 0.45), "forehead": (0.05, -1.05, 0.6), "temple": (0.3, -0.95, 0.3),
    "side": (0.75, 0.9, 0.6), "above": (0.55, -1.0, 0.4), "shoulder_other": (-0.45, 0.25, 0.4),
    "shoulder_own": (0.55, 0.0, 0.6), "far_side": (0.95, 0.3, 0.5),
}
MAX_STEP = 0.4  # fastest wrist move per frame (shoulder widths / head units): about 2 m/s at 25 fps
MIN_VERTICAL = -1.05  # higher wrists would put the fingers out of the upper-body frame
HANDSHAPE_NAMES = tuple(hands.HANDSHAPES)


@dataclass(frozen=True)
class Gloss:
    """One sign: keyframe times in [0, 1], arm controls [K, 2, ARM_DIM] (right, left arm) and
    face controls [K, FACE_DIM] (mouth opening, head shift) per keyframe, its length in frames."""

    name: str
    times: tuple[float, ...]
    controls: np.ndarray
    face: np.ndarray
    frames: int
    hands: str  # "one", "symmetric", "alternating", "base"

    def sample_controls(self) -> tuple[np.ndarray, np.ndarray]:
        """Arm controls [frames, 2, ARM_DIM] and face controls [frames, FACE_DIM], eased between keyframes."""
        t = np.linspace(0.0, 1.0, self.frames, dtype=np.float32)
        times = np.asarray(self.times, np.float32)
        k = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 2)
        w = ease((t - times[k]) / (times[k + 1] - times[k]))
        ctrl = (1 - w)[:, None, None] * self.controls[k] + w[:, None, None] * self.controls[k + 1]
        face = (1 - w)[:, None] * self.face[k] + w[:, None] * self.face[k + 1]
        return ctrl.astype(np.float32), face.astype(np.float32)


def _sample_gloss(name: str, rng: np.random.Generator, rest_left: np.ndarray) -> Gloss:
    n_key = int(rng.integers(2, 5))
    kind = str(rng.choice(["one", "one", "symmetric", "alternating", "base"]))
    shapes = rng.choice(HANDSHAPE_NAMES, size=2)
    locs = list(LOCATIONS)
    home = LOCATIONS[str(rng.choice(locs))]
    base = arm_control(0.1, 1.25, 1.0, bend=float(rng.uniform(-20, 20)), palm=1.0, shape="flat")
    controls = np.zeros((n_key, 2, ARM_DIM), np.float32)
    for j in range(n_key):
        if j == 0 or rng.random() < 0.5:
            lat, vert, depth = LOCATIONS[str(rng.choice(locs))] if j > 0 else home
        lat += rng.normal(0, 0.06)
        vert = max(MIN_VERTICAL, vert + rng.normal(0, 0.12))
        depth = max(0.2, depth + rng.normal(0, 0.1))
        shape = str(shapes[0] if j == 0 or rng.random() < 0.6 else shapes[1])
        right = arm_control(lat, vert, depth, bend=float(rng.uniform(-35, 35)),
                            palm=float(rng.choice([1.0, 1.0, -1.0, 0.3])), shape=shape)
        if kind == "one":
            left = rest_left
        elif kind in ("symmetric", "alternating"):
            right[0] = max(right[0], 0.08)  # two moving hands stay on their own sides
            left = right.copy()
        if kind == "alternating":
            left[1] = max(MIN_VERTICAL, left[1] + 0.6 * (1 if j % 2 else -1))
        elif kind == "base":
            left = base
        controls[j, 0], controls[j, 1] = right, left
    times = np.linspace(0.0, 1.0, n_key)
    times[1:-1] += rng.uniform(-0.25, 0.25, n_key - 2) / (n_key - 1)
    face = np.zeros((n_key, FACE_DIM), np.float32)
    face[:, 0] = rng.uniform(0.0, 0.7, n_key) * (rng.random() < 0.7)  # mouthing
    face[:, 1:] = rng.normal(0.0, 0.06, (n_key, 2)) * (rng.random() < 0.6)  # head tilts and nods
    # long enough that no keyframe-to-keyframe move is faster than MAX_STEP per frame
    dist = np.abs(np.diff(controls[:, :, :2], axis=0)).max(axis=(1, 2))
    needed = int(np.ceil((1.5 * dist / MAX_STEP / np.diff(times)).max())) + 1
    frames = max(int(rng.integers(10, 24)), needed)
    return Gloss(name=name, times=tuple(float(t) for t in times), controls=controls, face=face,
                 frames=frames, hands=kind)


def _transition_frames(a: np.ndarray, b: np.ndarray, at_least: int) -> int:
    """Frames for an eased move from controls a to b without exceeding MAX_STEP per frame."""
    dist = float(np.abs(b[:, :2] - a[:, :2]).max())
    return max(at_least, int(np.ceil(1.5 * dist / MAX_STEP)) - 1)


@dataclass(frozen=True)
class Sentence:
    """Per-frame controls of a signed sentence and which frames belong to which gloss."""

    glosses: tuple[str, ...]
    controls: np.ndarray        # [T, 2, ARM_DIM]
    face: np.ndarray            # [T, FACE_DIM]
    segments: tuple[tuple[str, int, int], ...]  # (label, start, end) partitioning [0, T); end exclusive

    @property
    def num_frames(self) -> int:
        return int(self.controls.shape[0])

    def gloss_spans(self) -> list[dict]:
        """[{"gloss", "start", "end"}] for the glosses only, in order (end exclusive)."""
        return [{"gloss": lab, "start": a, "end": b} for lab, a, b in self.segments
                if lab not in (SILENCE, TRANSITION)]

    def track(self, body: Body, fps: float = FPS) -> PoseTrack:
        """The sentence performed by `body`: a canonical keypoint track."""
        return controls_to_track(body, self.controls, self.face, fps=fps)


class Vocabulary:
    """A set of glosses, sampled from a seed."""

    def __init__(self, glosses: list[Gloss], seed: int) -> None:
        self.glosses = {g.name: g for g in glosses}
        self.seed = seed

    @staticmethod
    def sample(seed: int, size: int = 40) -> "Vocabulary":
        """`size` glosses with PHOENIX-like names; the same seed gives the same vocabulary."""
        if not 1 <= size <= len(GLOSS_NAMES):
            raise InputError(f"vocabulary size must be in 1..{len(GLOSS_NAMES)}, got {size}")
        rng = np.random.default_rng([0x6105, int(seed)])
        names = [str(n) for n in rng.choice(GLOSS_NAMES, size=size, replace=False)]
        # glosses are defined for a "standard" body; the idle left arm uses standard rest proportions
        rest_left = arm_control(REST_LATERAL, 0.2 + REST_REACH * 2.65, REST_DEPTH, bend=REST_BEND, palm=-1.0)
        return Vocabulary([_sample_gloss(n, rng, rest_left) for n in names], seed)

    @property
    def names(self) -> list[str]:
        return list(self.glosses)

    def __len__(self) -> int:
        return len(self.glosses)

    def __getitem__(self, name: str) -> Gloss:
        if name not in self.glosses:
            raise InputError(f"gloss {name!r} is not in the vocabulary")
        return self.glosses[name]

    def sample_glosses(self, rng: np.random.Generator, min_len: int = 2, max_len: int = 5) -> tuple[str, ...]:
        """A random gloss sequence (no gloss twice in a row)."""
        n = int(rng.integers(min_len, max_len + 1))
        out: list[str] = []
        names = self.names
        while len(out) < n:
            g = str(rng.choice(names))
            if not out or out[-1] != g:
                out.append(g)
        return tuple(out)

    def sentence(self, glosses: list[str] | tuple[str, ...], body: Body, *, rest: int = 8,
                 transition: int = 5, lead: int = 6) -> Sentence:
        """Rest (`rest` frames), an eased move into the first gloss (at least `lead` frames), the
        glosses joined by eased moves of at least `transition` frames (longer for long moves, so
        no wrist outruns MAX_STEP per frame), a move back and rest again. The idle arm of a
        one-handed gloss rests in `body`'s own rest pose."""
        if not glosses:
            raise InputError("a sentence needs at least one gloss")
        rest_ctrl = rest_control(body.identity)
        rest_face = np.zeros(FACE_DIM, np.float32)
        parts: list[tuple[str, np.ndarray, np.ndarray]] = [
            (SILENCE, np.repeat(rest_ctrl[None], rest, 0), np.repeat(rest_face[None], rest, 0))]
        prev_c, prev_f = rest_ctrl, rest_face
        for i, name in enumerate(glosses):
            c, f = self[name].sample_controls()
            if self[name].hands == "one":
                c[:, 1] = rest_ctrl[1]
            n = _transition_frames(prev_c, c[0], lead if i == 0 else transition)
            parts.append((TRANSITION, interpolate(prev_c, c[0], n), interpolate(prev_f, f[0], n)))
            parts.append((name, c, f))
            prev_c, prev_f = c[-1], f[-1]
        n = _transition_frames(prev_c, rest_ctrl, lead)
        parts.append((TRANSITION, interpolate(prev_c, rest_ctrl, n), interpolate(prev_f, rest_face, n)))
        parts.append((SILENCE, np.repeat(rest_ctrl[None], rest, 0), np.repeat(rest_face[None], rest, 0)))
        parts = [p for p in parts if len(p[1])]
        segments, start = [], 0
        for label, c, _ in parts:
            segments.append((label, start, start + len(c)))
            start += len(c)
        controls = np.concatenate([c for _, c, _ in parts]).astype(np.float32)
        face = np.concatenate([f for _, _, f in parts]).astype(np.float32)
        return Sentence(tuple(glosses), controls, face, tuple(segments))

    def to_dict(self) -> dict:
        """JSON-ready definitions of every gloss (ground truth of the vocabulary)."""
        return {
            "seed": self.seed,
            "face_layout": ["mouth", "head_dx", "head_dy"],
            "control_layout": ["lateral", "vertical", "depth", "bend", "palm"] + [f"hand_{i}" for i in range(hands.NUM_PARAMS)],
            "glosses": {
                g.name: {"frames": g.frames, "hands": g.hands, "times": list(g.times),
                         "face": np.round(g.face, 4).tolist(), "controls": np.round(g.controls, 4).tolist()}
                for g in self.glosses.values()
            },
        }
