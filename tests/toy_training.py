"""A tiny demonstration task for the training-loop tests (not registered in the package).

It has what the real tasks need from the loop: two networks with two optimisers alternating by batch parity
(SAGE's student/teacher pattern), a per-step and a per-epoch scheduler, BatchNorm buffers, masks from the
semantics cache (optional), random noise in the step (so an exact resume needs the RNG handled), and extra
task state. It records what it saw, so tests can compare the batches of two runs.
Import path for ``samfuse train``: ``toy_training:ToyTask`` (with ``tests`` on ``PYTHONPATH``).
"""

from __future__ import annotations

import hashlib
import os
import signal
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from samfuse.data.masks import TopKPairs
from samfuse.training import Profile, Step, TaskContext, TrainingTask


@dataclass(frozen=True)
class ToyProfile(Profile):
    lr: float = 1e-2
    masks: bool = False
    interrupt_at: int | None = None  # send ourselves SIGINT during this step (a real Ctrl-C)
    nan_at: int | None = None  # return a NaN loss at this step


def _net(cin: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(cin, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 1, 3, padding=1))


def checksum(t: torch.Tensor) -> str:
    return hashlib.sha256(t.detach().cpu().contiguous().numpy().tobytes()).hexdigest()[:16]


class ToyTask(TrainingTask):
    """toy: two 2-layer CNNs, alternating steps, L1 to the per-pixel max of IR and VIS-Y"""

    profiles = {
        "cpu": ToyProfile(batch_size=2, crop=(48, 64), epochs=3, log_every=1),
        "steps": ToyProfile(batch_size=2, crop=(48, 64), steps=5, log_every=2),
        "masks": ToyProfile(batch_size=2, crop=(48, 64), epochs=2, masks=True, log_every=1),
        "interrupt": ToyProfile(batch_size=2, crop=(48, 64), epochs=3, interrupt_at=2, log_every=1),
        "nan": ToyProfile(batch_size=2, crop=(48, 64), epochs=3, nan_at=1),
    }

    @classmethod
    def mask_product(cls, profile: Profile) -> TopKPairs | None:
        return TopKPairs(k=2) if getattr(profile, "masks", False) else None

    def __init__(self, profile: ToyProfile, ctx: TaskContext) -> None:
        super().__init__(profile, ctx)
        cin = 2 + (4 if profile.masks else 0)
        self.student = _net(cin).to(ctx.device)
        self.teacher = _net(cin).to(ctx.device)
        self.student_fwd = ctx.wrap(self.student)
        self.teacher_fwd = ctx.wrap(self.teacher)
        self.opt_s = torch.optim.Adam(self.student.parameters(), lr=profile.lr)
        self.opt_t = torch.optim.SGD(self.teacher.parameters(), lr=profile.lr, momentum=0.9)
        self.sched_s = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt_s, T_max=ctx.total_steps, eta_min=1e-4)
        self.sched_t = torch.optim.lr_scheduler.StepLR(self.opt_t, step_size=1, gamma=0.5)
        self.seen: list[tuple[int, list[int], str]] = []
        self.teacher_steps = 0

    def modules(self) -> dict[str, nn.Module]:
        return {"student": self.student, "teacher": self.teacher}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"student": self.opt_s, "teacher": self.opt_t}

    def schedulers(self) -> dict[str, Any]:
        return {"student": self.sched_s, "teacher": self.sched_t}

    def state_dict(self) -> dict[str, Any]:
        return {"teacher_steps": self.teacher_steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.teacher_steps = int(state["teacher_steps"])

    def training_step(self, batch: dict[str, Any], step: Step) -> dict[str, float]:
        p: ToyProfile = self.profile  # type: ignore[assignment]
        if p.interrupt_at == step.step:
            os.kill(os.getpid(), signal.SIGINT)
        self.seen.append((step.step, batch["index"].tolist(), checksum(batch["ir"]) + checksum(batch["vi_y"])))
        x = [batch["ir"], batch["vi_y"]] + ([batch["masks"]] if p.masks else [])
        x = torch.cat(x, dim=1)
        x = x + 0.01 * torch.randn_like(x)  # randomness inside the step
        target = torch.maximum(batch["ir"], batch["vi_y"])
        if step.index % 2 == 0:  # even batch: student step
            loss = (self.student_fwd(x) - target).abs().mean()
            self.opt_s.zero_grad(set_to_none=True)
            loss.backward()
            self.opt_s.step()
            self.sched_s.step()
            out = {"student": loss.item()}
        else:  # odd batch: teacher step
            loss = (self.teacher_fwd(x) - target).pow(2).mean()
            self.opt_t.zero_grad(set_to_none=True)
            loss.backward()
            self.opt_t.step()
            self.teacher_steps += 1
            out = {"teacher": loss.item()}
        if p.nan_at == step.step:
            out["student"] = float("nan")
        return out

    def on_epoch_end(self, epoch: int) -> None:
        self.sched_t.step()


# a fast deterministic mask provider for the tests (registered only when this module is imported)
import numpy as np  # noqa: E402

from samfuse.semantics import MaskProvider, MaskSet, list_providers, register_provider  # noqa: E402


class Levels(MaskProvider):
    """grey-level thresholds: one mask per level (fast, deterministic; tests only)"""

    name = "toy-levels"

    def __init__(self, levels: tuple[int, ...] = (40, 90, 160)) -> None:
        self.levels = tuple(levels)

    def params(self) -> dict[str, Any]:
        return {"levels": list(self.levels)}

    def generate(self, image: np.ndarray) -> MaskSet:
        grey = image if image.ndim == 2 else image.mean(axis=2)
        return MaskSet.from_masks([grey > t for t in self.levels], shape=grey.shape[:2])


if "toy-levels" not in list_providers():
    register_provider("toy-levels", "grey-level thresholds (tests only)")(Levels)
