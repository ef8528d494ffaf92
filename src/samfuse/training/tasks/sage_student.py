"""``samfuse train sage-student``: the SAGE student network trained **alone** (no teacher, no masks).

This is the control of issue 24: every SAGE distillation run is compared with it on the same data, steps and
seed. It is also a recipe of its own (samfuse's shipped ``sage`` weights may come from it; the model card and
the weights' ``recipe`` metadata say so). Losses: :mod:`samfuse.training.losses.student` (``loss="sage"``:
SAGE's pixel and gradient terms without the teacher; ``"maxint"``: max-intensity + 10 × max-gradient).

* Output mapping ``output``: ``"tanh"`` (the authors') or ``"unit"`` = (tanh + 1)/2 (range (0, 1)); it is
  written into the weights' metadata, and :func:`samfuse.models.sage.load_student` reads it back.
* Adam (default betas), ``lr`` with a cosine decay to ``eta_min`` over the whole run.
* ``init``: start from a student weights file (e.g. the authors' release, for fine-tuning on your own data).
  samfuse's own shipped weights are trained from scratch.
* Logged per step: each loss term and the gradient norm (``gnorm``, before any clipping; none is applied).

Output: ``RUN_DIR/weights/student.safetensors`` (loads with ``build("sage-student", weights=FILE)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from samfuse.io import InputError
from samfuse.models.sage.student import OUTPUTS, SageStudentNet, load_student
from samfuse.training.losses.student import STUDENT_LOSSES
from samfuse.training.task import Profile, Step, TaskContext, TrainingTask, register_task

__all__ = ["StudentProfile", "StudentTask"]


@dataclass(frozen=True)
class StudentProfile(Profile):
    """The student-alone recipe (``--set KEY=VALUE`` overrides any field)."""

    lr: float = 1e-3
    eta_min: float = 1e-5
    #: "sage" (SAGE's pixel + gradient terms) or "maxint" (max-intensity + max-gradient)
    loss: str = "sage"
    #: weight of the gradient term of ``maxint``
    grad_weight: float = 10.0
    #: "tanh" (the authors') or "unit" ((tanh + 1) / 2)
    output: str = "tanh"
    #: student weights to start from, a file or a weights name such as ``sage.authors`` (None = from scratch)
    init: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.loss not in STUDENT_LOSSES:
            raise ValueError(f"loss must be one of {sorted(STUDENT_LOSSES)}, not {self.loss!r}")
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, not {self.output!r}")


#: ``cpu``: samfuse's student-alone recipe (batch 8, 128×128 crops of MSRS read at 171×128, 1,600 steps; how it
#: was chosen and what it costs: docs/decisions.md, "Measured timings"). ``long``: the same, 6,000 steps.
PROFILES = {
    "cpu": StudentProfile(batch_size=8, crop=(128, 128), steps=1600, log_every=20),
    "long": StudentProfile(batch_size=8, crop=(128, 128), steps=6000, log_every=20),
}


@register_task("sage-student", "SAGE student trained alone (no teacher): the distillation control, samfuse's recipe")
class StudentTask(TrainingTask):
    """The SAGE student network trained alone on its pixel and gradient terms."""

    profiles = PROFILES

    @staticmethod
    def init_file(init: str) -> Path:
        """``init`` as a file: a weights name of ``sage`` (``sage.authors``) or a path."""
        from samfuse.models.pretrained import resolve

        path = resolve("sage", init)
        assert path is not None
        return path

    @classmethod
    def check_profile(cls, profile: Profile) -> None:
        init = getattr(profile, "init", None)
        if init is not None and not cls.init_file(init).is_file():
            raise InputError(f"--set init={init}: no such weights file nor weights name of sage")

    def __init__(self, profile: StudentProfile, ctx: TaskContext) -> None:
        super().__init__(profile, ctx)
        self.student = SageStudentNet(output=profile.output)
        if profile.init is not None:
            self.student.load_state_dict(load_student(self.init_file(profile.init)).state_dict(), strict=True)
        self.student = self.student.to(ctx.device).train()
        self.forward = ctx.wrap(self.student)
        self.opt = torch.optim.Adam(self.student.parameters(), lr=profile.lr)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.opt, T_max=max(1, ctx.total_steps), eta_min=profile.eta_min
        )
        loss_fn = STUDENT_LOSSES[profile.loss]
        self.loss_fn = partial(loss_fn, grad_weight=profile.grad_weight) if profile.loss == "maxint" else loss_fn

    def modules(self) -> dict[str, nn.Module]:
        return {"student": self.student}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"student": self.opt}

    def schedulers(self) -> dict[str, Any]:
        return {"student": self.sched}

    def weights_metadata(self) -> dict[str, str]:
        p = self.profile
        return {"output": p.output, "recipe": f"student-alone loss={p.loss}", "init": str(p.init or "scratch")}

    def training_step(self, batch: dict[str, Any], step: Step) -> Mapping[str, float]:
        y, ir = batch["vi_y"], batch["ir"]
        out = self.forward(y, ir)
        total, parts = self.loss_fn(out, y, ir)
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(self.student.parameters(), float("inf"))
        self.opt.step()
        self.sched.step()
        return {"loss": total.detach(), **parts, "gnorm": gnorm.detach(), "lr": self.sched.get_last_lr()[0]}
