"""Recompute the reference toolkits' CSVs (``shared/reference``) with samfuse, for tests and benchmarks.

The VIFB reference folder holds ``ir/``, ``vi/``, ``fused/<method>/`` (8 methods × 21 images) and the MATLAB
values; the CDDFuse folder holds its evaluator's values on the same images. :func:`sweep` returns the reference
rows and samfuse's values for every row of one convention's CSV.
"""

from __future__ import annotations

import csv
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from samfuse.metrics.conventions import CONVENTIONS

#: Each convention's CSV, relative to the reference folder.
CSV_NAME = {"vifb": "vifb/vifb_matlab_metrics.csv", "cddfuse": "cddfuse/cddfuse_metrics_vifb.csv"}


def _find(folder: Path, stem: str) -> Path:
    return next(p for p in sorted(folder.iterdir()) if p.stem == stem)


def compute_row(reference: str | Path, convention: str, method: str, image: str, names: list[str]) -> dict[str, float]:
    """``names`` metrics of one (method, image) row, the images read with the convention's reader."""
    root = Path(reference) / "vifb"
    conv = CONVENTIONS[convention]
    ir = conv.read(_find(root / "ir", image))
    vi = conv.read(_find(root / "vi", image))
    fused = conv.read(_find(root / "fused" / method, image))
    return conv.evaluate(ir, vi, fused, names)


def _task(args: tuple) -> dict[str, float]:
    return compute_row(*args)


def sweep(reference: str | Path, convention: str, jobs: int = 1) -> tuple[list[dict[str, str]], list[dict[str, float]]]:
    """(reference rows as read from the CSV, samfuse's values) for every row of ``convention``'s CSV.

    ``jobs`` > 1 uses worker processes started with ``spawn`` (a forked child could inherit OpenCV's thread
    pool without its threads and hang).
    """
    with open(Path(reference) / CSV_NAME[convention], newline="") as fh:
        rows = list(csv.DictReader(fh))
    names = [c for c in rows[0] if c not in ("method", "image")]
    tasks = [(str(reference), convention, r["method"], r["image"], names) for r in rows]
    if jobs > 1:
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            ours = list(pool.map(_task, tasks, chunksize=4))
    else:
        ours = [_task(t) for t in tasks]
    return rows, ours
