"""`signgen train distill`: a few-step student of a bundle's stage 2 (latent consistency distillation).

LCM (Luo et al. 2023, the shape of diffusers' `examples/consistency_distillation/
train_lcm_distill_sd_wds.py`): the student f(x_t, t) = c_skip(t) x_t + c_out(t) x0_student(x_t, t)
is trained to give the same answer at two adjacent points of one teacher trajectory. Per step:

1. a grid index i of the teacher's skipping-step DDIM solver (`distill.solver_steps` = N points,
   k = 1000 / N apart: t_i = (i + 1) k - 1, t_prev = t_i - k, clamped at 0), noise, x_t = q(x0, t_i);
2. the student's answer at (x_t, t_i), with gradients;
3. one DDIM step of the frozen teacher from t_i to t_prev, with the teacher's guidance w folded in
   (x0_w = x0_u + w (x0_full - x0_u); at the bundled model's w = 1 only the full branch runs);
4. the target network's answer at (x_prev, t_prev), without gradients; the target network is an
   EMA of the student (`distill.target_decay`, LCM: 0.95), updated after every optimiser step;
5. pseudo-Huber (or L2) distance between 2 and 4. At t_prev = 0, c_skip = 1 and c_out = 0: the
   target is x_prev itself, the boundary condition that anchors the chain.

The teacher predicts whatever its scheduler says (the bundled model: clean latents, `sample`);
everything is converted to x0 first, so epsilon and v teachers work too. The student starts as a
copy of the teacher, sees every condition (no dropout: its guidance is folded in), and is exported
as a complete bundle whose sampler is "lcm" (diffusers' `LCMScheduler` on the teacher's noise
schedule, `original_inference_steps` = N), so `signgen render --model STUDENT --steps 1..4` renders
it on the ordinary sampler path (shared noise and temporal smoothing included). The teacher's VAE and
stage 1 ride along frozen, as in `train diffusion`, and the same feature cache serves.

Products: `RUN/bundle/` (the student), `RUN/samples/step-XXXXXX.png` (LCM at the student's steps),
checkpoints holding the student and the target network (exact resume).
"""

from __future__ import annotations

import copy
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from .common import EMA
from .diffusion import DiffusionObjective, DiffusionTask

__all__ = ["DistillObjective", "DistillTask", "lcm_scheduler_config", "boundary_scalings"]


