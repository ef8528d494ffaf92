"""``samfuse bench``: fuse, time and evaluate every method on every named dataset, and write one report.

Only parses options and calls :mod:`samfuse.bench`; see that package and docs/bench.md.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from samfuse.assembly import PipelineSpec
from samfuse.cli.common import (
    check_device,
    command_line,
    error,
    fail,
    mask_options,
    mask_spec,
    method_params,
    note,
    params_option,
    warn,
    warnings_as_lines,
)
from samfuse.io import InputError
from samfuse.io.paths import check_output_dir
from samfuse.metrics import CONVENTIONS

LABEL_SETS = ["infrared", "visible", "fusion"]


def _bench_params(specs: list, params: tuple[str, ...]) -> dict[str, str]:
    """``--param`` items as text options; each must be an option of at least one method of --methods."""
    from samfuse.models import list_methods, method_options

    options = method_params("", params)
    methods = [s.method for s in specs if s.method in list_methods()]
    for key in options:
        if not any(key in method_options(m) for m in methods):
            fail(f"--param {key}: no method of --methods has such an option ({', '.join(methods) or 'none'})")
    return options


@click.command("bench")
@click.option("--methods", default="", help="Comma-separated registered methods; METHOD@WEIGHTS selects weights.")
@click.option("--data", "data", required=True, help="Comma-separated named datasets (see `samfuse data`).")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Report folder (fused images kept there).")
@click.option(
    "--convention", type=click.Choice(sorted(CONVENTIONS)), default="cddfuse", show_default=True, help="Metrics."
)
@click.option("--metrics", default=None, help="Comma-separated metric names, or 'all' (default: the profile's set).")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True, help="Evaluation processes.")
@click.option("--fused", "fused", multiple=True, metavar="NAME=DIR", help="Outside fused images joining as NAME.")
@click.option(
    "--detections", multiple=True, metavar="NAME=DIR", help="YOLO predictions (class cx cy w h conf) on MSRS, per name."
)
@click.option("--data-root", type=click.Path(path_type=Path), default=None, help="Datasets folder.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@params_option("Method option, given to each method of --methods that takes it (as `samfuse fuse --param`).")
@click.option("--seed", type=int, default=None, help="Sampling seed of the methods that sample (as `samfuse fuse`).")
@mask_options()
@click.option(
    "--salience-labels", type=click.Choice(LABEL_SETS), default="infrared", show_default=True, help="Salience boxes."
)
@click.option(
    "--detection-labels", type=click.Choice(LABEL_SETS), default="fusion", show_default=True, help="AP ground truth."
)
@click.option("--figure-pairs", type=click.IntRange(min=1), default=3, show_default=True, help="Rows per figure.")
def bench_command(
    methods: str,
    data: str,
    out: Path,
    convention: str,
    metrics: str | None,
    jobs: int,
    fused: tuple[str, ...],
    detections: tuple[str, ...],
    data_root: Path | None,
    device: str,
    params: tuple[str, ...],
    seed: int | None,
    mask_provider: str | None,
    mask_cache: Path | None,
    mask_checkpoint: Path | None,
    mask_params: tuple[str, ...],
    salience_labels: str,
    detection_labels: str,
    figure_pairs: int,
) -> None:
    """Compare methods side by side: tables (mean ± std, best, rank), figures, speed, salience, detection AP.

    \b
    Examples:
      samfuse bench --methods average,max,laplacian --data msrs,tno --out report/ --jobs 2
      samfuse bench --methods sage,sage-student@sage_student_official.pt --data msrs --out report/
    """
    from samfuse.bench import BenchConfig, MethodSpec, describe_machine, parse_methods, parse_named, run_bench
    from samfuse.bench.report import write_report
    from samfuse.data import get_dataset
    from samfuse.evaluation import resolve_metrics
    from samfuse.metrics._malloc import tune_malloc

    start = time.perf_counter()
    check_device(device)
    tune_malloc()
    try:
        specs = parse_methods(methods)
        outside = parse_named(fused, "--fused")
        dets = parse_named(detections, "--detections")
        names = resolve_metrics(convention, metrics)
    except ValueError as err:
        fail(str(err))
    specs += [MethodSpec(name, folder=folder) for name, folder in outside.items()]
    if not specs:
        fail("give --methods and/or --fused NAME=DIR")
    if len({s.name for s in specs}) != len(specs):
        fail("a --fused NAME is also in --methods; give it another name")
    datasets = [d.strip() for d in data.split(",") if d.strip()]
    inputs: dict[str, Path] = {}
    try:
        for ds in datasets:
            for p in get_dataset(ds, data_root).pairs:
                inputs[f"--data {ds}, {p.ir.parent.name}"] = p.ir.parent
                inputs[f"--data {ds}, {p.vi.parent.name}"] = p.vi.parent
        inputs.update({f"--fused {k}": v for k, v in outside.items()})
        inputs.update({f"--detections {k}": v for k, v in dets.items()})
        check_output_dir(out, inputs)
    except InputError as err:
        fail(str(err))
    cfg = BenchConfig(
        methods=specs,
        datasets=datasets,
        out=out,
        convention=convention,
        metrics=names,
        jobs=jobs,
        data_root=data_root,
        spec=PipelineSpec(
            options=_bench_params(specs, params),
            masks=mask_spec(mask_provider, mask_cache, mask_checkpoint, mask_params),
            device=device,
            seed=seed,
        ),
        detections=dets,
        salience_labels=salience_labels,
        detection_labels=detection_labels,
        figure_pairs=figure_pairs,
    )

    machine = describe_machine()
    try:
        with warnings_as_lines():
            result = run_bench(cfg, on_error=error, on_warning=warn, on_note=note)
    except InputError as err:
        fail(str(err))
    except KeyboardInterrupt:
        click.echo("interrupted: fused images so far are complete; run again to continue", err=True)
        raise SystemExit(130) from None
    command = command_line(click.get_current_context())
    report = write_report(result, command, machine, time.perf_counter() - start)
    click.echo(f"report: {report}")
    raise SystemExit(result.exit_code)
