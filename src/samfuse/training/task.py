"""The task interface: how a method plugs into the training loop, and the task registry.

A *task* owns everything method-specific: its networks, optimisers, schedulers, losses and what one step
does (forward, backward, optimiser step, in any order and any number). The :class:`~samfuse.training.Trainer`
owns everything else: data order, crops, devices, DistributedDataParallel, checkpoints, resume, progress,
log, Ctrl-C. A minimal task::

    from dataclasses import dataclass
    from samfuse.training import Profile, TrainingTask, register_task

    @dataclass(frozen=True)
    class MyProfile(Profile):
        lr: float = 1e-3

    @register_task("my-net", "my network, L1 to the per-pixel max")
    class MyTask(TrainingTask):
        profiles = {"cpu": MyProfile(batch_size=4, crop=(96, 96), steps=2000),
                    "paper": MyProfile(batch_size=16, crop=(160, 160), epochs=100, lr=2e-4)}

        def __init__(self, profile, ctx):
            super().__init__(profile, ctx)
            self.net = MyNet().to(ctx.device)
            self.forward = ctx.wrap(self.net)              # DistributedDataParallel under torchrun
            self.opt = torch.optim.Adam(self.net.parameters(), profile.lr)

        def modules(self):    return {"net": self.net}     # saved as weights/net.safetensors
        def optimizers(self): return {"net": self.opt}

        def training_step(self, batch, step):
            fused = self.forward(batch["ir"], batch["vi_y"])
            loss = (fused - torch.maximum(batch["ir"], batch["vi_y"])).abs().mean()
            self.opt.zero_grad(set_to_none=True); loss.backward(); self.opt.step()
            return {"loss": loss.item()}

Two alternating optimisers (SAGE: even batch index → student step, odd → teacher step) are a ``training_step``
that looks at ``step.index % 2``; an epoch-level learning-rate schedule steps in :meth:`on_epoch_end`.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, TypeVar

import torch
from torch import nn

from samfuse.io import InputError

if TYPE_CHECKING:
    from samfuse.data.masks import MaskProduct
    from samfuse.data.training import PairChannels

__all__ = [
    "Profile",
    "Step",
    "TaskContext",
    "TrainingTask",
    "register_task",
    "get_task",
    "list_tasks",
    "TASK_MODULES",
    "UnknownTaskError",
]


@dataclass(frozen=True)
class Profile:
    """Hyper-parameters of a task, as data. Tasks subclass it (frozen dataclass) and add their own fields.

    The loop reads these fields: ``batch_size`` (global: split over the processes of a torchrun job, so the
    hyper-parameters do not change with the number of GPUs), ``crop`` ((h, w), None = whole images),
    ``hflip``/``vflip`` (p = 0.5 each), ``epochs`` or ``steps`` (exactly one: the length of training in
    epochs or in batches), ``workers`` (DataLoader processes), ``log_every`` (steps per log line),
    ``small`` ("pad" or "skip": images smaller than the crop, see :class:`samfuse.data.TrainingPairs`).
    """

    batch_size: int = 4
    crop: tuple[int, int] | None = (192, 256)
    hflip: bool = True
    vflip: bool = False
    epochs: int | None = None
    steps: int | None = None
    workers: int = 0
    log_every: int = 10
    small: str = "pad"

    def __post_init__(self) -> None:
        if (self.epochs is None) == (self.steps is None):
            raise ValueError("a profile sets exactly one of epochs and steps")
        for name in ("batch_size", "steps", "epochs", "log_every"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 0:
            raise ValueError(f"workers must be a whole number >= 0, got {self.workers!r}")
        crop = self.crop
        if crop is not None and (
            len(crop) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in crop)
        ):
            raise ValueError(f"crop must be [h, w], two whole numbers >= 1 (or null: whole images), got {list(crop)}")
        if self.small not in ("pad", "skip"):
            raise ValueError(f"small must be pad or skip, got {self.small!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values (tuples become lists), as saved in the run config."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    def override(self, items: Mapping[str, str]) -> Profile:
        """A copy with fields set from text (``samfuse train --set KEY=VALUE``).

        Values are read as JSON when they parse (``3``, ``1e-4``, ``true``, ``null``, ``[160, 160]``), else kept
        as text (a path); lists become tuples. One-line :class:`InputError` for an unknown field or a value of
        the wrong type.
        """
        import json
        import typing

        fields = {f.name for f in dataclasses.fields(self)}
        hints = typing.get_type_hints(type(self))
        changes: dict[str, Any] = {}
        for key, text in items.items():
            name = key.replace("-", "_")
            if name not in fields:
                raise InputError(f"--set {key}: not a field of this profile ({', '.join(sorted(fields))})")
            try:
                value: Any = json.loads(text)
            except ValueError:
                value = text
            if isinstance(value, list):
                value = tuple(value)
            typ = hints.get(name)
            hint = getattr(typ, "__name__", str(typ)) if typ is not None else ""
            if isinstance(value, int) and not isinstance(value, bool) and "float" in hint and "int" not in hint:
                value = float(value)
            ok = {
                bool: "bool" in hint,
                int: "int" in hint,
                float: "float" in hint,
                str: "str" in hint or "Path" in hint,
                tuple: "tuple" in hint,
                type(None): "None" in hint,
            }.get(type(value), False)
            if not ok:
                raise InputError(f"--set {key}={text}: expected {hint or 'another type'}")
            changes[name] = value
        try:
            return dataclasses.replace(self, **changes)
        except (TypeError, ValueError) as err:
            given = " ".join(f"--set {k}={v}" for k, v in items.items())
            raise InputError(f"{given}: {' '.join(str(err).split())}") from None


class Step(NamedTuple):
    """Where a training step is: ``step`` (global batch counter from 0, the same in every process),
    ``epoch`` (from 0), ``index`` (batch index within the epoch), ``batches`` (batches per epoch)."""

    step: int
    epoch: int
    index: int
    batches: int

    @property
    def last_in_epoch(self) -> bool:
        return self.index == self.batches - 1


@dataclass(frozen=True)
class TaskContext:
    """What the loop tells a task: device, process group, seed, run folder and the training length.

    ``total_steps`` and ``steps_per_epoch`` come from the profile and the dataset, never from ``--max-steps``
    (which only stops a run early), so a schedule built from them is the same in a short and a full run.
    """

    device: torch.device
    seed: int
    run_dir: Path
    steps_per_epoch: int
    total_steps: int
    rank: int = 0
    world_size: int = 1

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True in the process that writes and prints (rank 0)."""
        return self.rank == 0

    def wrap(self, module: nn.Module, *, find_unused_parameters: bool = False) -> nn.Module:
        """``module`` wrapped in DistributedDataParallel when the run is distributed, else ``module`` itself.

        Use the returned object for the forward pass that is backpropagated; keep the bare module for
        :meth:`TrainingTask.modules` (its state dict has no ``module.`` prefix). A module with no trainable
        parameter (a frozen network) is returned as is. ``find_unused_parameters=True`` is needed when some
        parameters get no gradient in some steps (e.g. SAGE's teacher taps in teacher steps).
        """
        if not self.distributed or not any(p.requires_grad for p in module.parameters()):
            return module
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids, find_unused_parameters=find_unused_parameters)


