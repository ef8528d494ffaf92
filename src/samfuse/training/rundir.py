"""The run folder's config (``config.json``) and log (``log.jsonl``).

``config.json`` is written when a run starts and compared on ``--resume``: every key under ``"run"`` (task,
profile and its values, data, masks, seed, number of processes) must match, otherwise the resume is refused
with one line naming the first difference. Keys under ``"info"`` (device, checkpoint interval, ``--max-steps``,
version, date) may change between sessions: they do not change which batch comes next or what it does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from samfuse.io import InputError, atomic_write

__all__ = ["RunConfigError", "write_config", "check_config", "JsonLog", "CONFIG", "LOG"]

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
