"""The video parts of ``samfuse fuse`` (``--out FUSED.mp4``) and ``samfuse eval`` (temporal stability).

``samfuse fuse`` turns to video when ``--out`` has a video ending (``.mp4``, ``.m4v``, ``.mov``, ``.avi``,
``.mkv``) or an input is a video file or a numbered sequence (``frames/%05d.png``); two folders with a video
``--out`` are read as frame folders. Everything wrong with the paths or the inputs (missing, empty, corrupt, no
frames, an existing output without ``--overwrite``, an output that is an input) is one ``error:`` line and exit
2 before any frame is fused; a bad frame later (a corrupt file in a frame folder, sizes that differ) is one line
and exit 1; in both cases no output is left. Ctrl-C keeps a playable video of the frames fused so far at
``--out`` and exits 130.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click
import cv2
import numpy as np

from samfuse.cli.common import fail, warn, warnings_as_lines
from samfuse.io import InputError, atomic_write
from samfuse.io.paths import check_output_file
from samfuse.video.frames import VIDEO_FOURCC, FrameSource, is_sequence_pattern, is_video_like, open_frames

if TYPE_CHECKING:
    from samfuse.pipeline import FusionPipeline


def wants_video(ir: Path, vi: Path, out: Path) -> bool:
    """Whether ``samfuse fuse`` runs on frame streams (see the module docstring): ``--out`` by its ending only, an
    input also when it is an existing file that is not an image, or a numbered sequence."""
    return out.suffix.lower() in VIDEO_FOURCC or any(is_video_like(p) for p in (ir, vi))


def _input_label(path: Path) -> Path:
    """The folder a numbered sequence lives in (the input folder for the output-path check), else the path."""
    return path.parent if is_sequence_pattern(path) else path


def check_video_output(out: Path, inputs: dict[str, Path], *, overwrite: bool, fourcc: str | None) -> None:
    """Refuse, with one line and exit 2, a video ``--out`` that cannot be written (see the module docstring)."""
    if out.suffix.lower() not in VIDEO_FOURCC and fourcc is None:
        fail(f"{out}: --out must be a video file ({', '.join(VIDEO_FOURCC)}) when fusing videos or frame sequences")
    if fourcc is not None and len(fourcc) != 4:
        fail(f"--fourcc {fourcc!r}: a codec code has 4 characters (e.g. mp4v, MJPG, FFV1)")
    folders: dict[str, Path] = {}
    for label, path in inputs.items():
        if path.is_file() and out.exists() and out.samefile(path):
            fail(f"{out}: --out is the input file {path} ({label}); choose another file")
        if not path.is_file():  # a frame folder, or a sequence's folder: outputs must not land among its frames
            folders[label] = _input_label(path)
    try:
        check_output_file(out, folders)
    except InputError as err:
        fail(str(err))
    if out.exists() and not overwrite:
        fail(f"{out}: exists; use --overwrite to replace it")


def open_streams(*paths: Path) -> list[FrameSource]:
    """Open each frame stream, or end the command with one line naming the input (exit 2, nothing written)."""
    opened: list[FrameSource] = []
    try:
        for path in paths:
            opened.append(open_frames(path))
    except InputError as err:
        for src in opened:
            src.close()
        fail(str(err))
    return opened


def run_video(
    pipeline: FusionPipeline,
    ir: FrameSource,
    vi: FrameSource,
    out: Path,
    *,
    fps: float | None,
    preview: bool,
    fourcc: str | None,
    mask_every: int,
    desc: str,
) -> NoReturn:
    """Fuse the two streams into ``out`` (:func:`samfuse.video.run.fuse_video`), print the summary line, exit."""
    from samfuse.video.fuser import Fuser
    from samfuse.video.run import VideoInterrupted, fuse_video

    fuser = Fuser.from_pipeline(pipeline, channels="rgb", mask_every=mask_every)
    try:
        with warnings_as_lines():
            run = fuse_video(fuser, ir, vi, out, fps=fps, preview=preview, fourcc=fourcc, warn=warn, desc=desc)
    except VideoInterrupted as stop:
        if stop.run is None:
            click.echo("interrupted before the first frame was written: nothing written", err=True)
        else:
            click.echo(
                f"interrupted: {stop.run.frames} frames fused into {out} (a playable video; run again with "
                "--overwrite to fuse the whole stream)",
                err=True,
            )
        raise SystemExit(130) from None
    except InputError as err:
        fail(f"{err} (nothing written)", code=1)
    except Exception as err:  # e.g. disk full while encoding: one line, the temporary file is gone
        fail(f"{out}: {type(err).__name__}: {err} (nothing written)", code=1)
    finally:
        ir.close()
        vi.close()
    w, h = run.size
    masks = f", masks computed {fuser.mask_updates} times" if fuser.method.needs_masks is not None else ""
    click.echo(
        f"{run.frames} frames fused into {out} ({w}×{h}, {run.fps:g} fps{masks}; {run.frames_per_second:.1f} frames/s)",
        err=True,
    )
    raise SystemExit(0)


# --- samfuse eval on sequences: temporal stability ---------------------------------------------------------------


def wants_temporal(*paths: Path | None) -> bool:
    """Whether ``samfuse eval`` evaluates sequences: any of its paths is a video file or a numbered sequence."""
    return any(p is not None and is_video_like(p) and not p.is_dir() for p in paths)


def _fit(luma: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if luma.shape == shape:
        return luma
    h, w = shape[:2]
    shrink = h * w < luma.shape[0] * luma.shape[1]
    out = cv2.resize(luma, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return np.clip(out, 0.0, 1.0)


def eval_temporal(ir: Path | None, vi: Path | None, fused: Path | None, out: Path | None) -> NoReturn:
    """``samfuse eval --ir A --vi B --fused F [--out steps.csv]`` on videos, frame folders or sequences: print the
    temporal stability table (:mod:`samfuse.metrics.temporal`) and exit."""
    from samfuse.metrics.temporal import TemporalStabilityMeter, luminance

    if ir is None or vi is None or fused is None:
        fail("temporal stability needs --ir, --vi and --fused (videos, frame folders or frames/%05d.png)")
    if out is not None:
        try:
            check_output_file(out, {"--ir": _input_label(ir), "--vi": _input_label(vi), "--fused": _input_label(fused)})
        except InputError as err:
            fail(str(err))
    src_ir, src_vi, src_f = open_streams(ir, vi, fused)
    meter = TemporalStabilityMeter()
    streams = (src_ir, src_vi, src_f)
    try:
        while True:
            frames = [s.read() for s in streams]
            if any(f is None for f in frames):
                break
            la, lb, lf = (luminance(f) for f in frames)  # type: ignore[arg-type]
            if meter.frames == 0 and lf.shape not in (la.shape, lb.shape):
                (fh, fw), (ah, aw), (bh, bw) = lf.shape, la.shape, lb.shape
                fail(f"{fused} ({fw}×{fh}) has neither {ir}'s size ({aw}×{ah}) nor {vi}'s ({bw}×{bh})", code=1)
            meter.update(_fit(la, lf.shape), _fit(lb, lf.shape), lf)  # a source of another size: resized
    except (InputError, ValueError) as err:
        fail(f"{err}", code=1)
    finally:
        for s in streams:
            s.close()
    ended = [s.name for s, f in zip(streams, frames, strict=True) if f is None]
    if len(ended) < 3:
        longer = [s.name for s, f in zip(streams, frames, strict=True) if f is not None]
        warn(
            f"{', '.join(ended)} ended after {meter.frames} frames, {', '.join(longer)} go on: evaluated the first "
            f"{meter.frames} (the shortest)"
        )
    try:
        res = meter.compute()
    except ValueError as err:
        fail(f"{fused}: {err}", code=1)
    if not np.isfinite(res.ts):
        warn(f"{ir}, {vi}: the sources do not change between frames; TS is undefined")
    if out is not None:
        buf = io.StringIO()
        table = csv.writer(buf, lineterminator="\n")
        table.writerow(["step", "fused_change", "source_change", "excess"])
        for t, row in enumerate(zip(res.fused_change, res.source_change, res.excess, strict=True), start=1):
            table.writerow([t, *(repr(255.0 * v) for v in row)])
        atomic_write(out, lambda fh: fh.write(buf.getvalue().encode()))
    fused_mean, source_mean = (255.0 * float(np.mean(v)) for v in (res.fused_change, res.source_change))
    click.echo(f"\ntemporal stability, {res.frames} frames (grey levels: 8-bit luma steps)\n")
    click.echo("| measure | value |\n|---|---:|")
    click.echo(f"| TS (fused change / larger source change) | {res.ts:.4f} |")
    click.echo(f"| flicker (excess change, grey levels per pixel and frame; lower is better) | {res.flicker:.4f} |")
    click.echo(f"| fused change (grey levels per pixel and frame) | {fused_mean:.4f} |")
    click.echo(f"| larger source change (grey levels per pixel and frame) | {source_mean:.4f} |")
    click.echo(f"evaluated {res.frames} frames", err=True)
    raise SystemExit(0)
