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

import tempfile
from pathlib import Path

import click

from samfuse.batch import BatchReport, fuse_into
from samfuse.cli.common import WEIGHTS_HELP, check_device, fail, warn, warn_pairing
from samfuse.evaluation import (
    ImageResult,
    evaluate_pairs,
    index_fused,
    metrics_table,
    resolve_metrics,
    summary_table,
    write_csv,
)
from samfuse.io import InputError, Pair, find_pairs
from samfuse.io.paths import check_output_dir, check_output_file
from samfuse.metrics import CONVENTIONS, get_convention
from samfuse.metrics._malloc import tune_malloc


def _fuse_dataset(pairs: list[Pair], method: str, weights: str | None, device: str, out: Path) -> BatchReport:
    """Fuse every pair into ``out/<stem>.png`` (existing files are kept when ``out/provenance.json`` says the same
    method and weights made them; otherwise one line and exit 2), as ``samfuse fuse`` does."""
    from samfuse.batch import fusion_record
    from samfuse.cli.common import build_pipeline
    from samfuse.io.provenance import check_record

    pipeline = build_pipeline(method, weights, device)
    provider = pipeline.masks.provider if pipeline.masks is not None else None
    try:
        check_record(
            out,
            fusion_record(method, weights, masks=provider),
            has_outputs=any((out / f"{p.stem}.png").exists() for p in pairs),
            remedy="use another --fused folder or remove that one",
        )
    except InputError as err:
        fail(str(err))
    report = BatchReport("fused")
    fuse_into(pipeline, pairs, out, report, overwrite=False, desc=f"fuse {method}")
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
@click.option("--weights", default=None, help=WEIGHTS_HELP)
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
@click.option(
    "--temporal",
    is_flag=True,
    help="Sequences: temporal stability (TS, flicker) of --fused against --ir/--vi, read as videos, frame folders or "
    "frames/%05d.png; implied when one is a video file or a numbered sequence (--out: per-step CSV).",
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
    temporal: bool,
) -> None:
    """Evaluate fused images with reference-exact metrics (mean/std table, per-image CSV)."""
    conv = get_convention(convention)
    if list_metrics:
        click.echo(metrics_table(conv.name))
        return
    from samfuse.cli.video import eval_temporal, wants_temporal

    if temporal or (data is None and wants_temporal(ir, vi, fused)):
        if data is not None:
            fail("--temporal: give --ir, --vi and --fused (sequences), not --data")
        if metrics is not None:
            warn("--metrics: ignored, sequences are evaluated for temporal stability only")
        eval_temporal(ir, vi, fused, out)
    tune_malloc()
    try:
        names = resolve_metrics(conv.name, metrics)
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
            fused_index = index_fused(fused, warn)
        except InputError as err:
            fail(str(err))

    try:
        results: list[ImageResult] = evaluate_pairs(pairs, fused_index, conv.name, names, jobs=jobs, fused_dir=fused)
    finally:
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
