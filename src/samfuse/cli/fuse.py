"""``samfuse fuse``: fuse a folder (or one pair) of infrared/visible images into ``OUT/<stem>.png``."""

from __future__ import annotations

from pathlib import Path

import click

from samfuse.assembly import PipelineSpec
from samfuse.batch import DEFAULT_METHOD, fuse_into
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
    parse_value_range,
    shard_option,
    take_shard,
    warn,
    warn_pairing,
    warnings_as_lines,
)
from samfuse.cli.report import BatchReport
from samfuse.io import InputError, find_pairs
from samfuse.io.paths import check_output_dir


@click.command("fuse")
@click.option("--ir", "ir", required=True, type=click.Path(path_type=Path), help="IR (or MRI) folder or file.")
@click.option("--vi", "vi", required=True, type=click.Path(path_type=Path), help="Visible (PET/SPECT) folder or file.")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="Output folder (<stem>.png).")
@click.option("--method", default=DEFAULT_METHOD, show_default=True, help="Registered method (see `samfuse methods`).")
@click.option("--weights", default=None, help=WEIGHTS_HELP)
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
@click.option(
    "--color",
    "color",
    type=click.Choice(["ycbcr", "opencv"]),
    default="ycbcr",
    show_default=True,
    help="Colour path: samfuse's BT.601 YCbCr, or the SAGE authors' (OpenCV YCrCb on 8-bit input, their inverse, "
    "unclamped output, x*255+0.5 truncation).",
)
@click.option(
    "--backend",
    type=click.Choice(["auto", "torch", "onnx"]),
    default="auto",
    show_default=True,
    help="auto: the method's preferred backend (onnxruntime for sage-rt, else PyTorch). torch: PyTorch. onnx: "
    "onnxruntime (--weights FILE.onnx from `samfuse export`, or a "
    "checkpoint exported once into the cache folder).",
)
@mask_options()
@click.option(
    "--seed",
    type=int,
    default=None,
    help="Sampling seed, for methods that sample (e.g. sgdfuse): the same seed gives the same images "
    "(default: the method's own, 0 for sgdfuse).",
)
@params_option()
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Sampling steps (same as --param steps=N).")
@click.option(
    "--tile-pixels",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="Fuse images above N pixels in overlapping, blended tiles to bound memory (default: the method's own "
    "budget, e.g. 2097152 for sage; 0: never tile). See `samfuse methods`.",
)
@click.option(
    "--preview",
    is_flag=True,
    help="Videos: write IR | visible | fused side by side (3W×H) into --out instead of the fused video alone.",
)
@click.option(
    "--fps",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Videos: output frame rate (default: the visible video's; 25 for frame folders and sequences).",
)
@click.option(
    "--fourcc",
    default=None,
    metavar="CODE",
    help="Videos: the codec (default by --out ending: .mp4/.m4v/.mov mp4v, .avi MJPG, .mkv FFV1 lossless).",
)
@click.option(
    "--mask-every",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Videos, mask-guided methods: compute masks every N frames and reuse them in between (default 1: every "
    "frame; N divides the mask cost by N, masks lag moving objects by up to N-1 frames).",
)
@shard_option("pairs")
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
    color: str,
    backend: str,
    mask_provider: str | None,
    mask_cache: Path | None,
    mask_checkpoint: Path | None,
    mask_params: tuple[str, ...],
    seed: int | None,
    params: tuple[str, ...],
    steps: int | None,
    tile_pixels: int | None,
    preview: bool,
    fps: float | None,
    fourcc: str | None,
    mask_every: int | None,
    shard: str | None,
) -> None:
    """Fuse infrared/visible pairs, matched by file stem, into 8-bit PNGs (colour when the visible is).

    Videos: with a video --out (FUSED.mp4, .avi, .mkv) or video inputs (any format OpenCV's FFmpeg reads, frame
    folders, frames/%05d.png), frames are paired by index and fused into one video (docs/video.md).

    \b
    Examples:
      samfuse fuse --ir MSRS/ir --vi MSRS/vi --out fused/ --method laplacian
      samfuse fuse --ir MSRS/ir --vi MSRS/vi --out fused-sg/ --method sgdfuse --steps 20 --param guidance=false
      samfuse fuse --ir ir.mp4 --vi vis.mp4 --out fused.mp4 --method sage
    """
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
    from samfuse.cli import video as cli_video

    video = cli_video.wants_video(ir, vi, out)
    shard_ = get_shard(shard)
    if video and shard_ is not None:
        fail(f"{shard_.source}: a video is fused whole, not sharded (give --shard 0/1 to fuse it in every task)")
    video_only = {"--preview": preview, "--fps": fps, "--fourcc": fourcc, "--mask-every": mask_every}
    if not video and any(v for v in video_only.values()):
        given = ", ".join(k for k, v in video_only.items() if v)
        fail(f"{given}: only for videos (a video --out such as FUSED.mp4, or video inputs)")
    if video:
        cli_video.check_video_output(out, {"--ir": ir, "--vi": vi}, overwrite=overwrite, fourcc=fourcc)
        streams = cli_video.open_streams(ir, vi)
    else:
        try:
            pairs = find_pairs(ir, vi)
            todo = take_shard(shard_, pairs.pairs, lambda p: p.stem, "pairs")
            check_output_dir(out, {"--ir": ir, "--vi": vi})
        except InputError as err:
            fail(str(err))
    spec = PipelineSpec(
        method,
        weights,
        method_params(method, params, steps),
        mask_spec(mask_provider, mask_cache, mask_checkpoint, mask_params, default_cache=not video),
        device=device,
        backend=backend,  # type: ignore[arg-type]
        seed=seed,
        gray=gray,
        resize_to=resize_to,  # type: ignore[arg-type]
        color=color,  # type: ignore[arg-type]
        **ranges,
        **({} if tile_pixels is None else {"tile_pixels": tile_pixels}),
    )
    pipeline = build_pipeline(spec, inputs={"--ir": ir, "--vi": vi})
    if mask_every is not None and pipeline.masks is None:
        warn(f"--mask-every: ignored, --method {method} uses no masks")
    if video:
        ir_frames, vi_frames = streams
        cli_video.run_video(
            pipeline,
            ir_frames,
            vi_frames,
            out,
            fps=fps,
            preview=preview,
            fourcc=fourcc,
            mask_every=mask_every or 1,
            desc=f"fuse {method}",
        )

    from samfuse.assembly import pipeline_record
    from samfuse.io.provenance import RECORD, check_record, write_record

    record = pipeline_record(pipeline)
    # Shards of one run share --out and its record (the record does not name the shard): a shard checks the
    # record against every pair's output, not only its own, and never removes it, so a sharded --overwrite
    # remakes images with the same settings only.
    if overwrite and shard_ is None:  # the record comes back when every output is remade; interrupted, refused
        (out / RECORD).unlink(missing_ok=True)
    else:
        remedy = "use another --out or add --overwrite" if shard_ is None else "use another --out"
        try:
            has_outputs = any((out / f"{p.stem}.png").exists() for p in pairs.pairs)
            check_record(out, record, has_outputs=has_outputs, remedy=remedy)
        except InputError as err:
            fail(str(err))

    report = BatchReport("fused")
    warn_pairing(pairs, report)

    try:
        with warnings_as_lines():
            fuse_into(pipeline, todo, out, report, overwrite=overwrite, desc=f"fuse {method}")
        if overwrite:  # every output is this run's now: a failed pair's old output goes, not stays as if remade
            for stem, _ in report.failed_items:
                old = out / f"{stem}.png"
                if old.is_file() and not old.is_symlink():
                    old.unlink()
            if shard_ is None:
                write_record(out / RECORD, record)
    except KeyboardInterrupt:
        # Outputs are written atomically: what exists is complete, and a rerun skips it.
        click.echo(f"interrupted: {report.summary()} so far; run again to continue", err=True)
        raise SystemExit(130) from None
    click.echo(report.summary(), err=True)
    raise SystemExit(report.exit_code)
