"""``samfuse robustness``: fuse with perturbed masks (erode / dilate / drop), evaluate, and write a table and a plot.

Only parses options and calls :mod:`samfuse.robustness`; see that module and docs/sgdfuse.md (Robustness).
"""

from __future__ import annotations

from pathlib import Path

import click

from samfuse.assembly import PipelineSpec
from samfuse.cli.common import (
    WEIGHTS_HELP,
    build_pipeline,
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
    warn_pairing,
    warnings_as_lines,
)
from samfuse.cli.report import BatchReport
from samfuse.io import InputError, Pair, find_pairs
from samfuse.io.paths import check_output_dir
from samfuse.metrics import CONVENTIONS


def _pairs(data: str | None, data_root: Path | None, ir: Path | None, vi: Path | None) -> tuple[list[Pair], dict]:
    """The pairs of ``--data`` or of ``--ir``/``--vi`` and the input folders (for the output check)."""
    if (data is None) == (ir is None and vi is None):
        fail("give either --data NAME or --ir DIR --vi DIR")
    try:
        if data is not None:
            from samfuse.data import get_dataset

            pairs = get_dataset(data, data_root).pairs
            folders = sorted({p.ir.parent for p in pairs} | {p.vi.parent for p in pairs})
            return pairs, {f"--data {data}, {f.name}": f for f in folders}
        if ir is None or vi is None:
            fail("give both --ir and --vi")
        pair_set = find_pairs(ir, vi)
    except InputError as err:
        fail(str(err))
    warn_pairing(pair_set, BatchReport())
    return pair_set.pairs, {"--ir": ir, "--vi": vi}


