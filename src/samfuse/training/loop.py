"""The training loop: data order, devices, steps, checkpoints, resume, progress, log, interrupts.

See docs/training.md. The loop never looks inside a task's step: it hands over a batch on the task's device
and the :class:`~samfuse.training.task.Step`, and records the numbers that come back.
"""

from __future__ import annotations

import math
import random
import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from samfuse.io import InputError

from .checkpoint import LoopState, latest_checkpoint, load_checkpoint, save_checkpoint, save_weights
from .distributed import ResumableSampler, all_reduce_max, all_reduce_mean
from .rundir import LOG, JsonLog
from .task import Profile, Step, TrainingTask

__all__ = [
    "Trainer", "TrainResult", "TrainingInterrupted", "TrainingAbandoned", "TrainingError", "schedule", "reseed",
]  # fmt: skip


class TrainingError(InputError):
    """Training cannot go on (a non-finite loss, a dataset too small for one batch); one line."""


class TrainingInterrupted(Exception):
    """Ctrl-C (SIGINT) or SIGTERM stopped the run after a checkpoint of step ``step`` was saved."""

    def __init__(self, step: int, checkpoint: Path | None) -> None:
        super().__init__(f"interrupted after step {step}")
        self.step, self.checkpoint = step, checkpoint


class TrainingAbandoned(KeyboardInterrupt):
    """A second Ctrl-C stopped the run at once, without saving the step in progress. ``step``/``checkpoint``:
    the latest complete checkpoint, which stays valid (None when the run has none)."""

    def __init__(self, step: int | None, checkpoint: Path | None) -> None:
        super().__init__("interrupted again before a checkpoint was saved")
        self.step, self.checkpoint = step, checkpoint


def _latest(run_dir: Path) -> tuple[int | None, Path | None]:
    try:
        folder = latest_checkpoint(run_dir)
    except Exception:  # noqa: BLE001  (a damaged latest.json: say there is none rather than fail again)
        return None, None
    if folder is None:
        return None, None
    try:
        return int(folder.name.rpartition("-")[2]), folder
    except ValueError:
        return None, folder


@dataclass
class TrainResult:
    step: int  #: steps done in all
    total_steps: int  #: the profile's length
    finished: bool  #: the profile's length was reached (not only --max-steps)
    checkpoint: Path | None
    wall_s: float  #: training time over all sessions of the run
    last: dict[str, float] = field(default_factory=dict)  #: the last logged means
    task: TrainingTask | None = None  #: the trained task (its modules hold the final weights)


