"""Shared by the msrs benchmark scripts (``sage_training.py``, ``sgdfuse_msrs.py``): fuse with the real commands
in a subprocess, evaluate with ``samfuse eval --convention cddfuse --metrics all``, and print Markdown tables of
means with the best value of each column in bold. Not a library module: the scripts import it from this folder.
"""

from __future__ import annotations

import csv
import hashlib
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from samfuse.machine import cpu_model

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "datasets"
BASELINES = ("average", "max", "laplacian")


def machine() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{cpu_model()}, {os.cpu_count()} cores, no GPU; {platform.platform()}; load average {load}"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def run(cmd: list[str]) -> float:
    """Run a samfuse command (``python -m samfuse ...``); end the script with its stderr on failure."""
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "samfuse", *cmd], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"error: samfuse {' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return time.monotonic() - t0


def means_of(table: Path) -> dict[str, float]:
    """Mean of each column of a ``samfuse eval --out`` CSV (NaN-aware), plus ``n`` (images)."""
    with open(table, newline="") as fh:
        rows = list(csv.DictReader(fh))
    names = [k for k in rows[0] if k != "image"]
    means = {n: float(np.nanmean([float(r[n]) if r[n] else np.nan for r in rows])) for n in names}
    means["n"] = len(rows)
    return means


def evaluate_method(method: str, weights: Path | None, work: Path, jobs: int) -> dict[str, float]:
    """``samfuse eval --data msrs --method M [--weights W]`` (fusion included); reuses its fused images."""
    key = method if weights is None else f"{method}-{sha(weights)}"
    fused, table = work / key, work / f"{key}.csv"
    cmd = ["eval", "--data", "msrs", "--method", method, "--convention", "cddfuse", "--metrics", "all",
           "--fused", str(fused), "--out", str(table), "--jobs", str(jobs)]  # fmt: skip
    if weights is not None:
        cmd += ["--weights", str(weights)]
    if not table.is_file():  # a table already in --work is reused (delete it to recompute)
        print(f"  {key}: {run(cmd):.0f} s", file=sys.stderr)
    return means_of(table)


def evaluate_fused(fused: Path, table: Path, jobs: int, dataset: str = "MSRS") -> dict[str, float]:
    """``samfuse eval --ir --vi --fused`` on images fused beforehand (e.g. by ``samfuse fuse --masks``)."""
    cmd = ["eval", "--ir", str(DATA / dataset / "ir"), "--vi", str(DATA / dataset / "vi"), "--fused", str(fused),
           "--convention", "cddfuse", "--metrics", "all", "--out", str(table), "--jobs", str(jobs)]  # fmt: skip
    if not table.is_file():  # a table already in --work is reused (delete it to recompute)
        print(f"  eval {fused.name}: {run(cmd):.0f} s", file=sys.stderr)
    return means_of(table)


def direction() -> dict[str, bool]:
    from samfuse.metrics import CONVENTIONS

    return {m.name: m.higher_is_better for m in CONVENTIONS["cddfuse"].metrics.values()}


def table(rows: dict[str, dict[str, float]], higher: dict[str, bool]) -> str:
    names = [n for n in next(iter(rows.values())) if n != "n"]
    head = "| method | n | " + " | ".join(f"{n} {'↑' if higher.get(n, True) else '↓'}" for n in names) + " |"
    lines = [head, "|---|---|" + "---|" * len(names)]
    best = {n: (max if higher.get(n, True) else min)(r[n] for r in rows.values() if np.isfinite(r[n])) for n in names}
    for label, r in rows.items():
        cells = [f"**{r[n]:.4f}**" if r[n] == best[n] else f"{r[n]:.4f}" for n in names]
        lines.append(f"| {label} | {int(r['n'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def wins(ours: dict[str, float], others: list[dict[str, float]], higher: dict[str, bool]) -> list[str]:
    """Metrics on which ``ours`` is strictly better than every one of ``others``."""
    out = []
    for n in (k for k in ours if k != "n"):
        better = (lambda a, b: a > b) if higher.get(n, True) else (lambda a, b: a < b)
        if all(better(ours[n], o[n]) for o in others):
            out.append(n)
    return out


def write_report(path: Path, lines: list[str]) -> None:
    """Write the Markdown report (the lines joined) to ``path`` and print it."""
    text = "\n".join(lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(text)
