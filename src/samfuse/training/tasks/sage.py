"""``samfuse train sage``: SAGE's bi-level (alternating) distillation of the SPA teacher into the student.

Design note ``docs/sage-notes.md`` §4, §5 and §7; the networks are :mod:`samfuse.models.sage`, the losses
:mod:`samfuse.training.losses.sage`. This module only wires them together.

* **Alternation** (§5), over the batches of each epoch: an even batch index is one student update (the teacher
  runs without autograd), an odd index one teacher update (the student runs without autograd, in train mode).
  An epoch that ends on a student step reuses its last batch for one extra teacher step.
* **Optimisers**: Adam with default betas and no weight decay, teacher 5e-4, student 2e-3.
  ``CosineAnnealingLR(eta_min=1e-5)`` per model, stepped only after that model's own updates. ``T_max``:
  ``schedule="authors"`` takes the total number of loop steps (= ``100 × len(loader)`` for the paper's 100
  epochs), which each model only half uses, so its learning rate decays only about halfway, as the authors'
  did (kept in ``paper``). ``schedule="own"`` takes the number of that model's own updates, so its learning
  rate reaches ``eta_min`` at the very end (``cpu``: a short budget wants the whole decay).
* **Bug 3 fixed** (§7.3): the no-grad student forward of a teacher step still uses batch statistics (train mode,
  as the authors), but it no longer updates the student's BatchNorm running statistics (nor
  ``num_batches_tracked``): only the student's own updates move them.
* **Masks**: ``TopKPairs(k=4)`` from the semantics cache, ``[ir_1..ir_4, vi_1..vi_4]``; the masked images are
  ``IM_k = IR · ir_mask_k`` and ``VM_k = Y · vi_mask_k`` (slots without a pair are all ones, i.e. the unmasked
  image, as the authors).
* **L_cs**: the weight-free :class:`~samfuse.training.losses.sage_features.FilterBankFeatures` stand-in, or the
  authors' SAM ViT-B two blocks with ``--set sam_checkpoint=FILE``; ``--set lcs_weight=0`` turns L_cs off.
* **samfuse's options** (issue 24), off by default: ``output="unit"`` maps the student's tanh to (tanh + 1)/2
  (written into the weights' metadata); ``warmup=N`` gives the first N student updates only the student's own
  terms (:func:`~samfuse.training.losses.student.sage_terms`, no teacher pull, L_fea or L_cs) while the teacher
  trains, so a weak early teacher cannot pull the student. Every step logs each loss term and the gradient norm
  of the updated network (``s/gnorm``, ``t/gnorm``; no clipping is applied).
* **The teacher's segmentation term is off**: there is no segmenter nor any label here (so the authors' label
  and crop bugs, §7.4, do not arise: crops are plain random crops shared by sources and masks).

Outputs (the loop's ``RUN_DIR/weights/``): ``student.safetensors`` (loads with
``build("sage-student", weights=FILE)``) and ``teacher.safetensors`` (fp32; ``build("sage-teacher", weights=FILE)``).
:func:`export_weights` writes the shipping pair (student fp32, teacher fp16).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from samfuse.data.masks import TopKPairs
from samfuse.models.sage.student import OUTPUTS, SageStudentNet
from samfuse.models.sage.teacher import SageTeacherNet
from samfuse.training.losses.sage import student_objective, teacher_objective
from samfuse.training.losses.student import sage_terms
from samfuse.training.task import Profile, Step, TaskContext, TrainingTask, register_task

__all__ = ["SageProfile", "SageTask", "own_updates", "export_weights", "frozen_bn_stats"]


@dataclass(frozen=True)
class SageProfile(Profile):
    """SAGE's hyper-parameters (``--set KEY=VALUE`` overrides any of them)."""

    lr_student: float = 2e-3
    lr_teacher: float = 5e-4
    eta_min: float = 1e-5
    #: ``"authors"``: T_max = all loop steps (lr decays about halfway); ``"own"``: T_max = the model's updates
    schedule: str = "authors"
    #: weight of L_cs (1 = the authors'; 0 = off, the ablation)
    lcs_weight: float = 1.0
    #: a stock SAM ViT-B checkpoint for L_cs's extractor; None = the FilterBankFeatures stand-in
    sam_checkpoint: str | None = None
    #: mask pairs (the authors use 4)
    k: int = 4
    #: the student's output mapping: "tanh" (the authors') or "unit" ((tanh + 1) / 2), kept in the weights' metadata
    output: str = "tanh"
    #: teacher warm-up: the first ``warmup`` student updates use only the student's own terms (no teacher pull,
    #: L_fea or L_cs: the student-alone loss of ``sage-student``), while the teacher trains as usual
    warmup: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.schedule not in ("authors", "own"):
            raise ValueError(f"schedule must be 'authors' or 'own', not {self.schedule!r}")
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, not {self.output!r}")
        if self.warmup < 0:
            raise ValueError("warmup must be >= 0")


