"""`signgen prep synthetic`: a procedural release (PHOENIX-2014-T and DeepFashion layouts plus
exact ground truth) from `signgen.synth`, to run the real preparers and measure against the truth."""

from __future__ import annotations

from pathlib import Path

from ..synth import write_synthetic_release
from ..synth.tree import held_out_words


def make_synthetic_release(out: str | Path, *, num_signers: int = 9, sentences_per_signer: int = 20,
                           fingerspelling_per_signer: int = 0, seed: int = 0, progress: bool = True,
                           size: tuple[int, int] = (210, 260), keep_out: str | Path | None = None) -> dict:
    """Write (or finish) the release under `out`; returns its counts (see `write_synthetic_release`).
    `keep_out`: another release whose dev and test fingerspelled words this one's train never spells."""
    words = held_out_words(keep_out) if keep_out is not None else frozenset()
    return write_synthetic_release(out, num_signers=num_signers, sentences_per_signer=sentences_per_signer,
                                   fingerspelling_per_signer=fingerspelling_per_signer, seed=seed,
                                   progress=progress, phoenix_size=size, keep_out=words)
