"""``samfuse demo``: fuse the sample pairs shipped with samfuse and write the comparison figure."""

from __future__ import annotations

from pathlib import Path

import click

from samfuse.batch import DEFAULT_METHOD
from samfuse.cli.common import fail, warnings_as_lines
from samfuse.io import InputError


@click.command("demo")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output folder (fused/ and demo.jpg).")
@click.option("--method", default=DEFAULT_METHOD, show_default=True, help="Registered method (see `samfuse methods`).")
@click.option("--weights", default=None, help="Weights for the method.")
def demo_command(out: Path, method: str, weights: str | None) -> None:
    """Fuse three sample pairs shipped with samfuse (no data folder needed) and draw IR | visible | fused."""
    from samfuse.demo import run_demo
    from samfuse.io.paths import check_output_dir

    try:
        check_output_dir(out, {})
    except InputError as err:
        fail(str(err))
    try:
        with warnings_as_lines():
            report, figure = run_demo(out, method, weights)
    except (KeyError, ValueError, OSError, InputError) as err:
        fail(f"--method {method}: {err.args[0] if err.args else err}")
    click.echo(f"{report.summary()}; figure: {figure}", err=True)
    raise SystemExit(report.exit_code)
