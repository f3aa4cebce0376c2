"""`Identity`: everything about how one synthetic signer looks, drawn from a seed.

The synthetic world needs many visibly different people with exactly known body
proportions, so appearance and proportions are explicit numbers rather than an image.
Lengths are in head units (one unit = one head height), so the same person can be framed
as a PHOENIX upper-body shot or a DeepFashion full-body shot.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import cv2
import numpy as np

from ..errors import InputError

Color = tuple[int, int, int]

# A spread of realistic skin tones (RGB), from very light to very dark.
SKIN_TONES: tuple[Color, ...] = (
    (255, 224, 196), (241, 194, 167), (224, 172, 138), (198, 134, 95),
    (160, 108, 72), (125, 82, 52), (92, 60, 38), (66, 43, 29),
)
HAIR_COLOURS: tuple[Color, ...] = (
    (20, 16, 14), (60, 40, 26), (110, 72, 40), (180, 140, 80),
    (225, 200, 140), (150, 60, 30), (140, 140, 140), (235, 235, 230),
)
HAIR_STYLES = ("short", "long", "bun", "bald", "curly")
PATTERNS = ("plain", "stripes", "checks", "print")


@dataclass(frozen=True)
class Identity:
    """One synthetic person: appearance (RGB colours) and body proportions (head units)."""

    seed: int
    skin: Color
    hair_colour: Color
    hair_style: str
    clothing_colour: Color
    clothing_colour2: Color  # the pattern's second colour
    pattern: str
    sleeve: float            # sleeve length as a fraction of shoulder->wrist: 0 sleeveless, 1 full
    trousers_colour: Color
    shoulder_width: float    # shoulder to shoulder, head units
    upper_arm: float
    forearm: float
    head_size: float         # scales the head (1.0 = one unit tall)
    hand_size: float         # wrist to middle fingertip, head units
    torso_length: float      # neck to hip midpoint
    leg_length: float        # hip to ankle
    background_top: Color
    background_bottom: Color  # equal to the top colour for a flat background

    def __post_init__(self) -> None:
        if self.hair_style not in HAIR_STYLES:
            raise InputError(f"unknown hair style {self.hair_style!r}; known: {', '.join(HAIR_STYLES)}")
        if self.pattern not in PATTERNS:
            raise InputError(f"unknown clothing pattern {self.pattern!r}; known: {', '.join(PATTERNS)}")
        if not 0.0 <= self.sleeve <= 1.0:
            raise InputError(f"sleeve must be in [0, 1], got {self.sleeve}")
        for name in ("shoulder_width", "upper_arm", "forearm", "head_size", "hand_size",
                     "torso_length", "leg_length"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name} must be > 0, got {getattr(self, name)}")

    @staticmethod
    def sample(seed: int) -> "Identity":
        """A random but reproducible person: the same seed always gives the same identity."""
        rng = np.random.default_rng([0x5167, int(seed)])

        def jitter(c: Color, amount: float) -> Color:
            return tuple(int(v) for v in np.clip(np.asarray(c) + rng.normal(0, amount, 3), 0, 255))

        def vivid() -> Color:
            hsv = np.uint8([[[rng.integers(0, 180), rng.integers(80, 256), rng.integers(60, 230)]]])
            return tuple(int(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])

        skin = jitter(SKIN_TONES[rng.integers(len(SKIN_TONES))], 6)
        hair = jitter(HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))], 8)
        clothing = vivid()
        clothing2 = tuple(int(v) for v in np.clip(255 - np.asarray(clothing) * 0.6 + rng.normal(0, 20, 3), 0, 255))
        grey = rng.integers(90, 220)
        tint = rng.normal(0, 18, 3)
        top = tuple(int(v) for v in np.clip(grey + tint, 0, 255))
        bottom = top if rng.random() < 0.4 else tuple(int(v) for v in np.clip(np.asarray(top) * rng.uniform(0.55, 0.85), 0, 255))
        return Identity(
            seed=int(seed),
            skin=skin,
            hair_colour=hair,
            hair_style=str(rng.choice(HAIR_STYLES)),
            clothing_colour=clothing,
            clothing_colour2=clothing2,
            pattern=str(rng.choice(PATTERNS)),
            sleeve=float(rng.choice([0.0, 0.25, 0.45, 0.75, 0.95, 1.0])),
            trousers_colour=jitter((40, 45, 60), 25),
            shoulder_width=float(rng.uniform(1.55, 2.05)),
            upper_arm=float(rng.uniform(1.3, 1.55)),
            forearm=float(rng.uniform(1.1, 1.3)),
            head_size=float(rng.uniform(0.9, 1.1)),
            hand_size=float(rng.uniform(0.68, 0.82)),
            torso_length=float(rng.uniform(2.5, 2.9)),
            leg_length=float(rng.uniform(3.4, 3.8)),
            background_top=top,
            background_bottom=bottom,
        )

    def to_dict(self) -> dict:
        """Plain JSON-ready values (tuples become lists)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @staticmethod
    def from_dict(d: dict) -> "Identity":
        """Inverse of `to_dict`."""
        known = {f.name for f in fields(Identity)}
        missing = known - set(d)
        if missing:
            raise InputError(f"identity is missing {', '.join(sorted(missing))}")
        return Identity(**{k: (tuple(int(x) for x in v) if isinstance(v, list) else v)
                           for k, v in d.items() if k in known})