def boundary_scalings(t: torch.Tensor, timestep_scaling: float, sigma_data: float = 0.5
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """(c_skip, c_out) of the consistency parameterisation at integer timesteps `t`, exactly as
    `LCMScheduler.get_scalings_for_boundary_condition_discrete` computes them (so training and
    sampling agree): c_skip(0) = 1, c_out(0) = 0."""
    s = t.double() * timestep_scaling
    c_skip = sigma_data**2 / (s**2 + sigma_data**2)
    c_out = s / (s**2 + sigma_data**2) ** 0.5
    return c_skip.float(), c_out.float()


def lcm_scheduler_config(teacher_config: dict, solver_steps: int, timestep_scaling: float) -> dict:
    """The student's scheduler config: the "lcm" sampler (LCMScheduler) on the teacher's noise
    schedule and prediction type, for the distillation's solver grid and boundary condition."""
    from ..rendering.schedulers import make_sampler

    sched = make_sampler("lcm", {**dict(teacher_config), "original_inference_steps": int(solver_steps),
                                 "timestep_scaling": float(timestep_scaling)})
    return {**{k: v for k, v in dict(sched.config).items() if not k.startswith("_")}, "_class_name": "LCMScheduler"}


def _to_x0(pred: torch.Tensor, x_t: torch.Tensor, alpha: torch.Tensor, kind: str) -> torch.Tensor:
    """The model output (epsilon / sample / v_prediction) as predicted clean latents."""
    if kind == "sample":
        return pred
    if kind == "epsilon":
        return (x_t - (1 - alpha).sqrt() * pred) / alpha.sqrt()
    return alpha.sqrt() * x_t - (1 - alpha).sqrt() * pred


class DistillObjective(DiffusionObjective):
    """The consistency-distillation loss; `stage2` is the student, `teacher` and `target` are frozen.

    `networks` (student + target) is what a checkpoint holds, so a resumed run continues with the
    very same target network.
    """

    def __init__(self, student: nn.Module, teacher: nn.Module, stage1: nn.Module, vae: nn.Module, scheduler, *,
                 guidance: float, solver_steps: int, target_decay: float, loss: str, huber_c: float,
                 timestep_scaling: float) -> None:
        super().__init__(student, stage1, vae, scheduler, noise_offset=0.0)
        self.teacher = teacher.requires_grad_(False).eval()
        target = copy.deepcopy(student).requires_grad_(False).eval() if target_decay > 0 else None
        self.networks = nn.ModuleDict({"student": student, **({"target": target} if target is not None else {})})
        self.guidance = float(guidance)
        self.target_decay = float(target_decay)
        self.loss_kind, self.huber_c, self.timestep_scaling = loss, float(huber_c), float(timestep_scaling)
        total = int(scheduler.config.num_train_timesteps)
        if not 1 <= solver_steps <= total:
            raise InputError(f"distill.solver_steps must be in [1, {total}] (the teacher's training timesteps), "
                             f"got {solver_steps}")
        self.solver_steps, self.skip = int(solver_steps), total // int(solver_steps)
        self.register_buffer("alphas", scheduler.alphas_cumprod.float().clone(), persistent=False)

    @property
    def target(self) -> nn.Module:
        """The network that gives the target answer: the EMA copy, or the student itself (decay 0)."""
        return self.networks["target"] if "target" in self.networks else self.stage2

    def train(self, mode: bool = True) -> "DistillObjective":
        super().train(mode)
        self.teacher.eval()
        if "target" in self.networks:
            self.networks["target"].eval()
        return self

    @torch.no_grad()
    def update_target(self) -> None:
        """target <- decay * target + (1 - decay) * student (after every optimiser step)."""
        if "target" not in self.networks:
            return
        student = dict(self.stage2.named_parameters())
        for name, p in self.networks["target"].named_parameters():
            p.lerp_(student[name].detach().to(p.dtype), 1.0 - self.target_decay)

    def _consistency(self, net: nn.Module, x: torch.Tensor, t: torch.Tensor, cond: tuple) -> torch.Tensor:
        """f(x, t) = c_skip x + c_out x0(x, t): a network's answer under the boundary condition."""
        fusion, tokens, pose, src = cond
        keep = torch.zeros(x.shape[0], 3, dtype=torch.bool, device=x.device)
        pred = net(x, t, fusion, tokens, pose, drop_mask=keep, src_latents=src).float()
        x0 = _to_x0(pred, x, self.alphas[t].view(-1, 1, 1, 1), self.scheduler.config.prediction_type)
        c_skip, c_out = (c.view(-1, 1, 1, 1) for c in boundary_scalings(t, self.timestep_scaling))
        return c_skip * x + c_out * x0

    @torch.no_grad()
    def teacher_step(self, x_t: torch.Tensor, t: torch.Tensor, t_prev: torch.Tensor, cond: tuple) -> torch.Tensor:
        """One DDIM step of the guided teacher from t to t_prev (deterministic, eta = 0)."""
        from ..rendering.guidance import combine_guidance

        fusion, tokens, pose, src = cond
        kind = self.scheduler.config.prediction_type
        alpha = self.alphas[t].view(-1, 1, 1, 1)
        if self.guidance == 1.0:  # FPDM's guidance at w = 1 is the full branch alone
            keep = torch.zeros(x_t.shape[0], 3, dtype=torch.bool, device=x_t.device)
            out = self.teacher(x_t, t, fusion, tokens, pose, drop_mask=keep, src_latents=src).float()
        else:
            u, full = self.teacher.forward_branches(x_t, t, fusion, tokens, pose, ("uncond", "full"), src_latents=src)
            out = combine_guidance(u.float(), u.float(), full.float(), self.guidance)
        x0 = _to_x0(out, x_t, alpha, kind)
        eps = (x_t - alpha.sqrt() * x0) / (1 - alpha).sqrt()
        a_prev = self.alphas[t_prev].view(-1, 1, 1, 1)
        return a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps

    def forward(self, batch: dict, generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        latents, fusion, tokens, src_latents = self.conditions(batch)
        cond = (fusion, tokens, batch["pose"], src_latents)
        b, dev = latents.shape[0], latents.device
        index = torch.randint(0, self.solver_steps, (b,), generator=generator, device=dev)
        t = (index + 1) * self.skip - 1
        t_prev = (t - self.skip).clamp(min=0)
        noise = torch.randn(latents.shape, generator=generator, device=dev)
        x_t = self.scheduler.add_noise(latents, noise, t)
        online = self._consistency(self.stage2, x_t, t, cond)
        x_prev = self.teacher_step(x_t, t, t_prev, cond)
        with torch.no_grad():
            target = self._consistency(self.target, x_prev, t_prev, cond)
        if self.loss_kind == "huber":
            loss = (torch.sqrt((online - target) ** 2 + self.huber_c**2) - self.huber_c).mean()
        else:
            loss = F.mse_loss(online, target)
        return loss, {"loss": float(loss.detach())}


class DistillTask(DiffusionTask):
    """A `DiffusionTask` whose model comes from a teacher bundle and whose product is a student bundle."""

    stage = "distill"
    use_ema = False  # the target network is the moving average LCM needs; the student itself is exported

    def setup(self, accelerator) -> None:
        from ..models.bundle import load_bundle

        d = self.cfg.distill
        if not d.teacher:
            raise InputError("distill.teacher is not set: pass --teacher BUNDLE (e.g. signgen/assets/default-model)")
        teacher = load_bundle(d.teacher, "cpu", torch.float32)  # InputError for anything but a complete bundle
        self.teacher_meta = teacher.meta
        resize = teacher.meta.extra.get("resize")
        if resize is not None and resize != self.cfg.data.resize:
            raise InputError(f"the teacher frames were fitted with resize={resize!r}; set data.resize={resize}",
                             d.teacher)
        self.size = SimpleNamespace(name=teacher.meta.size, image_size=tuple(teacher.meta.image_size))
        self.guidance = float(teacher.meta.guidance if d.guidance is None else d.guidance)
        self.scheduler_config = lcm_scheduler_config(teacher.scheduler.config, d.solver_steps, d.timestep_scaling)
        student = copy.deepcopy(teacher.stage2)
        self.objective = DistillObjective(
            student, teacher.stage2, teacher.stage1, teacher.vae, teacher.scheduler, guidance=self.guidance,
            solver_steps=d.solver_steps, target_decay=d.target_decay, loss=d.loss, huber_c=d.huber_c,
            timestep_scaling=d.timestep_scaling)
        self._datasets(accelerator, teacher.stage1, teacher.vae)

    def trainable(self, objective: nn.Module) -> nn.Module:
        return objective.networks

    def param_groups(self, objective: nn.Module) -> list[dict]:
        return [{"params": [p for p in objective.stage2.parameters() if p.requires_grad], "lr": self.stage_cfg.lr}]

    def after_step(self, objective: nn.Module) -> None:
        objective.update_target()

    def _preview_steps(self) -> int:
        return self.cfg.distill.render_steps  # the student at its own steps, as it is rendered

    def _meta(self, step: int, ema: EMA | None):
        from ..models.bundle import BundleMeta

        d, t = self.cfg.distill, self.teacher_meta
        extra = {"distilled_from": str(d.teacher), "distill": "latent consistency distillation (LCM)",
                 "trained_steps": step, "data": str(self.prepared.root), "guidance_folded": self.guidance,
                 "solver_steps": d.solver_steps, "teacher_sampling": f"{t.sampler}, {t.steps} steps, w={t.guidance}",
                 **({"resize": t.extra["resize"]} if "resize" in t.extra else {})}
        return BundleMeta(size=t.size, image_size=tuple(t.image_size), steps=d.render_steps, guidance=1.0,
                          sampler="lcm", extra=extra)
