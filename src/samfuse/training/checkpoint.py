"""Training checkpoints: safetensors weights, optimiser/scheduler state without arbitrary pickles, loop state.

Layout under the run folder::

    RUN_DIR/latest.json                         {"checkpoint": "checkpoints/step-00000420", "step": 420}
    RUN_DIR/checkpoints/step-00000420/
        weights/<module>.safetensors            one file per TrainingTask.modules() entry
        state.pt                                {"optimizers": {name: state_dict}, "schedulers": {...},
                                                 "task": TrainingTask.state_dict()}; tensors, numbers,
                                                 strings, lists and dicts only: loads with
                                                 torch.load(weights_only=True)
        loop.json                               step, epoch, index in epoch, batches per epoch, total steps,
                                                 finished, wall time, date
    RUN_DIR/weights/<module>.safetensors        the final weights, written when training ends

Every file is written atomically (:func:`samfuse.io.atomic_write`); ``latest.json`` is rewritten only after
the whole checkpoint folder is complete, and older folders are deleted only after that, so an interruption at
any moment leaves the previous checkpoint usable.

No RNG state is stored: the loop reseeds torch, numpy and random from ``(seed, rank, step)`` before every
step, and crops depend on ``(seed, epoch, index)`` only, so the randomness after a resume is a function of
the step number alone.
"""

from __future__ import annotations

import io
import json
import shutil
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save as st_save
from torch import nn

from samfuse.io import atomic_write
from samfuse.io.checkpoint import CheckpointError, check_state_dict, load_state_dict

__all__ = ["LoopState", "CheckpointError", "save_checkpoint", "load_checkpoint", "latest_checkpoint", "save_weights"]

LATEST = "latest.json"


@dataclass
class LoopState:
    """Where the loop is: ``step`` batches done in all (the next step's number), and the schedule."""

    step: int = 0
    steps_per_epoch: int = 0
    total_steps: int = 0
    finished: bool = False
    wall_s: float = 0.0

    @property
    def epoch(self) -> int:
        return self.step // self.steps_per_epoch if self.steps_per_epoch else 0

    @property
    def index(self) -> int:
        """Batches already done in the current epoch."""
        return self.step % self.steps_per_epoch if self.steps_per_epoch else 0


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    text = (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()
    atomic_write(path, lambda f: f.write(text))


def _state_bytes(obj: Any) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    # clone: separate storages (safetensors refuses shared ones, e.g. tied weights), contiguous, on the CPU
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in module.state_dict().items()}


def save_weights(folder: Path, modules: Mapping[str, nn.Module], metadata: Mapping[str, str] | None = None) -> None:
    """``folder/<name>.safetensors`` for every module, atomically."""
    meta = {k: str(v) for k, v in (metadata or {}).items()}
    for name, module in modules.items():
        data = st_save(_cpu_state(module), metadata=meta)
        atomic_write(folder / f"{name}.safetensors", lambda f, d=data: f.write(d))


def save_checkpoint(
    run_dir: Path,
    state: LoopState,
    modules: Mapping[str, nn.Module],
    optimizers: Mapping[str, torch.optim.Optimizer],
    schedulers: Mapping[str, Any],
    task_state: Mapping[str, Any],
    *,
    keep: int = 1,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Write a complete checkpoint of step ``state.step``, point ``latest.json`` at it, drop older ones
    (keeping ``keep`` folders in all). Returns its folder. ``metadata``: further safetensors metadata of the
    weights files (the task's :meth:`~samfuse.training.TrainingTask.weights_metadata`)."""
    run_dir = Path(run_dir)
    folder = run_dir / "checkpoints" / f"step-{state.step:08d}"
    save_weights(folder / "weights", modules, {**(metadata or {}), "step": str(state.step)})
    blob = _state_bytes(
        {
            "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in schedulers.items()},
            "task": dict(task_state),
        }
    )
    atomic_write(folder / "state.pt", lambda f: f.write(blob))
    loop = asdict(state) | {"epoch": state.epoch, "index": state.index, "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    _write_json(folder / "loop.json", loop)
    _write_json(run_dir / LATEST, {"checkpoint": folder.relative_to(run_dir).as_posix(), "step": state.step})
    older = sorted(p for p in (run_dir / "checkpoints").glob("step-*") if p.is_dir() and p != folder)
    for old in older[: max(0, len(older) - (keep - 1))]:
        shutil.rmtree(old, ignore_errors=True)
    return folder


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The folder ``latest.json`` points at, or None when the run has no checkpoint yet."""
    run_dir = Path(run_dir)
    path = run_dir / LATEST
    if not path.exists():
        return None
    try:
        folder = run_dir / json.loads(path.read_text())["checkpoint"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path}: unreadable ({' '.join(str(err).split())})") from None
    if not folder.is_dir():
        raise CheckpointError(f"{path}: points at {folder}, which does not exist")
    return folder


def _load_module(path: Path, module: nn.Module, name: str) -> None:
    state = load_state_dict(path)  # one-line CheckpointError for missing, empty, corrupt files
    check_state_dict(state, module, path, what=f"module {name!r}")
    module.load_state_dict(state, strict=True)


def load_checkpoint(
    folder: Path,
    modules: Mapping[str, nn.Module],
    optimizers: Mapping[str, torch.optim.Optimizer],
    schedulers: Mapping[str, Any],
) -> tuple[LoopState, dict[str, Any]]:
    """Load a checkpoint folder into the task's objects; returns the loop state and the task's extra state."""
    folder = Path(folder)
    for name, module in modules.items():
        _load_module(folder / "weights" / f"{name}.safetensors", module, name)
    path = folder / "state.pt"
    if not path.is_file():
        raise CheckpointError(f"{path}: missing from the checkpoint")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for corrupt files and refused pickles
        raise CheckpointError(f"{path}: not loadable with weights_only ({type(err).__name__})") from None
    if not isinstance(blob, dict) or not {"optimizers", "schedulers"} <= set(blob):
        raise CheckpointError(f"{path}: not a samfuse training state")
    for kind, objs in (("optimizers", optimizers), ("schedulers", schedulers)):
        saved = blob[kind]
        if set(saved) != set(objs):
            raise CheckpointError(f"{path}: {kind} {sorted(saved)} saved, the task has {sorted(objs)}")
        for name, obj in objs.items():
            try:
                obj.load_state_dict(saved[name])
            except (ValueError, KeyError, RuntimeError) as err:
                raise CheckpointError(f"{path}: {kind[:-1]} {name!r}: {' '.join(str(err).split())}") from None
    try:
        loop = json.loads((folder / "loop.json").read_text())
        fields = {k: loop[k] for k in ("step", "steps_per_epoch", "total_steps", "finished", "wall_s")}
    except (OSError, ValueError, KeyError) as err:
        raise CheckpointError(f"{folder / 'loop.json'}: unreadable ({' '.join(str(err).split())})") from None
    return LoopState(**fields), dict(blob.get("task", {}))
