"""Fuse what is missing into a folder, then evaluate it: the loop ``samfuse bench`` (one method × dataset) and
``samfuse robustness`` (one condition) share.

:func:`fuse_and_evaluate` fuses the pairs whose ``<stem>.png`` is not yet in the folder with
:func:`samfuse.batch.fuse_into` (atomic writes, existing images skipped), notes ``"<label>: N fused, M failed,
K skipped"``, evaluates every pair that did not fail with :func:`samfuse.evaluation.evaluate_pairs` and reports
the per-image problems (:func:`samfuse.evaluation.report_problems`). Whether the images already there may be
reused (their provenance) is the caller's check, made before.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from samfuse.batch import BatchReport, fuse_into
from samfuse.evaluation import ImageResult, evaluate_pairs, index_fused, report_problems
from samfuse.io import Pair
from samfuse.machine import PeakMemory

if TYPE_CHECKING:
    from samfuse.pipeline import FusionPipeline

Callback = Callable[[str], None]


@dataclass
class FolderRun:
    """One folder fused and evaluated: the fusion counts, how long fusing took (wall seconds; peak and increase
    of RSS in bytes when measured), the evaluated images and whether anything failed."""

    folder: Path
    fused: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    peak_bytes: int = 0
    increase_bytes: int = 0
    results: list[ImageResult] = field(default_factory=list)
    problems: bool = False


def fuse_and_evaluate(
    pipeline: FusionPipeline | None,
    pairs: Sequence[Pair],
    folder: Path,
    convention: str,
    metrics: list[str],
    *,
    label: str,
    note: str | None = None,
    fuse_desc: str,
    eval_desc: str,
    jobs: int = 1,
    pool: ProcessPoolExecutor | None = None,
    progress: bool = True,
    measure_memory: bool = False,
    on_fused: Callable[[FolderRun], None] | None = None,
    on_error: Callback = print,
    on_warning: Callback = print,
    on_note: Callback = print,
) -> FolderRun:
    """Fuse ``pairs`` into ``folder`` (only the missing ones; ``pipeline`` None: nothing to fuse, every pair
    counts as skipped), then evaluate the folder (module docstring).

    ``label`` names the folder in problem lines, ``note`` (default ``label``) in the fusion summary line.
    ``measure_memory`` samples the peak RSS while fusing (:class:`samfuse.machine.PeakMemory`). ``on_fused`` is
    called with the counts and timing once fusing is done, before the evaluation. ``problems`` is True when a
    pair failed to fuse or an image failed to evaluate.
    """
    run = FolderRun(folder)
    report = BatchReport("fused")
    if pipeline is not None:
        start = time.perf_counter()
        with PeakMemory() if measure_memory else nullcontext() as mem:
            fuse_into(pipeline, pairs, folder, report, overwrite=False, desc=fuse_desc)
        run.seconds = time.perf_counter() - start
        if mem is not None:
            run.peak_bytes, run.increase_bytes = mem.peak, mem.increase
    else:
        for p in pairs:
            report.skipped(p.stem)
    run.fused, run.skipped = len(report.done_items), len(report.skipped_items)
    run.failed = len(report.failed_items)
    run.problems = bool(report.failed_items)
    if on_fused is not None:
        on_fused(run)
    on_note(f"{label if note is None else note}: {report.summary()}")
    bad = {name for name, _ in report.failed_items}
    todo = [p for p in pairs if p.stem not in bad]
    run.results = evaluate_pairs(
        todo,
        index_fused(folder, on_warning),
        convention,
        metrics,
        jobs=jobs,
        fused_dir=folder,
        desc=eval_desc,
        progress=progress,
        pool=pool,
    )
    run.problems |= report_problems(run.results, label, on_error, on_warning)
    return run
