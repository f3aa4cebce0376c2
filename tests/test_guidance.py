"""FPDM's three-branch guidance and its denoiser wrapper."""

from __future__ import annotations

import torch

from signgen.rendering.guidance import GuidedDenoiser, branch_weights, combine_guidance


def three(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(2, 4, 3, 3, generator=g) for _ in range(3)]


def test_formula_matches_fpdm():
    u, sp, full = three()
    expected = u + 2.0 * (sp - u) + 2.0 * (full - sp)
    torch.testing.assert_close(combine_guidance(u, sp, full), expected)
    torch.testing.assert_close(combine_guidance(u, sp, full, w=3.5), u + 3.5 * (full - u))  # telescopes


def test_w_one_is_full_and_w_zero_is_unconditional():
    u, sp, full = three(1)
    torch.testing.assert_close(combine_guidance(u, sp, full, w=1.0), full)
    torch.testing.assert_close(combine_guidance(u, sp, full, w=0.0), u)


def test_separate_fusion_weight():
    u, sp, full = three(2)
    torch.testing.assert_close(combine_guidance(u, sp, full, w=1.0, w_fusion=0.0), sp)
    torch.testing.assert_close(combine_guidance(u, sp, full, w=2.0, w_fusion=1.5), u + 2 * (sp - u) + 1.5 * (full - sp))


def test_guided_denoiser_passes_inputs_and_combines():
    u, sp, full = three(3)
    seen = {}
    by_name = {"uncond": u, "src_pose": sp, "full": full}

    def branches(x, t, frame_index, names):
        seen.update(x=x, t=t, idx=frame_index, names=names)
        return tuple(by_name[n] * x for n in names)

    x = torch.full((2, 4, 3, 3), 2.0)
    t = torch.tensor(500)
    idx = torch.tensor([4, 5])
    out = GuidedDenoiser(branches, branch_weights(2.0))(x, t, idx)
    assert seen["x"] is x and seen["t"] is t and seen["idx"] is idx
    torch.testing.assert_close(out, 2 * (u + 2 * (full - u)))
    torch.testing.assert_close(GuidedDenoiser(branches, branch_weights(1.0))(x, t, idx), 2 * full)
    assert seen["names"] == ("full",)  # w = 1: the one branch that matters, alone
    torch.testing.assert_close(GuidedDenoiser(branches, branch_weights(2.0, 1.5))(x, t, idx),
                               2 * combine_guidance(u, sp, full, 2.0, 1.5))
    assert seen["names"] == ("uncond", "src_pose", "full")


def test_branch_weights_leave_out_what_cancels():
    assert branch_weights(1.0) == {"full": 1.0}
    assert branch_weights(0.0) == {"uncond": 1.0}
    assert branch_weights(2.0) == {"uncond": -1.0, "full": 2.0}
    assert branch_weights(2.0, 0.0) == {"uncond": -1.0, "src_pose": 2.0}  # fusion term off: two branches
    assert branch_weights(2.0, 3.0) == {"uncond": -1.0, "src_pose": -1.0, "full": 3.0}
    assert branch_weights(2.0, 3.0, uses_fusion=False) == {"uncond": -1.0, "full": 2.0}
    for w, wf in ((2.0, None), (1.5, 0.5), (3.0, 1.0)):
        u, sp, full = three(4)
        got = sum(v * {"uncond": u, "src_pose": sp, "full": full}[k] for k, v in branch_weights(w, wf).items())
        torch.testing.assert_close(got, combine_guidance(u, sp, full, w, wf))


def test_guided_sampling_extrapolates_toward_the_full_condition():
    """Three toy branches that each know one target exactly: guidance is affine in the branch
    outputs, so the guided video lands on mu_u + w (mu_full - mu_u), frame by frame."""
    from diffusers import DDIMScheduler

    from signgen.rendering.sampler import sample_video
    from signgen.rendering.settings import Settings

    sched = DDIMScheduler(clip_sample=False)
    abar = sched.alphas_cumprod
    T, shape = 5, (2, 4, 4)
    g = torch.Generator().manual_seed(0)
    mu_u, mu_sp, mu_full = (0.3 * torch.randn(T, *shape, generator=g) for _ in range(3))

    def eps_for(target, x, t, idx):
        a = abar[int(t)]
        return (x - a.sqrt() * target[idx]) / (1 - a).sqrt()

    def branches(x, t, idx, names):
        mus = {"uncond": mu_u, "src_pose": mu_sp, "full": mu_full}
        return tuple(eps_for(mus[n], x, t, idx) for n in names)

    for w in (1.0, 2.0):
        out = torch.stack(list(sample_video(GuidedDenoiser(branches, branch_weights(w)), T, shape, sched,
                                            Settings(steps=6, window=3, overlap=1),
                                            generator=torch.Generator().manual_seed(1))))
        torch.testing.assert_close(out, mu_u + w * (mu_full - mu_u), atol=1e-4, rtol=0)
