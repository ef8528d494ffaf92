"""``samfuse train sage-rt``: the real-time student (:mod:`samfuse.models.sage_rt`) distilled from the ``sage`` method.

* Teacher: a frozen SAGE student (:class:`~samfuse.models.sage.student.SageStudentNet`, BatchNorm folded) loaded
  with :func:`~samfuse.models.sage.student.load_student` from ``teacher`` (default: ``sage``'s default weights
  in :mod:`samfuse.models.pretrained`, whichever file that is at the time). Its output
  mapping (``tanh`` / ``unit``) comes from the file's metadata; its output is clamped to [0, 1], i.e. exactly what
  ``sage`` fuses. It runs on every batch without gradient (the crops are random, so nothing is cached).
* Loss: :func:`~samfuse.training.losses.distill.distill_terms`: SAGE's student loss without the SAM terms (pixel
  and gradient terms toward the sources and the teacher, the authors' weights) plus ``l1_weight`` · L1 to the
  teacher; by default the source terms are weighted 0.1 and the L1 term 10, so that the student follows the
  teacher (the short ablation in docs/sage_rt.md).
* ``temporal_weight`` > 0 adds :func:`~samfuse.training.losses.temporal.flicker_loss` (issue 23): each batch is
  seen as two views a small camera move apart (:func:`~samfuse.training.losses.temporal.paired_views`, up to
  ``temporal_shift`` pixels and ``temporal_zoom`` zoom, drawn from a generator seeded by the run's seed and the
  step), the distillation terms are computed on view A and the flicker term on the pair. Zero by default.
* ``init``: start from a sage-rt weights file or name (``sage-rt.distilled``) instead of the random start; its
  architecture must be the profile's.
* Adam (default betas), ``lr`` with a cosine decay to ``eta_min`` over the whole run. Logged per step: each loss
  term and the gradient norm (``gnorm``; no clipping).
* The architecture (``scale``, ``widths``, ``blocks``) is written into the weights' metadata, with the recipe and
  the teacher's path and sha256.

Output: ``RUN_DIR/weights/sage_rt.safetensors`` (loads with ``build("sage-rt", weights=FILE)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from samfuse.io import InputError
from samfuse.io.digest import file_sha256
from samfuse.models.sage.student import fold_batchnorm, load_student
from samfuse.models.sage_rt.method import load_rt
from samfuse.models.sage_rt.net import CONFIG_KEY, RTConfig, SageRTNet
from samfuse.training.losses.distill import distill_terms
from samfuse.training.losses.temporal import flicker_loss, paired_views
from samfuse.training.task import Profile, Step, TaskContext, TrainingTask, register_task

__all__ = ["RTProfile", "RTTask", "PROFILES", "init_path", "teacher_path"]


@dataclass(frozen=True)
class RTProfile(Profile):
    """The sage-rt distillation recipe (``--set KEY=VALUE`` overrides any field)."""

    lr: float = 2e-3
    eta_min: float = 1e-5
    #: teacher weights file (a sage-student file); None = the weights the ``sage`` method ships
    teacher: str | None = None
    #: weight of SAGE's source terms (pixel + gradient toward Y and IR); small, so that the student follows the
    #: teacher (docs/sage_rt.md, "Loss weights": 1.0 gives an image of its own, 4.9× further from the teacher)
    source_weight: float = 0.1
    #: weight of SAGE's teacher terms (12·MSE + 9·G toward the teacher)
    teacher_weight: float = 1.0
    #: weight of mean|o − t|
    l1_weight: float = 10.0
    #: architecture (:class:`~samfuse.models.sage_rt.net.RTConfig`)
    scale: int = 4
    widths: tuple[int, int, int] = (16, 32, 64)
    blocks: tuple[int, int] = (1, 2)
    #: weight of the flicker term (:func:`~samfuse.training.losses.temporal.flicker_loss`); 0 = off
    temporal_weight: float = 0.0
    #: largest translation (pixels, each axis) and zoom between the two views of the flicker term
    temporal_shift: float = 2.0
    temporal_zoom: float = 0.01
    #: start from these sage-rt weights (a file or a weights name of sage-rt); None = random
    init: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self.config()  # refuses a bad architecture when the profile is built

    def config(self) -> RTConfig:
        return RTConfig(scale=self.scale, widths=tuple(self.widths), blocks=tuple(self.blocks))  # type: ignore[arg-type]


def init_path(profile: RTProfile) -> Path:
    """``init`` as a file: a weights name of ``sage-rt`` (``sage-rt.distilled``) or a path."""
    from samfuse.models.pretrained import UnknownWeightsError, resolve

    try:
        path = resolve("sage-rt", profile.init)
    except UnknownWeightsError as err:
        raise InputError(f"--set init={profile.init}: {str(err).split(': ', 1)[-1]}") from None
    assert path is not None
    return path


def teacher_path(profile: RTProfile) -> Path:
    """The teacher weights file of ``profile``: ``teacher`` (a file or a weights name such as ``sage.authors``),
    else the ``sage`` method's default weights (:func:`samfuse.models.pretrained.default_tag`)."""
    from samfuse.models.pretrained import default_tag, resolve

    if profile.teacher is not None:
        return resolve("sage", profile.teacher)  # type: ignore[return-value]
    return default_tag("sage").path  # type: ignore[union-attr]


