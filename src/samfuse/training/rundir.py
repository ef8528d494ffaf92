"""The run folder's config (``config.json``) and log (``log.jsonl``).

``config.json`` is written when a run starts and compared on ``--resume``: every key under ``"run"`` (task,
profile and its values, data, masks, seed, number of processes) must match, otherwise the resume is refused
with one line naming the first difference. Keys under ``"info"`` (device, checkpoint interval, ``--max-steps``,
version, date) may change between sessions: they do not change which batch comes next or what it does.

``info.numerics`` records what changes the *rounding* of a step: torch's intra-op thread count and the
deterministic-algorithm flags. A float sum split over 1 thread or 2 rounds differently (about 1e-3 in the
weights after 3 steps of ``sage-student``, growing over a long run), so :func:`adopt_numerics` gives a resumed
session the first session's values, with one warning line, instead of refusing it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from samfuse.io import InputError, atomic_write

__all__ = [
    "RunConfigError", "write_config", "check_config", "JsonLog", "CONFIG", "LOG", "numerics", "adopt_numerics",
]  # fmt: skip

CONFIG = "config.json"
LOG = "log.jsonl"


class RunConfigError(InputError):
    """The run folder does not fit the options (one line)."""


def _normal(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True))


def write_config(run_dir: Path, run: Mapping[str, Any], info: Mapping[str, Any]) -> None:
    data = {"run": _normal(dict(run)), "info": _normal(dict(info))}
    text = (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()
    atomic_write(Path(run_dir) / CONFIG, lambda f: f.write(text))


def _first_difference(saved: Any, new: Any, prefix: str = "") -> str | None:
    if isinstance(saved, dict) and isinstance(new, dict):
        for key in sorted(set(saved) | set(new)):
            name = f"{prefix}.{key}" if prefix else key
            if key not in saved:
                return f"{name} is new ({json.dumps(new[key])})"
            if key not in new:
                return f"{name} was {json.dumps(saved[key])}, now not set"
            diff = _first_difference(saved[key], new[key], name)
            if diff:
                return diff
        return None
    if saved != new:
        return f"{prefix} was {json.dumps(saved)}, now {json.dumps(new)}"
    return None


def check_config(run_dir: Path, run: Mapping[str, Any]) -> dict[str, Any]:
    """Compare ``run`` with the saved ``config.json``; returns the saved config or raises one line."""
    path = Path(run_dir) / CONFIG
    try:
        saved = json.loads(path.read_text())
        saved_run = saved["run"]
    except FileNotFoundError:
        raise RunConfigError(f"{run_dir}: --resume: no run here (no {CONFIG}); start it without --resume") from None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise RunConfigError(f"{path}: unreadable run config ({' '.join(str(err).split())})") from None
    diff = _first_difference(saved_run, _normal(dict(run)))
    if diff:
        raise RunConfigError(f"{path}: --resume with other options than the saved run: {diff}")
    return saved


def numerics() -> dict[str, Any]:
    """This process's torch settings that change the rounding of a training step (recorded in ``info``)."""
    import torch

    return {
        "threads": int(torch.get_num_threads()),
        "deterministic": bool(torch.are_deterministic_algorithms_enabled()),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
    }


def _set_numerics(values: Mapping[str, Any]) -> None:
    import torch

    torch.set_num_threads(int(values["threads"]))
    torch.use_deterministic_algorithms(bool(values["deterministic"]))
    torch.backends.cudnn.deterministic = bool(values["cudnn_deterministic"])
    torch.backends.cudnn.benchmark = bool(values["cudnn_benchmark"])


def adopt_numerics(saved_info: Mapping[str, Any], device: str, warn: Callable[[str], None]) -> Callable[[], None]:
    """Give this (resumed) session the thread count and deterministic flags the run started with, so that it
    continues bit-identically; one warning line per value changed, and one when the device differs (which
    cannot be made exact). Returns a function that puts this process's previous values back."""
    saved = saved_info.get("numerics")
    before = numerics()
    was_device = saved_info.get("device")
    if was_device is not None and str(was_device) != str(device):
        warn(
            f"--resume: the run started on {was_device}, this session runs on {device}; the weights will not be "
            "bit-identical to an uninterrupted run"
        )
    if not isinstance(saved, dict):
        warn(
            f"--resume: {CONFIG} does not record the torch thread count of the first session (an older run); the "
            "resume is bit-identical only if this session uses the same one"
        )
        return lambda: None
    want = dict(before)
    threads = saved.get("threads")
    if isinstance(threads, int) and not isinstance(threads, bool) and threads >= 1 and threads != before["threads"]:
        want["threads"] = threads
        s_was, s_now = ("" if threads == 1 else "s"), ("" if before["threads"] == 1 else "s")
        warn(
            f"--resume: the run started with {threads} torch thread{s_was}, this session has {before['threads']} "
            f"thread{s_now}; using {threads} so that the result is bit-identical to an uninterrupted run"
        )
    for key in ("deterministic", "cudnn_deterministic", "cudnn_benchmark"):
        value = saved.get(key)
        if isinstance(value, bool) and value != before[key]:
            want[key] = value
            warn(f"--resume: the run started with {key}={value}, this session has {before[key]}; using {value}")
    if want == before:
        return lambda: None
    _set_numerics(want)
    return lambda: _set_numerics(before)


class JsonLog:
    """Append-only JSON-lines log; each record gets ``time`` (Unix seconds). Writes are flushed per line."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def truncate_after(self, step: int) -> None:
        """Drop step records beyond ``step`` (what a resume from that checkpoint will redo), atomically."""
        if not self.path.exists():
            return
        kept = []
        for line in self.path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a line cut by a crash
            if "step" in rec and rec["step"] > step:
                continue
            kept.append(line)
        text = "".join(f"{line}\n" for line in kept).encode()
        atomic_write(self.path, lambda f: f.write(text))

    def write(self, record: Mapping[str, Any]) -> None:
        rec = {"time": round(time.time(), 3), **record}
        with open(self.path, "a") as f:
            f.write(json.dumps(rec, sort_keys=False) + "\n")
            f.flush()