P = TypeVar("P", bound=Profile)


class TrainingTask:
    """Base class of a training task (see the module docstring).

    Class attributes: ``name`` (set by :func:`register_task`), ``profiles`` (name → :class:`Profile`).
    Override ``__init__(profile, ctx)`` (call ``super().__init__``) to build networks on ``ctx.device``, wrap
    them with ``ctx.wrap`` and make the optimisers; the loop seeds torch/numpy/random with the run's seed
    first, so initial weights depend on ``--seed`` only.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    profiles: ClassVar[Mapping[str, Profile]] = {}

    def __init__(self, profile: Profile, ctx: TaskContext) -> None:
        self.profile = profile
        self.ctx = ctx

    # -- what the task declares -------------------------------------------------------------------------
    @classmethod
    def get_profile(cls, name: str) -> Profile:
        """The profile called ``name``; one-line :class:`InputError` listing the known ones otherwise."""
        if name not in cls.profiles:
            raise InputError(f"--profile {name}: task {cls.name!r} has profiles {', '.join(cls.profiles) or 'none'}")
        return cls.profiles[name]

    @classmethod
    def check_profile(cls, profile: Profile) -> None:
        """Refuse a profile that cannot train (e.g. a missing input file named in a field) with a one-line
        :class:`InputError`. Called right after ``--set`` is applied, before anything is written or computed.
        Default: accept."""

    @classmethod
    def mask_product(cls, profile: Profile) -> MaskProduct | None:
        """The mask product this task trains with (e.g. ``TopKPairs(k=4)``), or None for no masks.

        When not None, every batch has ``batch["masks"]`` (B, C, h, w) float32, cropped with the images.
        """
        return None

    @classmethod
    def extra_inputs(cls, profile: Profile) -> dict[str, PairChannels]:
        """Further per-image inputs by name (``(index, pair, ir_raw, vi_raw) -> (C, H, W)``), cropped and
        flipped with the images: ``batch[name]`` (B, C, h, w) float32. Default: none. Computed when a sample
        is loaded; cache inside the source if it is expensive (e.g. a frozen network's full-size output)."""
        return {}

    # -- what the loop saves ----------------------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        """Named networks to save (bare modules, not DDP wrappers); one ``weights/<name>.safetensors`` each."""
        raise NotImplementedError

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Named optimisers (state saved and restored)."""
        raise NotImplementedError

    def schedulers(self) -> dict[str, Any]:
        """Named learning-rate schedulers (``torch.optim.lr_scheduler``; state saved and restored)."""
        return {}

    def weights_metadata(self) -> dict[str, str]:
        """Further safetensors metadata written into every weights file (checkpoints and ``RUN_DIR/weights``),
        e.g. the model configuration a method needs to rebuild itself from the file alone. Default: none."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Any further state to checkpoint (e.g. an EMA counter): tensors, numbers, strings, lists, dicts only
        (it is loaded with ``torch.load(weights_only=True)``)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""

    # -- what the loop calls ----------------------------------------------------------------------------
    def training_step(self, batch: dict[str, Any], step: Step) -> Mapping[str, float]:
        """One step on ``batch`` (already on ``ctx.device``): forward, backward, optimiser step(s).

        Returns the numbers to show and log (losses, anything else), as floats or 0-d tensors. Randomness
        drawn here from torch/numpy/random is reproducible: the loop reseeds them from (seed, rank, step)
        before every step.
        """
        raise NotImplementedError

    def on_epoch_end(self, epoch: int) -> None:
        """Called after the last step of every epoch (e.g. to step an epoch-level scheduler)."""


# -- registry ------------------------------------------------------------------------------------------
T = TypeVar("T", bound=type[TrainingTask])

_REGISTRY: dict[str, type[TrainingTask]] = {}

#: Further modules to import before a lookup (tasks defined outside :mod:`samfuse.training.tasks`).
TASK_MODULES: list[str] = []


class UnknownTaskError(InputError):
    """No task of that name (one line, with the known names)."""


def register_task(name: str, description: str = "", *, overwrite: bool = False):  # noqa: ANN201
    """Class decorator registering a :class:`TrainingTask` subclass under ``name``."""

    def deco(cls: T) -> T:
        if not (isinstance(cls, type) and issubclass(cls, TrainingTask)):
            raise TypeError(f"{cls!r} is not a TrainingTask subclass")
        if name in _REGISTRY and _REGISTRY[name] is not cls and not overwrite:
            raise ValueError(f"training task {name!r} is already registered")
        cls.name = name
        cls.description = description or (cls.__doc__ or "").strip().split("\n")[0]
        _REGISTRY[name] = cls
        return cls

    return deco


def _load_builtin() -> None:
    """Import every module of :mod:`samfuse.training.tasks` (each registers its tasks) and :data:`TASK_MODULES`."""
    import pkgutil

    from samfuse.training import tasks

    for info in pkgutil.iter_modules(tasks.__path__):
        importlib.import_module(f"{tasks.__name__}.{info.name}")
    for module in TASK_MODULES:
        importlib.import_module(module)


def get_task(name: str) -> type[TrainingTask]:
    """The task class registered as ``name``, or loaded from an import path ``package.module:ClassName``
    (a task of your own, without registering it in samfuse)."""
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as err:
            raise UnknownTaskError(f"task {name!r}: cannot import it ({' '.join(str(err).split())})") from None
        if not (isinstance(cls, type) and issubclass(cls, TrainingTask)):
            raise UnknownTaskError(f"task {name!r}: not a TrainingTask subclass")
        if not cls.name:
            cls.name = name
        return cls
    _load_builtin()
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY)) or "none registered yet"
        raise UnknownTaskError(f"unknown training task {name!r} (known: {known}; or give module:Class)")
    return _REGISTRY[name]


def list_tasks() -> dict[str, str]:
    """Registered tasks: name → one-line description (built-in task modules are imported first)."""
    _load_builtin()
    return {k: _REGISTRY[k].description for k in sorted(_REGISTRY)}