#: ``paper``: the authors' settings (docs/sage-notes.md §5; their data was FMB, 1,220 pairs, here ``train``).
#: ``cpu``: batch 4, 64×96 crops, 3,600 steps of samfuse's own schedule, sized to finish in under two hours on a
#: small CPU (measurements: docs/decisions.md, "Measured timings"; docs/sage.md, Training).
PROFILES = {
    "paper": SageProfile(batch_size=4, crop=(192, 256), epochs=100, schedule="authors", log_every=10),
    "cpu": SageProfile(batch_size=4, crop=(64, 96), steps=3600, schedule="own", log_every=10),
}


def own_updates(steps_per_epoch: int, total_steps: int) -> tuple[int, int]:
    """``(student updates, teacher updates)`` in ``total_steps`` loop steps of the §5 alternation."""
    student = teacher = 0
    for s in range(total_steps):
        index = s % steps_per_epoch
        if index % 2 == 0:
            student += 1
            teacher += index == steps_per_epoch - 1
        else:
            teacher += 1
    return student, teacher


@contextmanager
def frozen_bn_stats(net: nn.Module):  # noqa: ANN201
    """BatchNorm layers of ``net`` keep using batch statistics in train mode but update no running statistics
    (nor ``num_batches_tracked``) inside the block: ``track_running_stats=False`` makes ``F.batch_norm`` receive
    no running buffers."""
    bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    for m in bns:
        m.track_running_stats = False
    try:
        yield
    finally:
        for m in bns:
            m.track_running_stats = True


def _extractor(profile: SageProfile, device: torch.device) -> nn.Module:
    if profile.sam_checkpoint:
        from samfuse.training.losses.sage_features import load_sam_two_blocks

        return load_sam_two_blocks(profile.sam_checkpoint).to(device)
    from samfuse.training.losses.sage_features import FilterBankFeatures

    return FilterBankFeatures().to(device)


