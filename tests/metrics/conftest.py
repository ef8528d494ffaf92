"""The 168-image reference sweep, computed once per session (2 processes) and shared by the reference tests."""

from __future__ import annotations

import csv
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from samfuse.metrics import CONVENTIONS
from shared_paths import REFERENCE

VIFB = REFERENCE / "vifb"
CSV = {"vifb": VIFB / "vifb_matlab_metrics.csv", "cddfuse": REFERENCE / "cddfuse" / "cddfuse_metrics_vifb.csv"}


def _find(folder: Path, stem: str) -> Path:
    return next(p for p in folder.iterdir() if p.stem == stem)


def _row(args: tuple[str, str, str, tuple[str, ...]]) -> dict[str, float]:
    convention, method, image, names = args
    conv = CONVENTIONS[convention]
    ir = conv.read(_find(VIFB / "ir", image))
    vi = conv.read(_find(VIFB / "vi", image))
    fused = conv.read(_find(VIFB / "fused" / method, image))
    return conv.evaluate(ir, vi, fused, list(names))


def _sweep(convention: str) -> tuple[list[dict[str, str]], list[dict[str, float]]]:
    with open(CSV[convention], newline="") as fh:
        rows = list(csv.DictReader(fh))
    names = tuple(c for c in rows[0] if c not in ("method", "image"))
    tasks = [(convention, r["method"], r["image"], names) for r in rows]
    with ProcessPoolExecutor(2) as pool:
        ours = list(pool.map(_row, tasks, chunksize=4))
    return rows, ours


@pytest.fixture(scope="session")
def vifb_sweep() -> tuple[list[dict[str, str]], list[dict[str, float]]]:
    """(reference rows, our values) for all 168 rows of the VIFB MATLAB CSV."""
    return _sweep("vifb")


@pytest.fixture(scope="session")
def cddfuse_sweep() -> tuple[list[dict[str, str]], list[dict[str, float]]]:
    """(reference rows, our values) for all 168 rows of the CDDFuse evaluator CSV."""
    return _sweep("cddfuse")
