"""FPDM's three-branch classifier-free guidance, as a denoiser wrapper.

The stage-2 UNet is trained with each condition dropped at random, so one batched call gives
three predictions: unconditional (everything dropped), source + pose (fusion embedding dropped)
and full. FPDM combines them as

    eps = eps_u + w (eps_sp - eps_u) + w (eps_full - eps_sp)

Note that with one weight the sum telescopes to `eps_u + w (eps_full - eps_u)`: eps_sp cancels.
It only matters when the two terms get different weights (`w_fusion`, the InstructPix2Pix-style
split: `w` steers toward the source + pose, `w_fusion` toward the fusion embedding on top).
"""

from __future__ import annotations

from typing import Callable

from torch import Tensor

Branches = Callable[[Tensor, Tensor, Tensor], "tuple[Tensor, Tensor, Tensor]"]


def combine_guidance(
    eps_u: Tensor, eps_sp: Tensor, eps_full: Tensor, w: float = 2.0, w_fusion: float | None = None
) -> Tensor:
    """FPDM guidance: `eps_u + w (eps_sp - eps_u) + w_fusion (eps_full - eps_sp)`.

    `w_fusion` defaults to `w` (FPDM). w = 1 gives eps_full, w = 0 gives eps_u.
    """
    wf = w if w_fusion is None else w_fusion
    return eps_u + w * (eps_sp - eps_u) + wf * (eps_full - eps_sp)


class GuidedDenoiser:
    """Adapt a three-branch model to the sampler's denoiser interface.

    `branches(x_t, t, frame_index) -> (eps_u, eps_sp, eps_full)` is expected to run the three
    branches in one batched call (that is the model side's job); this wrapper only combines.
    The result is in the scheduler's prediction type, whatever the branches predict
    (guidance is linear, so it applies to eps, v or x0 alike).
    """

    def __init__(self, branches: Branches, w: float = 2.0, w_fusion: float | None = None) -> None:
        self.branches = branches
        self.w = float(w)
        self.w_fusion = None if w_fusion is None else float(w_fusion)

    def __call__(self, x_t: Tensor, t: Tensor, frame_index: Tensor) -> Tensor:
        eps_u, eps_sp, eps_full = self.branches(x_t, t, frame_index)
        return combine_guidance(eps_u, eps_sp, eps_full, self.w, self.w_fusion)
