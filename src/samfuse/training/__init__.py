"""Training: a small reusable loop (checkpoints, resume, progress, log, DDP, Ctrl-C), the task interface
through which each method plugs in its networks, optimisers and step (built-in tasks in
``samfuse.training.tasks``), and each method's losses (``samfuse.training.losses``). See docs/training.md.

>>> from samfuse.training import train
>>> result, problems = train("my-task", out="runs/a", profile="cpu", data="train")   # doctest: +SKIP
"""

from __future__ import annotations

from .checkpoint import CheckpointError, LoopState, latest_checkpoint, load_checkpoint, save_checkpoint, save_weights
from .distributed import DistInfo, ResumableSampler, init_distributed
from .loop import Trainer, TrainingAbandoned, TrainingError, TrainingInterrupted, TrainResult, reseed, schedule
from .run import train, training_pairs
from .rundir import RunConfigError
from .task import (
    TASK_MODULES,
    Profile,
    Step,
    TaskContext,
    TrainingTask,
    UnknownTaskError,
    get_task,
    list_tasks,
    register_task,
)

__all__ = [
    "Trainer",
    "TrainResult",
    "TrainingError",
    "TrainingInterrupted",
    "TrainingAbandoned",
    "TrainingTask",
    "Profile",
    "Step",
    "TaskContext",
    "register_task",
    "get_task",
    "list_tasks",
    "TASK_MODULES",
    "UnknownTaskError",
    "RunConfigError",
    "CheckpointError",
    "LoopState",
    "save_checkpoint",
    "load_checkpoint",
    "latest_checkpoint",
    "save_weights",
    "DistInfo",
    "ResumableSampler",
    "init_distributed",
    "reseed",
    "schedule",
    "train",
    "training_pairs",
]
