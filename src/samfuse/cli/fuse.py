"""``samfuse fuse``: fuse a folder (or one pair) of infrared/visible images into ``OUT/<stem>.png``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from tqdm import tqdm

from samfuse.cli.common import check_device, fail, parse_value_range, warn, warn_pairing, warnings_as_lines
from samfuse.cli.report import BatchReport
from samfuse.io import InputError, Pair, find_pairs, write_image
from samfuse.io.paths import check_output_dir

if TYPE_CHECKING:
    from samfuse.pipeline import FusionPipeline


def build_pipeline(method: str, weights: str | None, device: str, **options: Any) -> FusionPipeline:
    """Build the fusion pipeline, or end the command with one line naming the method and the reason."""
    from samfuse.pipeline import FusionPipeline  # torch import kept out of `samfuse --help`

    try:
        return FusionPipeline(method, weights, device, **options)
    except (KeyError, ValueError, OSError, InputError) as err:
        fail(f"--method {method}: {err.args[0] if err.args else err}")


def fuse_into(
    pipeline: FusionPipeline, pairs: Sequence[Pair], out: Path, report: BatchReport, *, overwrite: bool, desc: str
) -> None:
    """Fuse each pair into ``out/<stem>.png`` (atomic writes), recording done / failed / skipped in ``report``.

    An existing output is skipped unless ``overwrite``. A bad pair is one line in the report, never a traceback,
    and the other pairs go on.
    """
    out.mkdir(parents=True, exist_ok=True)
    for pair in tqdm(pairs, unit="pair", desc=desc, dynamic_ncols=True):
        target = out / f"{pair.stem}.png"
        if target.exists() and not overwrite:
            report.skipped(pair.stem)
            continue
        try:
            write_image(target, pipeline.fuse_pair(pair), overwrite=True)
        except InputError as err:
            report.failed(pair.stem, str(err))
        except Exception as err:  # keep the batch going; one line, no traceback
            report.failed(pair.stem, f"{type(err).__name__}: {err}")
        else:
            report.done(pair.stem)


@click.command("fuse")
@click.option("--ir", "ir", required=True, type=click.Path(path_type=Path), help="IR (or MRI) folder or file.")
@click.option("--vi", "vi", required=True, type=click.Path(path_type=Path), help="Visible (PET/SPECT) folder or file.")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="Output folder (<stem>.png).")
@click.option("--method", default="average", show_default=True, help="Registered method (see `samfuse methods`).")
@click.option("--weights", default=None, help="Shipped weights name or a checkpoint path (methods with weights).")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@click.option("--gray", is_flag=True, help="Write only the fused luminance Y (grey PNG).")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs (default: skip them).")
@click.option(
    "--resize-to",
    type=click.Choice(["ir", "vi"]),
    default=None,
    help="When IR and VIS sizes differ, resize the other image to this one's size (default: report an error).",
)
@click.option(
    "--ir-range",
    default=None,
    metavar="LO,HI|minmax",
    help="Map IR values LO..HI to 0..1 (e.g. 0,16383 for 14-bit thermal in 16-bit files); default: by bit depth.",
)
@click.option(
    "--vi-range",
    default=None,
    metavar="LO,HI|minmax",
    help="Map visible values LO..HI to 0..1; default: by bit depth (x/255, x/65535).",
)
@click.option(
    "--value-range",
    default=None,
    metavar="LO,HI|minmax",
    hidden=True,
    help="Deprecated: the same as --ir-range (it applies to the IR image only).",
)
def fuse_command(
    ir: Path,
    vi: Path,
    out: Path,
    method: str,
    weights: str | None,
    device: str,
    gray: bool,
    overwrite: bool,
    resize_to: str | None,
    ir_range: str | None,
    vi_range: str | None,
    value_range: str | None,
) -> None:
    """Fuse infrared/visible pairs, matched by file stem, into 8-bit PNGs (colour when the visible is)."""
    check_device(device)
    ir_option = "--ir-range"
    if value_range is not None:
        if ir_range is not None:
            fail("--value-range is the old name of --ir-range; give only --ir-range")
        ir_option, ir_range = "--value-range", value_range
    ranges = {
        "ir_range": parse_value_range(ir_range, ir_option),
        "vi_range": parse_value_range(vi_range, "--vi-range"),
    }
    if value_range is not None:
        warn("--value-range is deprecated and applies to the IR image only; use --ir-range (and --vi-range)")
    try:
        pairs = find_pairs(ir, vi)
        check_output_dir(out, {"--ir": ir, "--vi": vi})
    except InputError as err:
        fail(str(err))
    pipeline = build_pipeline(method, weights, device, gray=gray, resize_to=resize_to, **ranges)

    report = BatchReport("fused")
    warn_pairing(pairs, report)

    try:
        with warnings_as_lines():
            fuse_into(pipeline, pairs.pairs, out, report, overwrite=overwrite, desc=f"fuse {method}")
    except KeyboardInterrupt:
        # Outputs are written atomically: what exists is complete, and a rerun skips it.
        click.echo(f"interrupted: {report.summary()} so far; run again to continue", err=True)
        raise SystemExit(130) from None
    click.echo(report.summary(), err=True)
    raise SystemExit(report.exit_code)
