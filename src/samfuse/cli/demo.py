"""``samfuse demo``: fuse the sample pairs shipped with samfuse and write the comparison figure."""

from __future__ import annotations

from pathlib import Path

import click

from samfuse.batch import DEFAULT_METHOD
from samfuse.cli.common import WEIGHTS_HELP, fail, warnings_as_lines
from samfuse.io import InputError


@click.command("demo")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output folder (fused/ and demo.jpg).")
@click.option("--method", default=DEFAULT_METHOD, show_default=True, help="Registered method (see `samfuse methods`).")
@click.option("--weights", default=None, help=WEIGHTS_HELP)
@click.option("--overwrite", is_flag=True, help="Fuse again, replacing fused images made by another method.")
def demo_command(out: Path, method: str, weights: str | None, overwrite: bool) -> None:
    """Fuse three sample pairs shipped with samfuse (no data folder needed) and draw IR | visible | fused.

    \b
    Examples:
      samfuse demo --out demo/                      # the default method
      samfuse demo --out demo-sage/ --method sage   # samfuse's trained SAGE student
    """
    from samfuse.demo import run_demo
    from samfuse.io.paths import check_output_dir
    from samfuse.io.provenance import ProvenanceError

    try:
        check_output_dir(out, {})
    except InputError as err:
        fail(str(err))
    try:
        with warnings_as_lines():
            report, figure = run_demo(out, method, weights, overwrite=overwrite)
    except ProvenanceError as err:
        fail(str(err))
    except (KeyError, ValueError, OSError, InputError) as err:
        fail(f"--method {method}: {err.args[0] if err.args else err}")
    click.echo(f"{report.summary()}; figure: {figure}", err=True)
    raise SystemExit(report.exit_code)