def schedule(n_samples: int, profile: Profile, world_size: int = 1) -> tuple[int, int]:
    """``(steps_per_epoch, total_steps)`` for a dataset of ``n_samples`` (one-line errors when impossible)."""
    if profile.batch_size % world_size:
        raise TrainingError(
            f"batch size {profile.batch_size} (global) does not split over {world_size} processes; "
            "use a number of processes that divides it"
        )
    per_rank = profile.batch_size // world_size
    steps_per_epoch = (n_samples // world_size) // per_rank
    if steps_per_epoch < 1:
        raise TrainingError(f"{n_samples} training pairs make no full batch of {profile.batch_size}")
    total = profile.steps if profile.steps is not None else int(profile.epochs) * steps_per_epoch
    return steps_per_epoch, int(total)


def reseed(seed: int, rank: int, step: int) -> None:
    """Seed torch (CPU and CUDA), numpy and random from ``(seed, rank, step)``."""
    a, b = np.random.SeedSequence([seed, rank, step]).generate_state(2)
    torch.manual_seed((int(a) << 32) | int(b))
    np.random.seed(int(a))
    random.seed(int(b))


def _to_device(batch: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    nb = device.type == "cuda"
    return {k: v.to(device, non_blocking=nb) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def _ignore_sigint(_worker_id: int) -> None:
    """DataLoader workers ignore Ctrl-C: the main process finishes its step and saves, then stops them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _StopFlag:
    """SIGINT/SIGTERM set a flag (the step in progress finishes); a second SIGINT raises KeyboardInterrupt."""

    def __init__(self) -> None:
        self.set = False
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.set and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.set = True

    def __enter__(self) -> _StopFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


class Trainer:
    """Runs a task over a dataset (see the module docstring and docs/training.md).

    ``dataset``: a map-style dataset of dicts (e.g. :class:`samfuse.data.TrainingPairs`) with an optional
    ``set_epoch``. ``checkpoint_minutes``: save every that many minutes of training (0 = after every step),
    and always at the end. ``max_steps``: stop after that many steps in all (the schedule stays the profile's).
    """

    def __init__(
        self,
        task: TrainingTask,
        dataset: Dataset,
        run_dir: str | Path,
        *,
        checkpoint_minutes: float = 10.0,
        max_steps: int | None = None,
        progress: bool = True,
        keep: int = 1,
    ) -> None:
        self.task, self.dataset = task, dataset
        self.run_dir = Path(run_dir)
        self.ctx = task.ctx
        self.checkpoint_minutes = float(checkpoint_minutes)
        self.max_steps = max_steps
        self.progress = progress and self.ctx.is_main
        self.keep = keep
        self.log = JsonLog(self.run_dir / LOG)
        profile = task.profile
        self.per_rank = profile.batch_size // self.ctx.world_size
        spe, total = schedule(len(dataset), profile, self.ctx.world_size)  # type: ignore[arg-type]
        if (spe, total) != (self.ctx.steps_per_epoch, self.ctx.total_steps):
            raise ValueError("TaskContext steps do not match the dataset and profile")
        self.state = LoopState(step=0, steps_per_epoch=spe, total_steps=total)
        self.sampler = ResumableSampler(
            dataset, num_replicas=self.ctx.world_size, rank=self.ctx.rank, seed=self.ctx.seed
        )
        self.loader = DataLoader(
            dataset,
            batch_size=self.per_rank,
            sampler=self.sampler,
            num_workers=profile.workers,
            drop_last=True,
            pin_memory=self.ctx.device.type == "cuda",
            worker_init_fn=_ignore_sigint if profile.workers else None,
        )

    # -- checkpoints --------------------------------------------------------------------------------------
    def _objects(self) -> tuple[dict, dict, dict]:
        return self.task.modules(), self.task.optimizers(), self.task.schedulers()

    def save(self) -> Path | None:
        """Checkpoint the current step (rank 0 writes; the others have identical weights and optimiser
        state under DDP). Returns the folder on rank 0, None elsewhere."""
        if not self.ctx.is_main:
            return None
        modules, optimizers, schedulers = self._objects()
        folder = save_checkpoint(
            self.run_dir,
            self.state,
            modules,
            optimizers,
            schedulers,
            self.task.state_dict(),
            keep=self.keep,
            metadata=self.task.weights_metadata(),
        )
        self.log.write({"event": "checkpoint", "step": self.state.step, "path": str(folder)})
        return folder

    def restore(self) -> bool:
        """Load the latest checkpoint if the run has one; True when it did."""
        folder = latest_checkpoint(self.run_dir)
        if folder is None:
            return False
        modules, optimizers, schedulers = self._objects()
        state, extra = load_checkpoint(folder, modules, optimizers, schedulers)
        if (state.steps_per_epoch, state.total_steps) != (self.state.steps_per_epoch, self.state.total_steps):
            raise TrainingError(
                f"{folder}: saved with {state.steps_per_epoch} steps per epoch and {state.total_steps} in all, "
                f"the data now gives {self.state.steps_per_epoch} and {self.state.total_steps} (dataset changed?)"
            )
        self.task.load_state_dict(extra)
        self.state = state
        return True

    # -- the loop -----------------------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> TrainResult:
        """Train until the profile's length or ``max_steps``; checkpoint at the end.

        Raises :class:`TrainingInterrupted` (after saving) on Ctrl-C/SIGTERM, :class:`TrainingAbandoned` (a
        KeyboardInterrupt) on a second Ctrl-C, :class:`TrainingError` on a non-finite loss (the last checkpoint
        is kept as it was).
        """
        try:
            return self._fit(resume)
        except TrainingAbandoned:
            raise
        except KeyboardInterrupt:
            step, folder = _latest(self.run_dir)
            raise TrainingAbandoned(step, folder) from None

    def _fit(self, resume: bool) -> TrainResult:
        ctx, state = self.ctx, self.state
        resumed = self.restore() if resume else False
        state = self.state
        if self.ctx.is_main:
            if resume:  # records past the checkpoint (or of a session that never saved) are redone
                self.log.truncate_after(state.step)
            self.log.write({"event": "resume" if resumed else "start", "step": state.step})
        stop = state.total_steps if self.max_steps is None else min(state.total_steps, self.max_steps)
        checkpoint: Path | None = None
        if state.step >= stop:
            done = state.step >= state.total_steps
            weights = self.run_dir / "weights"
            if resumed and ctx.is_main and not any(weights.glob("*.safetensors")):  # e.g. deleted: the checkpoint's
                meta = {**self.task.weights_metadata(), "step": str(state.step), "task": self.task.name}
                save_weights(weights, self.task.modules(), meta)
            return TrainResult(state.step, state.total_steps, done, None, state.wall_s, task=self.task)

        from tqdm import tqdm

        bar = tqdm(
            total=stop, initial=state.step, desc=f"train {self.task.name}", unit="step",
            disable=not self.progress, dynamic_ncols=True,
        )  # fmt: skip
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        last: dict[str, float] = {}
        log_every = max(1, self.task.profile.log_every)
        t_session = time.monotonic()
        wall0 = state.wall_s
        last_save = time.monotonic()
        try:
            with _StopFlag() as flag:
                while state.step < stop:
                    epoch = state.epoch
                    self.sampler.set_epoch(epoch)
                    self.sampler.set_start(state.index * self.per_rank)
                    if hasattr(self.dataset, "set_epoch"):
                        self.dataset.set_epoch(epoch)
                    for batch in self.loader:
                        info = Step(state.step, epoch, state.index, state.steps_per_epoch)
                        reseed(ctx.seed, ctx.rank, state.step)
                        out = self.task.training_step(_to_device(batch, ctx.device), info)
                        if info.last_in_epoch:
                            self.task.on_epoch_end(epoch)
                        state.step += 1
                        state.wall_s = wall0 + time.monotonic() - t_session
                        bad = ""
                        for k, v in out.items():
                            v = float(v)
                            if not math.isfinite(v):
                                bad = bad or f"step {info.step}: {k} = {v} (not finite); stopped"
                                continue
                            sums[k] = sums.get(k, 0.0) + v
                            counts[k] = counts.get(k, 0) + 1
                        bar.update()
                        if self.progress and counts:
                            bar.set_postfix({k: f"{sums[k] / counts[k]:.4g}" for k in sorted(sums)}, refresh=False)
                        due = self.checkpoint_minutes * 60 <= time.monotonic() - last_save and ctx.is_main
                        # one collective per step: every process fails, logs, saves or stops at the same step
                        stop_now, save_now, failed = all_reduce_max(
                            [float(flag.set), float(due), float(bool(bad))], ctx.device
                        )
                        if failed:
                            raise TrainingError(bad or f"step {info.step}: a non-finite value in another process")
                        if state.step % log_every == 0 or state.step == stop:
                            last = self._log_window(sums, counts, info)
                            sums, counts = {}, {}
                        if stop_now and state.step < stop:
                            bar.set_description(f"train {self.task.name}: saving")
                            checkpoint = self.save()
                            self.log_event("interrupted")
                            raise TrainingInterrupted(state.step, checkpoint)
                        if save_now and state.step < stop:
                            checkpoint = self.save()
                            last_save = time.monotonic()
                        if state.step >= stop or info.last_in_epoch:
                            break
                    else:  # the loader ran dry before the epoch's last batch: the dataset changed under us
                        raise TrainingError(f"epoch {epoch}: the data ran out at step {state.step}")
        finally:
            bar.close()
        state.finished = state.step >= state.total_steps
        checkpoint = self.save()
        if ctx.is_main:
            modules = self.task.modules()
            meta = {**self.task.weights_metadata(), "step": str(state.step), "task": self.task.name}
            save_weights(self.run_dir / "weights", modules, meta)
            self.log.write({"event": "end", "step": state.step, "finished": state.finished, "wall_s": state.wall_s})
        return TrainResult(state.step, state.total_steps, state.finished, checkpoint, state.wall_s, last, self.task)

    def log_event(self, event: str) -> None:
        if self.ctx.is_main:
            self.log.write({"event": event, "step": self.state.step})

    def _log_window(self, sums: dict[str, float], counts: dict[str, int], info: Step) -> dict[str, float]:
        keys = sorted(sums)
        means = all_reduce_mean([sums[k] / counts[k] for k in keys], self.ctx.device)
        values = dict(zip(keys, means, strict=True))
        if self.ctx.is_main:
            rec: dict[str, Any] = {"step": self.state.step, "epoch": info.epoch}
            rec.update({k: round(v, 6) for k, v in values.items()})
            for name, opt in self.task.optimizers().items():
                rec[f"lr/{name}"] = opt.param_groups[0]["lr"]
            rec["wall_s"] = round(self.state.wall_s, 3)
            self.log.write(rec)
        return values
