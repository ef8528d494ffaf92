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

Scale-out (docs/scale-out.md): ``--shard INDEX/COUNT`` (or the scheduler's environment, :mod:`samfuse.shard`)
evaluates one shard of the pairs and writes ``--out TABLE.csv`` as ``TABLE.part-INDEX-of-COUNT.csv``;
``--merge [PARTS]...`` puts the parts together into ``--out`` and prints the table one run would have printed.
"""

from __future__ import annotations

import glob
import tempfile
from pathlib import Path

import click

from samfuse.assembly import PipelineSpec
from samfuse.batch import BatchReport, fuse_into
from samfuse.cli.common import (
    WEIGHTS_HELP,
    build_pipeline,
    check_device,
    fail,
    get_shard,
    mask_options,
    mask_spec,
    method_params,
    params_option,
    shard_option,
    take_shard,
    warn,
    warn_pairing,
    warnings_as_lines,
)
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
from samfuse.shard import ShardError, check_stems, collect_parts, merge_parts, part_path


def _fuse_dataset(
    pairs: list[Pair], spec: PipelineSpec, out: Path, batch: list[Pair], inputs: dict[str, Path | None]
) -> BatchReport:
    """Fuse every pair into ``out/<stem>.png`` with the pipeline ``spec`` describes (existing files are kept when
    ``out/provenance.json`` says the same spec made them; otherwise one line and exit 2), as ``samfuse fuse`` does.
    ``batch``: every pair of the dataset (``pairs`` is a shard of it), whose outputs in ``out`` count as existing."""
    from samfuse.assembly import pipeline_record
    from samfuse.io.provenance import check_record

    pipeline = build_pipeline(spec, inputs=inputs)
    try:
        check_record(
            out,
            pipeline_record(pipeline),
            has_outputs=any((out / f"{p.stem}.png").exists() for p in batch),
            remedy="use another --fused folder or remove that one",
        )
    except InputError as err:
        fail(str(err))
    report = BatchReport("fused")
    with warnings_as_lines():
        fuse_into(pipeline, pairs, out, report, overwrite=False, desc=f"fuse {spec.method}")
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
@click.option(
    "--backend",
    type=click.Choice(["auto", "torch", "onnx"]),
    default="auto",
    show_default=True,
    help="With --data: auto (the method's preferred backend: onnxruntime for sage-rt, else PyTorch), torch, or "
    "onnx: onnxruntime (--weights FILE.onnx from `samfuse "
    "export`, or a checkpoint exported once into the cache folder), as `samfuse fuse --backend` does.",
)
@params_option("With --data: method option (as `samfuse fuse --param`).")
@click.option("--seed", type=int, default=None, help="With --data: sampling seed (as `samfuse fuse --seed`).")
@mask_options()
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
@shard_option("pairs")
@click.option(
    "--merge",
    is_flag=True,
    help="Merge the parts of sharded runs (PARTS: part files or folders; none: the TABLE.part-*-of-*.csv beside "
    "--out TABLE.csv) into --out, and print the table one run would have printed. With --ir/--vi or --data: also "
    "check that every pair is in its part.",
)
@click.argument("parts", nargs=-1, type=click.Path(path_type=Path))
def eval_command(
    ir: Path | None,
    vi: Path | None,
    fused: Path | None,
    data: str | None,
    method: str | None,
    weights: str | None,
    device: str,
    backend: str,
    params: tuple[str, ...],
    seed: int | None,
    mask_provider: str | None,
    mask_cache: Path | None,
    mask_checkpoint: Path | None,
    mask_params: tuple[str, ...],
    data_root: Path | None,
    convention: str,
    metrics: str | None,
    out: Path | None,
    jobs: int,
    list_metrics: bool,
    temporal: bool,
    shard: str | None,
    merge: bool,
    parts: tuple[Path, ...],
) -> None:
    """Evaluate fused images with reference-exact metrics (mean/std table, per-image CSV).

    \b
    Examples:
      samfuse eval --ir MSRS/ir --vi MSRS/vi --fused fused/ --out table.csv
      samfuse eval --data msrs --method sage --metrics EN,SD,VIF
      samfuse eval --data msrs --method sage --backend onnx --weights sage.onnx
    \b
    Sharded (docs/scale-out.md):
      samfuse eval --ir IR --vi VI --fused F --out t.csv --shard 1/4   # writes t.part-1-of-4.csv
      samfuse eval --merge --out t.csv                                  # t.part-*-of-*.csv -> t.csv
    """
    conv = get_convention(convention)
    if list_metrics:
        click.echo(metrics_table(conv.name))
        return
    if merge:
        not_with = {"--fused": fused, "--method": method, "--weights": weights, "--metrics": metrics,
                    "--param": params or None, "--seed": seed, "--masks": mask_provider,
                    "--mask-cache": mask_cache, "--mask-checkpoint": mask_checkpoint,
                    "--mask-param": mask_params or None}  # fmt: skip
        if backend not in ("auto", "torch"):
            not_with["--backend"] = backend
        _merge(
            parts,
            out,
            conv.name,
            ir,
            vi,
            data,
            data_root,
            {**not_with, "--shard": shard, "--temporal": temporal or None},
        )
    if parts:
        fail(f"{parts[0]}: files to merge are only read with --merge")
    from samfuse.cli.video import eval_temporal, wants_temporal

    shard_ = get_shard(shard)
    if temporal or (data is None and wants_temporal(ir, vi, fused)):
        if shard_ is not None:
            fail(f"{shard_.source}: sequences are evaluated whole, not sharded (give --shard 0/1 in every task)")
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
    if out is not None and shard_ is not None:
        out = part_path(out, shard_)  # each shard writes its own part; `--merge` puts them together
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
            batch = get_dataset(data, data_root).pairs
            folders = sorted({p.ir.parent for p in batch} | {p.vi.parent for p in batch})
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
        pairs = take_shard(shard_, batch, lambda p: p.stem, "pairs")
        spec = PipelineSpec(
            method,
            weights,
            method_params(method, params),
            mask_spec(mask_provider, mask_cache, mask_checkpoint, mask_params),
            device=device,
            backend=backend,  # type: ignore[arg-type]
            seed=seed,
        )
        fuse_report = _fuse_dataset(pairs, spec, fused, batch, dict(inputs))
        failed = {name for name, _ in fuse_report.failed_items}
        report.failed_items.extend(fuse_report.failed_items)  # already printed, one line each
        pairs = [p for p in pairs if p.stem not in failed]
    else:
        if ir is None or vi is None or fused is None:
            fail("give --ir, --vi and --fused (or --data and --method)")
        if backend not in ("auto", "torch"):
            fail(f"--backend {backend}: only with --data and --method (it runs the method; --fused images are read)")
        fusing = {"--method": method, "--weights": weights, "--param": params or None, "--seed": seed,
                  "--masks": mask_provider, "--mask-cache": mask_cache, "--mask-checkpoint": mask_checkpoint,
                  "--mask-param": mask_params or None}  # fmt: skip
        given = [name for name, value in fusing.items() if value is not None]
        if given:
            warn(f"{', '.join(given)}: ignored, only with --data (they describe how to fuse it)")
        try:
            pair_set = find_pairs(ir, vi)
        except InputError as err:
            fail(str(err))
        pairs = take_shard(shard_, pair_set.pairs, lambda p: p.stem, "pairs")
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
    of_shard = f" (shard {shard_.label})" if shard_ is not None else ""
    click.echo(f"\n{conv.name} convention, {len(evaluated)} image(s){of_shard}\n")
    click.echo(summary_table(evaluated, names))
    note = f" ({undefined} with undefined metrics)" if undefined else ""
    click.echo(report.summary() + note, err=True)
    raise SystemExit(report.exit_code)


def _merge(
    parts: tuple[Path, ...],
    out: Path | None,
    convention: str,
    ir: Path | None,
    vi: Path | None,
    data: str | None,
    data_root: Path | None,
    not_with: dict[str, object],
) -> None:
    """``eval --merge``: the parts of a sharded evaluation into ``out``, and the table one run would have printed."""
    given = [name for name, value in not_with.items() if value is not None]
    if given:
        fail(f"{', '.join(given)}: not with --merge (it reads the values in the parts)")
    if not parts:
        if out is None:
            fail("--merge: name the parts (files or folders), or give --out TABLE.csv to merge the parts beside it")
        pattern = f"{out.stem}.part-*-of-*{out.suffix}"
        found = tuple(sorted(p for p in out.parent.glob(glob.escape(out.stem) + ".part-*-of-*" + out.suffix)))
        if not found:
            fail(f"{out}: --merge found no parts beside it ({pattern})")
        parts = found
    try:
        table = merge_parts(collect_parts(parts))
    except ShardError as err:
        fail(str(err))
    try:
        resolve_metrics(convention, table.metrics)
    except ValueError as err:
        fail(f"{table.parts[0]}: {err}")
    if data is not None or ir is not None or vi is not None:
        what, stems = _batch_stems(ir, vi, data, data_root)
        try:
            check_stems(table, stems, what)
        except ShardError as err:
            fail(str(err))
    if out is not None:
        try:
            check_output_file(out, {"--ir": ir, "--vi": vi})
        except InputError as err:
            fail(str(err))
        for part in table.parts:
            if out.resolve() == part.resolve():
                fail(f"{out}: --out is one of the parts; choose another file")
        write_csv(out, table.results, table.metrics)
    undefined = sum(1 for r in table.results if r.undefined)
    click.echo(f"\n{convention} convention, {len(table.results)} image(s)\n")
    click.echo(summary_table(table.results, table.metrics))
    note = f" ({undefined} with undefined metrics)" if undefined else ""
    click.echo(f"{len(table.results)} evaluated, merged from {len(table.parts)} parts{note}", err=True)
    raise SystemExit(0)


def _batch_stems(ir: Path | None, vi: Path | None, data: str | None, data_root: Path | None) -> tuple[str, list[str]]:
    """The stems of the whole batch the shards split, and how to name it in a message."""
    try:
        if data is not None:
            if ir is not None or vi is not None:
                fail("give either --data or --ir/--vi, not both")
            from samfuse.data import get_dataset

            return f"--data {data}", [p.stem for p in get_dataset(data, data_root).pairs]
        if ir is None or vi is None:
            fail("--merge: give both --ir and --vi (or --data) to check the parts against the pairs")
        return "--ir/--vi", [p.stem for p in find_pairs(ir, vi).pairs]
    except InputError as err:
        fail(str(err))
