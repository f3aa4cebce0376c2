"""Seeds derived from words: every random draw of a run is a pure function of (seed, what, where)."""

from __future__ import annotations

import numpy as np


def derive_seed(*words: int) -> int:
    """A 64-bit seed that is a pure function of the words (numpy's SeedSequence does the hashing).

    Its low 32 bits are `SeedSequence(words).generate_state(1)[0]` (uint32), and `>> 1` gives a
    63-bit seed; both are used where a smaller seed is needed."""
    return int(np.random.SeedSequence([int(w) for w in words]).generate_state(1, np.uint64)[0])
