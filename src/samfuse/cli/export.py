"""``samfuse export``: write a registered method (with its weights) as an ONNX file for onnxruntime."""

from __future__ import annotations

from pathlib import Path

import click

from samfuse.cli.common import WEIGHTS_HELP, fail
from samfuse.io import InputError
from samfuse.io.paths import check_output_file


@click.command("export")
@click.option("--method", required=True, help="Registered method (see `samfuse methods`).")
@click.option("--weights", default=None, help=WEIGHTS_HELP)
@click.option("--format", "fmt", type=click.Choice(["onnx"]), default="onnx", show_default=True, help="File format.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output file (e.g. sage_student.onnx).")
@click.option("--opset", type=int, default=17, show_default=True, help="ONNX opset (17 to 20 with torch 2.13).")
@click.option("--overwrite", is_flag=True, help="Replace an existing file.")
def export_command(method: str, weights: str | None, fmt: str, out: Path, opset: int, overwrite: bool) -> None:
    """Export a method to ONNX (dynamic height and width; the model card's facts in the file's metadata).

    Run it with `samfuse fuse --backend onnx --method NAME --weights FILE.onnx`.

    \b
    Examples:
      samfuse export --method sage --out sage.onnx
      samfuse export --method sage-student --weights sage_student_official.pt --out student.onnx
    """
    if out.is_dir():
        fail(f"--out {out}: is a folder; give a file name such as {out / (method + '.onnx')}")
    if out.exists() and not overwrite:
        fail(f"--out {out}: exists (use --overwrite to replace it)")
    try:
        check_output_file(out, {"--weights": weights} if weights is not None else {})
    except InputError as err:
        fail(str(err))
    from samfuse.export import (
        MIN_OPSET,
        ExportError,
        export_onnx,
        max_opset,
    )  # torch import kept out of `samfuse --help`

    if not MIN_OPSET <= opset <= max_opset():
        fail(f"--opset {opset}: samfuse exports opsets {MIN_OPSET} to {max_opset()} with this torch")
    try:
        export_onnx(method, out, weights=weights, opset=opset)
    except ExportError as err:
        fail(str(err))
    except OSError as err:  # e.g. the folder refuses the file although it looked writable
        fail(f"{out}: --out cannot be written ({err.strerror or err})")
    except (KeyError, ValueError, InputError) as err:
        fail(f"--method {method}: {err.args[0] if err.args else err}")
    click.echo(f"wrote {out} ({fmt}, opset {opset}, {out.stat().st_size:,} bytes)", err=True)
