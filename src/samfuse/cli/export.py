"""``samfuse export``: write a registered method (with its weights) as an ONNX file for onnxruntime."""

from __future__ import annotations

from pathlib import Path

import click

from samfuse.cli.common import fail
from samfuse.io import InputError


@click.command("export")
@click.option("--method", required=True, help="Registered method (see `samfuse methods`).")
@click.option("--weights", default=None, help="Checkpoint path for methods with weights.")
@click.option("--format", "fmt", type=click.Choice(["onnx"]), default="onnx", show_default=True, help="File format.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output file (e.g. sage_student.onnx).")
@click.option("--opset", type=click.IntRange(min=17), default=17, show_default=True, help="ONNX opset (17 or newer).")
@click.option("--overwrite", is_flag=True, help="Replace an existing file.")
def export_command(method: str, weights: str | None, fmt: str, out: Path, opset: int, overwrite: bool) -> None:
    """Export a method to ONNX (dynamic height and width; the model card's facts in the file's metadata).

    Run it with `samfuse fuse --backend onnx --method NAME --weights FILE.onnx`.
    """
    if out.is_dir():
        fail(f"--out {out}: is a folder; give a file name such as {out / (method + '.onnx')}")
    if out.exists() and not overwrite:
        fail(f"--out {out}: exists (use --overwrite to replace it)")
    from samfuse.export import export_onnx  # torch import kept out of `samfuse --help`

    try:
        export_onnx(method, out, weights=weights, opset=opset)
    except (KeyError, ValueError, OSError, InputError) as err:
        fail(f"--method {method}: {err.args[0] if err.args else err}")
    click.echo(f"wrote {out} ({fmt}, opset {opset}, {out.stat().st_size:,} bytes)", err=True)