#: ``cpu``: batch 8, 128×128 crops (of MSRS read at 171×128 with ``--data msrs-train-128``: 160 epochs), 20,000
#: steps, sized for about two hours on one CPU core (measurement: docs/decisions.md, "Measured timings").
#: ``long``: the same, three times as long.
PROFILES = {
    "cpu": RTProfile(batch_size=8, crop=(128, 128), steps=20000, log_every=50),
    "long": RTProfile(batch_size=8, crop=(128, 128), steps=60000, log_every=50),
}


@register_task("sage-rt", "sage-rt (real-time CPU student) distilled from the sage method's student, on the fly")
class RTTask(TrainingTask):
    """sage-rt trained on SAGE's pixel and gradient terms toward the sources and a frozen SAGE student."""

    profiles = PROFILES

    @classmethod
    def check_profile(cls, profile: Profile) -> None:
        assert isinstance(profile, RTProfile)
        path = teacher_path(profile)
        if not path.is_file():
            raise InputError(f"--set teacher={path}: no such weights file")
        if profile.init is not None:
            init = init_path(profile)
            if not init.is_file():
                raise InputError(f"--set init={profile.init}: no such weights file nor weights name of sage-rt")
            if load_rt(init).config != profile.config():
                raise InputError(f"--set init={profile.init}: its architecture is not the profile's")

    def __init__(self, profile: RTProfile, ctx: TaskContext) -> None:
        super().__init__(profile, ctx)
        self.teacher_file = teacher_path(profile)
        self.teacher_sha256 = file_sha256(self.teacher_file)
        teacher = load_student(self.teacher_file)
        self.teacher_output = teacher.output
        # frozen (not in modules()/optimizers()); BatchNorm folded and channels-last: 1.4× faster on one CPU core
        self.teacher = fold_batchnorm(teacher).to(ctx.device, memory_format=torch.channels_last).eval()
        self.net = SageRTNet(profile.config())
        if profile.init is not None:
            self.net.load_state_dict(load_rt(init_path(profile)).state_dict(), strict=True)
        self.net = self.net.to(ctx.device).train()
        self.forward = ctx.wrap(self.net)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=profile.lr)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.opt, T_max=max(1, ctx.total_steps), eta_min=profile.eta_min
        )

    def modules(self) -> dict[str, nn.Module]:
        return {"sage_rt": self.net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"sage_rt": self.opt}

    def schedulers(self) -> dict[str, Any]:
        return {"sage_rt": self.sched}

    def weights_metadata(self) -> dict[str, str]:
        p = self.profile
        return {
            CONFIG_KEY: p.config().to_json(),
            "recipe": f"sage-rt distillation source_weight={p.source_weight} teacher_weight={p.teacher_weight} "
            f"l1_weight={p.l1_weight}",
            "teacher": str(self.teacher_file),
            "teacher_sha256": self.teacher_sha256,
            "teacher_output": self.teacher_output,
            "temporal": f"weight={p.temporal_weight} shift={p.temporal_shift} zoom={p.temporal_zoom}",
            "init": str(p.init or "scratch"),
        }

    @torch.no_grad()
    def teach(self, y: torch.Tensor, ir: torch.Tensor) -> torch.Tensor:
        """The teacher's fused image, clamped to [0, 1] as the ``sage`` method returns it."""
        cl = torch.channels_last
        out = self.teacher(y.contiguous(memory_format=cl), ir.contiguous(memory_format=cl))
        return out.contiguous().clamp(0.0, 1.0)

    def training_step(self, batch: dict[str, Any], step: Step) -> Mapping[str, float]:
        y, ir = batch["vi_y"], batch["ir"]
        p = self.profile
        if p.temporal_weight > 0:
            gen = torch.Generator().manual_seed(self.ctx.seed * 1_000_003 + step.step)
            (y, ir), (y_b, ir_b) = paired_views([y, ir], gen, p.temporal_shift, p.temporal_zoom)
        t = self.teach(y, ir)
        out = self.forward(y, ir)
        total, parts = distill_terms(
            out, y, ir, t, source_weight=p.source_weight, teacher_weight=p.teacher_weight, l1_weight=p.l1_weight
        )
        if p.temporal_weight > 0:
            flicker = flicker_loss(out, self.forward(y_b, ir_b), [y, ir], [y_b, ir_b])
            total = total + p.temporal_weight * flicker
            parts = {**parts, "flicker": flicker.detach()}
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(self.net.parameters(), float("inf"))
        self.opt.step()
        self.sched.step()
        return {"loss": total.detach(), **parts, "gnorm": gnorm.detach(), "lr": self.sched.get_last_lr()[0]}
