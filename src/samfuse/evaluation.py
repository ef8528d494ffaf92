"""Batch evaluation of fused images: per-pair metrics, a worker pool, the summary table and the CSV.

One implementation for ``samfuse eval``, ``samfuse bench`` and the robustness checks. Per-image problems never
raise: an image that cannot be evaluated (unreadable or missing fused image, sizes that differ, a metric that
raised) carries ``errors``; a metric undefined on an image (NaN/infinite, or an image smaller than the metric's
window) is NaN with a reason in ``undefined``.
"""

from __future__ import annotations

import csv
import io
import math
import multiprocessing
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from samfuse.io import InputError, Pair, atomic_write
from samfuse.io.pairing import index_by_stem, scan_images
from samfuse.metrics import CONVENTIONS, MetricShapeError, MetricSizeError, get_convention
from samfuse.metrics._malloc import release_free_memory, tune_malloc
from samfuse.metrics.conventions import read_colour

#: Above this many samples (about 8 megapixels of one channel) memory is handed back between metrics.
LARGE_IMAGE = 8_000_000


@dataclass
class ImageResult:
    """The metrics of one image (NaN where a metric is undefined), why each undefined one is, and the errors that
    keep the image from being evaluated at all."""

    stem: str
    values: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    undefined: list[str] = field(default_factory=list)

    @property
    def evaluated(self) -> bool:
        return not self.errors and bool(self.values)


def _size(img: np.ndarray) -> str:
    return f"{img.shape[1]}x{img.shape[0]}"


def evaluate_pair(
    stem: str,
    ir: Path,
    vi: Path,
    fused: Path | None,
    convention: str,
    metrics: list[str],
    fused_dir: Path | None = None,
) -> ImageResult:
    """Read one triple with the convention's reader and compute ``metrics``; never raises for bad input."""
    res = ImageResult(stem)
    if fused is None:
        where = f" in {fused_dir}" if fused_dir is not None else ""
        res.errors.append(f"no fused image {stem}.*{where}")
        return res
    conv = CONVENTIONS[convention]
    try:
        a, b, f = conv.read(ir), conv.read(vi), conv.read(fused)
    except InputError as err:
        res.errors.append(str(err))
        return res
    if a.shape[:2] != b.shape[:2]:
        res.errors.append(f"IR is {_size(a)} but visible is {_size(b)} ({ir.name}, {vi.name})")
        return res
    if f.shape[:2] != a.shape[:2]:
        res.errors.append(f"fused image {fused} is {_size(f)} but the sources are {_size(a)}")
        return res
    large = f.size > LARGE_IMAGE
    colour: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    for name in metrics:
        if large:
            release_free_memory()  # the next metric starts from what is in use, not from the last one's peak
        try:
            args = (a, b, f)
            if conv.metrics[name].colour:  # colour metrics read the stored colour images (once per pair)
                colour = colour or (read_colour(ir), read_colour(vi), read_colour(fused))
                args = colour
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a 0/0 is reported below, per metric
                value = conv.compute(name, *args)
        except MetricSizeError as err:
            value = math.nan
            res.undefined.append(f"{name} (image too small: {str(err).removeprefix(name + ' ')})")
        except MetricShapeError as err:
            res.errors.append(str(err))
            continue
        except Exception as err:  # an unexpected failure of one metric: one line, the others still computed
            res.errors.append(f"{name} failed: {type(err).__name__}: {err}")
            continue
        else:
            if math.isnan(value):
                res.undefined.append(f"{name} (NaN: undefined on this image, e.g. a constant image)")
            elif math.isinf(value):
                res.undefined.append(f"{name} ({value}: e.g. a fused image equal to its sources)")
                value = math.nan
        res.values[name] = value
    return res


def _evaluate_task(args: tuple) -> ImageResult:
    return evaluate_pair(*args)


def _init_worker() -> None:
    """One thread per worker process (the processes already fill the cores); large temporaries on the heap."""
    import cv2

    cv2.setNumThreads(1)
    tune_malloc()


def index_fused(folder: Path, on_warning: Callable[[str], None] | None = None) -> dict[str, Path]:
    """Fused images by stem; a second file with one stem, or a folder named like an image, is one warning
    (passed to ``on_warning``). :class:`InputError` if ``folder`` is not a folder."""
    scan = scan_images(folder)
    index, _, notes = index_by_stem(scan.files)
    for line in scan.notes + notes:
        if on_warning is not None:
            on_warning(line)
    return index


def evaluation_pool(jobs: int) -> ProcessPoolExecutor:
    """A pool of ``jobs`` evaluation worker processes, started with ``spawn`` (use it as a context manager)."""
    ctx = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init_worker)


