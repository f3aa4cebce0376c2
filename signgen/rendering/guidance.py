"""FPDM's classifier-free guidance as a weighted sum of the branches that matter.

The stage-2 UNet is trained with each condition dropped at random, so it can predict three
ways: unconditional (everything dropped), source + pose (fusion embedding dropped) and full.
FPDM combines them as

    eps = eps_u + w (eps_sp - eps_u) + w_f (eps_full - eps_sp)
        = (1 - w) eps_u + (w - w_f) eps_sp + w_f eps_full

with w_f = w in the paper. Written as the second line, each branch has a weight, and a branch
whose weight is 0 needs no UNet work: with one weight the source + pose branch drops out (two
branches), with w = 1 only the full branch is left (one), with w = 0 only the unconditional one.
A stage 2 trained without the fusion embedding has no fusion term: its full branch is its
source + pose branch.
"""

from __future__ import annotations

from typing import Callable

from torch import Tensor

from ..models.stage2 import BRANCHES

Branches = Callable[[Tensor, Tensor, Tensor, tuple[str, ...]], "tuple[Tensor, ...]"]
"""branches(x_t, t, frame_index, names) -> one prediction per name, in one batched model call."""


def branch_weights(w: float, w_fusion: float | None = None, uses_fusion: bool = True) -> dict[str, float]:
    """The weight of each branch in FPDM's guidance, branches of weight 0 left out.

    `w_fusion` defaults to `w` (FPDM). The weights always sum to 1."""
    w = float(w)
    wf = w if w_fusion is None else float(w_fusion)
    weights = {"uncond": 1.0 - w, "src_pose": w - wf, "full": wf} if uses_fusion else {"uncond": 1.0 - w, "full": w}
    return {name: v for name, v in weights.items() if v != 0.0}


def combine_guidance(
    eps_u: Tensor, eps_sp: Tensor, eps_full: Tensor, w: float = 2.0, w_fusion: float | None = None
) -> Tensor:
    """FPDM guidance from all three predictions: `eps_u + w (eps_sp - eps_u) + w_fusion (eps_full - eps_sp)`.

    `w_fusion` defaults to `w` (FPDM). w = 1 gives eps_full, w = 0 gives eps_u.
    """
    wf = w if w_fusion is None else w_fusion
    return eps_u + w * (eps_sp - eps_u) + wf * (eps_full - eps_sp)


class GuidedDenoiser:
    """The sampler's denoiser: asks the model for the branches of nonzero weight only, in one
    call, and sums them with their weights.

    The result is in the scheduler's prediction type, whatever the branches predict (guidance
    is linear, so it applies to eps, v or x0 alike). A single branch of weight 1 is returned
    as it is.
    """

    def __init__(self, branches: Branches, weights: dict[str, float]) -> None:
        unknown = [b for b in weights if b not in BRANCHES]
        if unknown or not weights:
            raise ValueError(f"unknown or no guidance branches {unknown}; choose from {BRANCHES}")
        self.branches = branches
        self.names = tuple(weights)
        self.weights = tuple(float(weights[n]) for n in self.names)

    def __call__(self, x_t: Tensor, t: Tensor, frame_index: Tensor) -> Tensor:
        outs = self.branches(x_t, t, frame_index, self.names)
        if self.weights == (1.0,):
            return outs[0]
        total = self.weights[0] * outs[0]
        for weight, out in zip(self.weights[1:], outs[1:]):
            total = total + weight * out
        return total
