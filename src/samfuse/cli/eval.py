"""``samfuse eval``: metrics of fused images against their IR/visible sources, under a named convention.

Pairs IR and visible images by stem (as ``fuse`` does) and looks up ``<stem>.*`` in ``--fused``. Writes a wide
CSV (``image,<metric>...``, one row per image, full precision), prints a Markdown table of the mean and
standard deviation of each metric, and reports per-image problems as one line each, evaluating everything else:

* an image that cannot be evaluated (unreadable or missing fused image, sizes that differ, a metric that raised)
  is an ``error:`` line and counts as failed: it is in neither the CSV nor the mean table; the exit code is 1;
* a metric that is undefined on an image (NaN or infinite, e.g. CC of a constant image, PSNR of a fused image
  equal to its sources; or an image smaller than the metric's window) is one ``warning:`` line per image naming
  each such metric; the image counts as evaluated, the cell is empty and that metric's ``n`` leaves it out.

With ``--data NAME --method NAME`` it first fuses a named dataset with a registered method.
"""

from __future__ import annotations

import csv
import io
import math
import multiprocessing
import tempfile
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import click
import numpy as np
from tqdm import tqdm

from samfuse.cli.common import check_device, fail, warn, warn_pairing
from samfuse.cli.report import BatchReport
from samfuse.io import InputError, Pair, atomic_write, find_pairs
from samfuse.io.pairing import index_by_stem, scan_images
from samfuse.io.paths import check_output_dir, check_output_file
from samfuse.metrics import CONVENTIONS, MetricShapeError, MetricSizeError, get_convention
from samfuse.metrics._malloc import release_free_memory, tune_malloc

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
    for name in metrics:
        if large:
            release_free_memory()  # the next metric starts from what is in use, not from the last one's peak
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a 0/0 is reported below, per metric
                value = conv.compute(name, a, b, f)
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


def _index_fused(folder: Path) -> dict[str, Path]:
    """Fused images by stem; a second file with one stem, or a folder named like an image, is one warning."""
    scan = scan_images(folder)
    index, _, notes = index_by_stem(scan.files)
    for line in scan.notes + notes:
        warn(line)
    return index


def summary_table(results: list[ImageResult], metrics: list[str]) -> str:
    """Markdown table: metric, mean, standard deviation (population, ddof = 0), number of images."""
    lines = ["| metric | mean | std | n |", "|---|---|---|---|"]
    for name in metrics:
        vals = np.array([r.values[name] for r in results if name in r.values], dtype=np.float64)
        vals = vals[np.isfinite(vals)]
        if vals.size:
            lines.append(f"| {name} | {vals.mean():.4f} | {vals.std():.4f} | {vals.size} |")
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


def _fuse_dataset(pairs: list[Pair], method: str, weights: str | None, device: str, out: Path) -> BatchReport:
    """Fuse every pair into ``out/<stem>.png`` (existing files are kept), as ``samfuse fuse`` does."""
    from samfuse.cli.fuse import build_pipeline, fuse_into

    report = BatchReport("fused")
    fuse_into(build_pipeline(method, weights, device), pairs, out, report, overwrite=False, desc=f"fuse {method}")
    return report