@register_task("sage", "SAGE student + SPA teacher, bi-level (alternating) distillation (docs/sage-notes.md §5)")
class SageTask(TrainingTask):
    """SAGE: the student and the SPA teacher trained by alternating single steps."""

    profiles = PROFILES

    @classmethod
    def mask_product(cls, profile: Profile) -> TopKPairs:
        return TopKPairs(k=getattr(profile, "k", 4))

    def __init__(self, profile: SageProfile, ctx: TaskContext) -> None:
        super().__init__(profile, ctx)
        self.student = SageStudentNet(output=profile.output).to(ctx.device).train()
        self.teacher = SageTeacherNet(mask_num=profile.k).to(ctx.device).train()
        self.student_fwd = ctx.wrap(self.student)
        self.teacher_fwd = ctx.wrap(self.teacher)
        self.extractor = _extractor(profile, ctx.device)
        self.opt_s = torch.optim.Adam(self.student.parameters(), lr=profile.lr_student)
        self.opt_t = torch.optim.Adam(self.teacher.parameters(), lr=profile.lr_teacher)
        if profile.schedule == "authors":
            t_max_s = t_max_t = ctx.total_steps
        else:
            n_s, n_t = own_updates(ctx.steps_per_epoch, ctx.total_steps)
            t_max_s, t_max_t = max(1, n_s), max(1, n_t)
        cos = torch.optim.lr_scheduler.CosineAnnealingLR
        self.sched_s = cos(self.opt_s, T_max=t_max_s, eta_min=profile.eta_min)
        self.sched_t = cos(self.opt_t, T_max=t_max_t, eta_min=profile.eta_min)

    def modules(self) -> dict[str, nn.Module]:
        return {"student": self.student, "teacher": self.teacher}

    def weights_metadata(self) -> dict[str, str]:
        p = self.profile
        recipe = f"sage distillation lcs_weight={p.lcs_weight} warmup={p.warmup}"
        return {"output": p.output, "recipe": recipe, "init": "scratch"}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"student": self.opt_s, "teacher": self.opt_t}

    def schedulers(self) -> dict[str, Any]:
        return {"student": self.sched_s, "teacher": self.sched_t}

    # -- the steps --------------------------------------------------------------------------------------------
    def _inputs(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        y, ir, masks = batch["vi_y"], batch["ir"], batch["masks"]
        k = self.profile.k
        return y, ir, y * masks[:, k:], ir * masks[:, :k]

    def student_step(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """One student update; the teacher runs without autograd (its BatchNorm-free net has no state to move)."""
        y, ir, vm, im = self._inputs(batch)
        if self.sched_s.last_epoch < self.profile.warmup:  # teacher warm-up: the student's own terms only
            s = self.student_fwd(y, ir)
            total, parts = sage_terms(s, y, ir)
            parts = {**parts, "total": total.detach()}
        else:
            with torch.no_grad():
                t, t_taps = self.teacher(y, ir, vm, im, return_taps=True)
            s, s_taps = self.student_fwd(y, ir, return_taps=True)
            loss = student_objective(s, s_taps, t, t_taps, y, ir, vm, im, self.extractor, self.profile.lcs_weight)
            total, parts = loss.total, dict(loss.parts)
        self.opt_s.zero_grad(set_to_none=True)
        total.backward()
        parts["gnorm"] = torch.nn.utils.clip_grad_norm_(self.student.parameters(), float("inf")).detach()
        self.opt_s.step()
        self.sched_s.step()
        return {f"s/{k}": v for k, v in parts.items()}

    def teacher_step(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """One teacher update; the student runs in train mode without autograd and without moving its BN stats."""
        y, ir, vm, im = self._inputs(batch)
        with torch.no_grad(), frozen_bn_stats(self.student):
            s, s_taps = self.student(y, ir, return_taps=True)
        t, t_taps = self.teacher_fwd(y, ir, vm, im, return_taps=True)
        loss = teacher_objective(t, t_taps, s, s_taps, y, ir, vm, im, self.extractor, cs_weight=self.profile.lcs_weight)
        self.opt_t.zero_grad(set_to_none=True)
        loss.total.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(self.teacher.parameters(), float("inf")).detach()
        self.opt_t.step()
        self.sched_t.step()
        return {f"t/{k}": v for k, v in {**loss.parts, "gnorm": gnorm}.items()}

    def training_step(self, batch: dict[str, Any], step: Step) -> Mapping[str, float]:
        if step.index % 2 == 0:
            out = self.student_step(batch)
            if step.last_in_epoch:  # an epoch ending on a student step: one extra teacher step on its batch
                out |= self.teacher_step(batch)
        else:
            out = self.teacher_step(batch)
        return out


def export_weights(run_dir: str | Path, dest: str | Path | None = None) -> tuple[Path, Path]:
    """The shipping pair from a run's final weights: ``sage_student.safetensors`` (fp32, as trained; BN
    unfolded, so it loads with ``build("sage-student", weights=...)``) and ``sage_teacher.fp16.safetensors``
    (half precision, about 5.3 MB; ``build("sage-teacher", weights=...)`` accepts it). Written atomically into
    ``dest`` (default ``RUN_DIR/export``)."""
    from safetensors.torch import load_file, save

    from samfuse.io import atomic_write

    run = Path(run_dir)
    out = Path(dest) if dest is not None else run / "export"
    out.mkdir(parents=True, exist_ok=True)
    student = load_file(str(run / "weights" / "student.safetensors"))
    teacher = load_file(str(run / "weights" / "teacher.safetensors"))
    teacher = {k: v.half() if v.is_floating_point() else v for k, v in teacher.items()}
    paths = (out / "sage_student.safetensors", out / "sage_teacher.fp16.safetensors")
    for path, sd in zip(paths, (student, teacher), strict=True):
        data = save({k: v.contiguous() for k, v in sd.items()}, metadata={"source": str(run)})
        atomic_write(path, lambda fh, data=data: fh.write(data))
    return paths