@click.command("robustness")
@click.argument("more_specs", nargs=-1, metavar="[SPEC]...")
@click.option("--method", required=True, help="A registered method that needs masks (e.g. sgdfuse, sage-teacher).")
@click.option("--weights", default=None, help=WEIGHTS_HELP)
@params_option("Method option (as `samfuse fuse --param`).")
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Sampling steps (same as --param steps=N).")
@click.option("--data", default=None, help="Named dataset (see `samfuse data`); or give --ir and --vi.")
@click.option("--data-root", type=click.Path(path_type=Path), default=None, help="Datasets folder (with --data).")
@click.option("--ir", type=click.Path(path_type=Path), default=None, help="IR folder or file.")
@click.option("--vi", type=click.Path(path_type=Path), default=None, help="Visible folder or file.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Study folder (fused images kept there).")
@click.option(
    "--perturb",
    "perturb",
    multiple=True,
    metavar="SPEC",
    help="erode:K,..., dilate:K,... (odd k ≥ 3) or drop:P,... (0 < p ≤ 1); repeat it, or list more specs after "
    "it (`--perturb erode:3,5,7 dilate:3,5,7`). Default: erode:3,5,7 dilate:3,5,7. `none` is always included.",
)
@click.option(
    "--seed",
    type=int,
    default=None,
    help="Seed of the drop perturbation (default 0), and of the sampler for methods that sample (default: theirs).",
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N pairs by sorted stem.")
@click.option(
    "--convention", type=click.Choice(sorted(CONVENTIONS)), default="cddfuse", show_default=True, help="Metrics."
)
@click.option("--metrics", default=None, help="Comma-separated metric names, or 'all' (default: the profile's set).")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True, help="Evaluation processes.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@mask_options()
def robustness_command(
    more_specs: tuple[str, ...],
    method: str,
    weights: str | None,
    params: tuple[str, ...],
    steps: int | None,
    data: str | None,
    data_root: Path | None,
    ir: Path | None,
    vi: Path | None,
    out: Path,
    perturb: tuple[str, ...],
    seed: int | None,
    limit: int | None,
    convention: str,
    metrics: str | None,
    jobs: int,
    device: str,
    mask_provider: str | None,
    mask_cache: Path | None,
    mask_checkpoint: Path | None,
    mask_params: tuple[str, ...],
) -> None:
    """Fuse with perturbed masks (eroded, dilated, dropped) and compare the metrics with the unperturbed masks.

    \b
    Examples:
      samfuse robustness --method sage-teacher --data msrs --limit 10 --perturb erode:3,7,11 --out study/
      samfuse robustness --method sgdfuse --data msrs --perturb erode:3,5,7 dilate:3,5,7 --out study-sg/
    """
    from samfuse.evaluation import resolve_metrics
    from samfuse.machine import describe_machine
    from samfuse.metrics._malloc import tune_malloc
    from samfuse.models import samples
    from samfuse.robustness import parse_perturbations, run_robustness, settings_of, write_outputs

    check_device(device)
    tune_malloc()
    try:
        conditions = parse_perturbations([*perturb, *more_specs])
    except ValueError as err:
        fail(str(err))
    try:
        resolve_metrics(convention, metrics)
    except ValueError as err:
        fail(f"--metrics: {err}")
    pairs, inputs = _pairs(data, data_root, ir, vi)
    total = len(pairs)
    if limit is not None:
        pairs = sorted(pairs, key=lambda p: p.stem)[:limit]
    try:
        check_output_dir(out, inputs)
    except InputError as err:
        fail(str(err))
    options = method_params(method, params, steps)
    if "seed" in options:
        fail("--param seed: give the seed with --seed")
    spec = PipelineSpec(
        method,
        weights,
        options,
        mask_spec(mask_provider, mask_cache, mask_checkpoint, mask_params),
        device=device,
        seed=seed if seed is not None and samples(method) else None,  # else: the drop perturbation's seed only
    )
    pipeline = build_pipeline(spec, inputs=inputs)
    if pipeline.masks is None:
        fail(f"--method {method}: uses no masks, so there is nothing to perturb (e.g. use sgdfuse or sage-teacher)")
    options = {**pipeline.spec.options, **({"seed": pipeline.spec.seed} if pipeline.spec.seed is not None else {})}
    drop_seed = 0 if seed is None else seed
    settings = settings_of(method, weights, options, pipeline.masks.provider, drop_seed)

    machine = describe_machine()
    try:
        with warnings_as_lines():
            result = run_robustness(
                pipeline,
                pairs,
                conditions,
                out,
                convention=convention,
                metrics=metrics,
                jobs=jobs,
                seed=drop_seed,
                settings=settings,
                on_error=error,
                on_warning=warn,
                on_note=note,
            )
    except InputError as err:
        fail(str(err))
    except KeyboardInterrupt:
        click.echo("interrupted: fused images so far are complete; run again to continue", err=True)
        raise SystemExit(130) from None

    source = data if data is not None else f"{ir} + {vi}"
    chosen = f"the first {len(pairs)} by sorted stem (`--limit {limit}`)" if limit is not None else "all"
    provider = pipeline.masks.provider
    described = ", ".join([provider.model] * bool(provider.model) + [f"{k}={v}" for k, v in provider.params().items()])
    opts = ", ".join(f"{k}={v}" for k, v in options.items())
    header = [
        f"command: `{command_line(click.get_current_context())}`",
        f"method: `{method}`" + (f", weights `{weights}`" if weights else "") + (f", options {opts}" if opts else ""),
        f"data: {source}, {len(pairs)} of {total} pairs: {chosen}",
        f"masks: `{provider.name}` provider ({described}), every mask of each image perturbed after the mask "
        "cache and before the method's product is built; erode/dilate: binary erosion/dilation by a k×k square "
        f"(kornia); drop: each mask removed with probability p (seed {drop_seed}, drawn per image)",
        f"machine: {machine}",
    ]
    paths = write_outputs(result, out, header=header, title=f"{method} on {source}")
    for p in paths:
        click.echo(f"wrote {p}")
    raise SystemExit(result.exit_code)