@click.command("eval")
@click.option("--ir", type=click.Path(path_type=Path), help="IR (or MRI) folder or file.")
@click.option("--vi", type=click.Path(path_type=Path), help="Visible (PET/SPECT) folder or file.")
@click.option(
    "--fused",
    type=click.Path(path_type=Path),
    help="Fused images (<stem>.*), folder or file. With --data: where to write them (default: a temp folder).",
)
@click.option("--data", "data", default=None, help="Named dataset to fuse and evaluate (see `samfuse data`).")
@click.option("--method", default=None, help="With --data: the registered method to fuse with.")
@click.option("--weights", default=None, help="With --data: weights for the method.")
@click.option("--device", default="cpu", show_default=True, help="With --data: cpu, cuda or cuda:N.")
@click.option("--data-root", type=click.Path(path_type=Path), default=None, help="Datasets folder (with --data).")
@click.option(
    "--convention",
    type=click.Choice(sorted(CONVENTIONS)),
    default="cddfuse",
    show_default=True,
    help="Whose definitions: vifb (VIFB MATLAB, per RGB channel) or cddfuse (CDDFuse evaluator, grey).",
)
@click.option("--metrics", default=None, help="Comma-separated metric names, or 'all' (default: the profile's set).")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Write the per-image values to this CSV.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes.")
@click.option(
    "--list-metrics", is_flag=True, help="List the convention's metrics (name, direction, definition) and exit."
)
def eval_command(
    ir: Path | None,
    vi: Path | None,
    fused: Path | None,
    data: str | None,
    method: str | None,
    weights: str | None,
    device: str,
    data_root: Path | None,
    convention: str,
    metrics: str | None,
    out: Path | None,
    jobs: int,
    list_metrics: bool,
) -> None:
    """Evaluate fused images with reference-exact metrics (mean/std table, per-image CSV)."""
    conv = get_convention(convention)
    if list_metrics:
        click.echo(metrics_table(conv.name))
        return
    tune_malloc()
    try:
        if metrics is None:
            names = conv.resolve(None)
        elif metrics.strip().lower() == "all":
            names = list(conv.metrics)
        else:
            names = conv.resolve([m for m in metrics.split(",") if m.strip()])
    except ValueError as err:
        fail(f"--metrics: {err}")
    if out is not None:  # before any work: a bad --out is found now, not after every metric is computed
        try:
            check_output_file(out, {"--ir": ir, "--vi": vi, "--fused": fused if data is None else None})
        except InputError as err:
            fail(str(err))

    tmp: tempfile.TemporaryDirectory | None = None
    report = BatchReport("evaluated")
    if data is not None:
        if method is None:
            fail("--data needs --method (the registered method to fuse with)")
        if ir is not None or vi is not None:
            fail("give either --data or --ir/--vi, not both")
        from samfuse.data import get_dataset

        check_device(device)
        try:
            pairs = get_dataset(data, data_root).pairs
            folders = sorted({p.ir.parent for p in pairs} | {p.vi.parent for p in pairs})
            inputs = {f"--data {data}, {folder.name}": folder for folder in folders}
            if fused is not None:
                check_output_dir(fused, inputs, option="--fused")
            if out is not None:
                check_output_file(out, inputs)
        except InputError as err:
            fail(str(err))
        if fused is None:
            tmp = tempfile.TemporaryDirectory(prefix=f"samfuse-eval-{data}-")
            fused = Path(tmp.name)
        fuse_report = _fuse_dataset(pairs, method, weights, device, fused)
        failed = {name for name, _ in fuse_report.failed_items}
        report.failed_items.extend(fuse_report.failed_items)  # already printed, one line each
        pairs = [p for p in pairs if p.stem not in failed]
    else:
        if ir is None or vi is None or fused is None:
            fail("give --ir, --vi and --fused (or --data and --method)")
        try:
            pair_set = find_pairs(ir, vi)
        except InputError as err:
            fail(str(err))
        pairs = pair_set.pairs
        warn_pairing(pair_set, report)

    if fused.is_file():
        fused_index = {pairs[0].stem: fused} if len(pairs) == 1 else {fused.stem: fused}
    else:
        try:
            fused_index = _index_fused(fused)
        except InputError as err:
            fail(str(err))

    tasks = [(p.stem, p.ir, p.vi, fused_index.get(p.stem), conv.name, names, fused) for p in pairs]
    results: list[ImageResult] = []
    bar = tqdm(total=len(tasks), unit="image", desc=f"eval {conv.name}", dynamic_ncols=True)
    try:
        if jobs > 1 and len(tasks) > 1:
            # spawn, not fork: a forked child inherits OpenCV's/OpenMP's thread pools without their threads and
            # can hang in its first parallel call (this process may have fused with torch or filtered with cv2).
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(min(jobs, len(tasks)), mp_context=ctx, initializer=_init_worker) as pool:
                for res in pool.map(_evaluate_task, tasks, chunksize=max(1, len(tasks) // (8 * jobs))):
                    results.append(res)
                    bar.update()
        else:
            for t in tasks:
                results.append(_evaluate_task(t))
                bar.update()
    finally:
        bar.close()
        if tmp is not None:
            tmp.cleanup()

    undefined = 0
    for res in results:
        if res.errors:
            report.failed(res.stem, "; ".join(res.errors))
            continue
        report.done(res.stem)
        if res.undefined:
            undefined += 1
            warn(f"{res.stem}: undefined, left out of the mean: {'; '.join(res.undefined)}")
    evaluated = [r for r in results if r.evaluated]
    if out is not None:
        write_csv(out, evaluated, names)
    click.echo(f"\n{conv.name} convention, {len(evaluated)} image(s)\n")
    click.echo(summary_table(evaluated, names))
    note = f" ({undefined} with undefined metrics)" if undefined else ""
    click.echo(report.summary() + note, err=True)
    raise SystemExit(report.exit_code)