def evaluate_pairs(
    pairs: Sequence[Pair],
    fused: Mapping[str, Path],
    convention: str,
    metrics: list[str],
    *,
    jobs: int = 1,
    fused_dir: Path | None = None,
    desc: str | None = None,
    progress: bool = True,
    pool: ProcessPoolExecutor | None = None,
) -> list[ImageResult]:
    """Evaluate every pair against ``fused[stem]`` (a missing stem is an error of that image), in input order.

    ``jobs > 1`` evaluates in that many worker processes started with ``spawn`` (a forked child inherits
    OpenCV's/OpenMP's thread pools without their threads and can hang in its first parallel call; this process
    may have fused with torch or filtered with cv2). ``pool``: an open :func:`evaluation_pool` to use instead
    (one pool for many calls saves starting the workers each time). Never raises for bad input: see
    :func:`evaluate_pair`.
    """
    tasks = [(p.stem, p.ir, p.vi, fused.get(p.stem), convention, metrics, fused_dir) for p in pairs]
    results: list[ImageResult] = []
    bar = tqdm(
        total=len(tasks), unit="image", desc=desc or f"eval {convention}", dynamic_ncols=True, disable=not progress
    )
    try:
        if pool is not None and len(tasks) > 1:
            for res in pool.map(_evaluate_task, tasks, chunksize=max(1, len(tasks) // (8 * max(jobs, 2)))):
                results.append(res)
                bar.update()
        elif jobs > 1 and len(tasks) > 1:
            with evaluation_pool(min(jobs, len(tasks))) as own:
                for res in own.map(_evaluate_task, tasks, chunksize=max(1, len(tasks) // (8 * jobs))):
                    results.append(res)
                    bar.update()
        else:
            for t in tasks:
                results.append(_evaluate_task(t))
                bar.update()
    finally:
        bar.close()
    return results


def report_problems(
    results: Sequence[ImageResult], label: str, on_error: Callable[[str], None], on_warning: Callable[[str], None]
) -> bool:
    """One ``on_error`` line per image that could not be evaluated and one ``on_warning`` line per image with
    undefined metrics, each named ``<label>/<stem>``; True if any image failed."""
    failed = False
    for r in results:
        if r.errors:
            failed = True
            on_error(f"{label}/{r.stem}: {'; '.join(r.errors)}")
        elif r.undefined:
            on_warning(f"{label}/{r.stem}: undefined, left out of the mean: {'; '.join(r.undefined)}")
    return failed


def resolve_metrics(convention: str, metrics: str | Sequence[str] | None) -> list[str]:
    """Metric names from ``None`` (the convention's default set), ``"all"``, a comma-separated string or a list;
    :class:`ValueError` naming an unknown metric."""
    conv = get_convention(convention)
    if metrics is None:
        return conv.resolve(None)
    if isinstance(metrics, str):
        if metrics.strip().lower() == "all":
            return list(conv.metrics)
        metrics = [m for m in metrics.split(",") if m.strip()]
    return conv.resolve(list(metrics))


def metric_stats(results: Sequence[ImageResult], metric: str) -> tuple[float, float, int]:
    """Mean, standard deviation (population, ddof = 0) and count of ``metric`` over the images where it is
    defined (finite); ``(nan, nan, 0)`` when it is defined on none."""
    vals = np.array([r.values[metric] for r in results if metric in r.values], dtype=np.float64)
    vals = vals[np.isfinite(vals)]
    if not vals.size:
        return math.nan, math.nan, 0
    return float(vals.mean()), float(vals.std()), int(vals.size)


def summary_table(results: list[ImageResult], metrics: list[str]) -> str:
    """Markdown table: metric, mean, standard deviation (population, ddof = 0), number of images."""
    lines = ["| metric | mean | std | n |", "|---|---|---|---|"]
    for name in metrics:
        mean, std, n = metric_stats(results, name)
        if n:
            lines.append(f"| {name} | {mean:.4f} | {std:.4f} | {n} |")
        else:
            lines.append(f"| {name} | – | – | 0 |")
    return "\n".join(lines)


def metrics_table(convention: str) -> str:
    """Markdown table of a convention's metrics: name, in the default set, better, smallest side, definition."""
    conv = CONVENTIONS[convention]
    lines = [
        f"| {conv.name} metric | default | better | min. side | definition |",
        "|---|---|---|---|---|",
    ]
    for m in conv.metrics.values():
        default = "yes" if m.name in conv.default else ""
        better = "higher" if m.higher_is_better else "lower"
        lines.append(f"| {m.name} | {default} | {better} | {m.min_side} | {m.doc} |")
    return "\n".join(lines)


def write_csv(path: Path, results: list[ImageResult], metrics: list[str]) -> None:
    """Wide CSV ``image,<metric>...``, written atomically; values at full precision, empty where a metric failed."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["image", *metrics])
    for r in results:
        w.writerow([r.stem, *("" if math.isnan(r.values[m]) else repr(r.values[m]) for m in metrics)])
    data = buf.getvalue().encode()
    atomic_write(path, lambda fh: fh.write(data))


def read_csv(path: Path) -> tuple[list[str], list[ImageResult]]:
    """The metric columns and rows of a CSV written by :func:`write_csv` (an empty cell reads as NaN, listed in
    the row's ``undefined``); :class:`InputError`, one line, for a file that is not one."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read it ({err.__class__.__name__}: {err})") from None
    if not rows or not rows[0] or rows[0][0] != "image":
        raise InputError(f"{path}: not a samfuse eval CSV (the first column must be image)")
    metrics = rows[0][1:]
    results: list[ImageResult] = []
    seen: set[str] = set()
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(rows[0]):
            raise InputError(f"{path}: line {line} has {len(row)} values, the header {len(rows[0])}")
        stem = row[0]
        if stem in seen:
            raise InputError(f"{path}: line {line}: image {stem} is in this file twice")
        seen.add(stem)
        res = ImageResult(stem)
        for name, text in zip(metrics, row[1:], strict=True):
            try:
                res.values[name] = float(text) if text else math.nan
            except ValueError:
                raise InputError(f"{path}: line {line}: {name} {text!r} is not a number") from None
            if not text:
                res.undefined.append(f"{name} (empty in {path.name})")
        results.append(res)
    return metrics, results
