"""``samfuse demo``: fuse the sample pairs shipped with samfuse and write the comparison figure."""

from __future__ import annotations

from pathlib import Path

import click

from samfuse.assembly import PipelineSpec
from samfuse.batch import DEFAULT_METHOD
from samfuse.cli.common import (
    WEIGHTS_HELP,
    check_device,
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


@click.command("demo")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output folder (fused/ and demo.jpg).")
@click.option("--method", default=DEFAULT_METHOD, show_default=True, help="Registered method (see `samfuse methods`).")
@click.option("--weights", default=None, help=WEIGHTS_HELP)
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@params_option()
@click.option("--seed", type=int, default=None, help="Sampling seed, for methods that sample (e.g. sgdfuse).")
@mask_options()
@click.option("--overwrite", is_flag=True, help="Fuse again, replacing fused images made by another method.")
def demo_command(
    out: Path,
    method: str,
    weights: str | None,
    device: str,
    params: tuple[str, ...],
    seed: int | None,
    mask_provider: str | None,
    mask_cache: Path | None,
    mask_checkpoint: Path | None,
    mask_params: tuple[str, ...],
    overwrite: bool,
) -> None:
    """Fuse three sample pairs shipped with samfuse (no data folder needed) and draw IR | visible | fused.

    \b
    Examples:
      samfuse demo --out demo/                      # the default method
      samfuse demo --out demo-sage/ --method sage   # samfuse's trained SAGE student
    """
    from samfuse.demo import run_demo
    from samfuse.io.paths import check_output_dir

    check_device(device)
    try:
        check_output_dir(out, {})
    except InputError as err:
        fail(str(err))
    spec = PipelineSpec(
        method,
        weights,
        method_params(method, params),
        mask_spec(mask_provider, mask_cache, mask_checkpoint, mask_params),
        device=device,
        seed=seed,
    )
    try:
        with warnings_as_lines():
            report, figure = run_demo(
                out, spec, overwrite=overwrite, on_note=lambda line: note(f"note: {line}"), on_warning=warn
            )
    except InputError as err:  # ProvenanceError, or a spec that cannot be built (BuildError): one line
        fail(str(err))
    click.echo(f"{report.summary()}; figure: {figure}", err=True)
    raise SystemExit(report.exit_code)
