"""Real-time fusion on a CPU (issue 23): frames per second at 640×480, per method, in one run on this machine.

For each method of ``--methods`` (``METHOD`` or ``METHOD@WEIGHTS``, spelled as ``samfuse bench --methods``, with
an optional ``:torch`` or ``:onnx`` suffix choosing that entry's backend; default ``--backend``):

1. **build**: seconds to build ``samfuse.Fuser`` (weights loaded; with ``--backend onnx`` an export on first use);
2. **in memory**: ``Fuser(...)(ir, vi)`` on ``--frames`` decoded frame pairs held in memory (uint8 BGR, as a camera
   loop gets them from OpenCV), after ``--warmup`` frames: frames per second and milliseconds per frame (mean);
3. **video command**: what ``samfuse fuse --ir IR.mp4 --vi VI.mp4 --out F.mp4`` runs after start-up
   (:func:`samfuse.video.run.fuse_video`: decode both mp4v streams, fuse, encode mp4v, rename), timed from the
   opened streams to the closed file, as frames per second.

Ratios are to ``--reference`` (default the first ``sage-student`` entry, the SAGE authors' released student). The
frames are a pan-and-zoom over one real MSRS pair (:mod:`samfuse.video.synthetic`) at 640×480, written as mp4v
clips to a temporary folder. The machine line comes from :func:`samfuse.machine.describe_machine`; other
processes on a shared machine slow every figure down (its load average is printed before and after).

Usage::

    python benchmarks/realtime.py \\
        --methods laplacian,average,sage-student@../shared/reference/sage/sage_student_official.pt \\
        [--frames 100] [--warmup 3] [--backend torch|onnx] [--reference NAME] [--out benchmarks/results/realtime.md]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as samfuse sets for itself (docs/decisions.md)

import argparse
import datetime
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch

from samfuse.bench.runner import MethodSpec, parse_methods, weights_label
from samfuse.data import resolve_root
from samfuse.io import atomic_write, read_raw
from samfuse.machine import describe_machine
from samfuse.video import Fuser, fuse_video, open_frames
from samfuse.video.synthetic import pan_zoom_frames, write_clips

REPO = Path(__file__).resolve().parents[1]
SIZE = (640, 480)  # width, height


@dataclass
class Row:
    name: str
    backend: str
    build_s: float
    memory_fps: float
    video_fps: float
    frames: int


def measure(
    spec: MethodSpec,
    backend: str,
    pairs: list[tuple[np.ndarray, np.ndarray]],
    clips: tuple[Path, Path],
    folder: Path,
    warmup: int,
) -> Row:
    """Build, in-memory and whole-video figures of one method."""
    assert spec.method is not None
    start = time.perf_counter()
    fuser = Fuser(spec.method, spec.weights, backend=backend)  # type: ignore[arg-type]
    build_s = time.perf_counter() - start
    for ir, vi in pairs[:warmup]:
        fuser(ir, vi)
    start = time.perf_counter()
    for ir, vi in pairs:
        fuser(ir, vi)
    memory_fps = len(pairs) / (time.perf_counter() - start)
    video = Fuser.from_pipeline(fuser.pipeline, channels="rgb")
    out = folder / f"{spec.name.replace('/', '_').replace('@', '_')}.mp4"
    with open_frames(clips[0]) as ir_src, open_frames(clips[1]) as vi_src:
        run = fuse_video(video, ir_src, vi_src, out, progress=False)
    out.unlink()
    return Row(spec.name, backend, build_s, memory_fps, run.frames_per_second, run.frames)


def table(rows: list[Row], reference: str | None) -> str:
    ref = next((r for r in rows if r.name == reference), None)

    def ratio(value: float, base: float | None) -> str:
        return f"{value / base:.2f}×" if base else "–"

    lines = [
        "| method | backend | build (s) | in memory: frames/s | ms/frame | video command: frames/s "
        f"| in memory × {reference or 'ref'} | video × {reference or 'ref'} |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        mem = ratio(r.memory_fps, ref.memory_fps if ref else None)
        vid = ratio(r.video_fps, ref.video_fps if ref else None)
        lines.append(
            f"| `{r.name}` | {r.backend} | {r.build_s:.2f} | {r.memory_fps:.1f} | {1000 / r.memory_fps:.1f} | "
            f"{r.video_fps:.1f} | {mem} | {vid} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--methods",
        default=f"laplacian,average,sage-student@{REPO.parent / 'shared/reference/sage/sage_student_official.pt'}",
        help="comma-separated METHOD or METHOD@WEIGHTS",
    )
    parser.add_argument("--frames", type=int, default=100, help="frames timed per method (in memory and video)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--backend", choices=["torch", "onnx"], default="torch")
    parser.add_argument("--pair", default="00004N", help="MSRS pair the clip is made from")
    parser.add_argument("--reference", default=None, help="method name the ratios are to (default: sage-student)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/realtime.md")
    args = parser.parse_args()

    specs, backends = [], {}
    for item in (t.strip() for t in args.methods.split(",") if t.strip()):
        head, sep, tail = item.rpartition(":")
        chosen = tail if sep and tail in ("torch", "onnx") else args.backend
        text = head if sep and tail in ("torch", "onnx") else item
        (spec,) = parse_methods(text)
        if spec.weights is not None:  # every row names its weights
            spec = replace(spec, name=f"{spec.method}@{weights_label(spec.weights)}")
        if text != item or any(s.name == spec.name for s in specs):  # a backend was named: say it
            spec = replace(spec, name=f"{spec.name} ({chosen})")
        if any(s.name == spec.name for s in specs):
            parser.error(f"--methods: {item!r} is listed twice")
        specs.append(spec)
        backends[spec.name] = chosen
    reference = args.reference or next((s.name for s in specs if s.method == "sage-student"), None)
    if reference is not None and reference not in backends:
        parser.error(f"--reference {reference!r} is not one of the rows: {', '.join(backends)}")
    machine = describe_machine()
    root = resolve_root(None) / "MSRS"
    ir, vi = read_raw(root / "ir" / f"{args.pair}.png"), read_raw(root / "vi" / f"{args.pair}.png")
    pairs = [
        (a, np.ascontiguousarray(b[:, :, ::-1]))  # the visible frame as OpenCV gives it: BGR
        for a, b in pan_zoom_frames(ir, vi, args.frames, SIZE)
    ]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="samfuse-realtime-") as tmp:
        clips = write_clips(
            root / "ir" / f"{args.pair}.png",
            root / "vi" / f"{args.pair}.png",
            tmp,
            frames=args.frames,
            size=SIZE,
            fps=25.0,
        )
        for spec in specs:
            row = measure(spec, backends[spec.name], pairs, clips, Path(tmp), args.warmup)
            print(
                f"{row.name}: {row.memory_fps:.1f} frames/s in memory, {row.video_fps:.1f} frames/s video",
                file=sys.stderr,
            )
            rows.append(row)
    load_after = os.getloadavg()[0]
    command = "python benchmarks/realtime.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    text = "\n".join(
        [
            "# Real-time fusion on a CPU: frames per second at 640×480",
            "",
            f"Measured {datetime.date.today().isoformat()} on {machine}; load average {load_after:.1f} at the end; "
            f"torch {torch.__version__} with {torch.get_num_threads()} thread(s), OpenCV {cv2.__version__}; "
            "the backend of each row is given.",
            "",
            f"{args.frames} frames of a pan-and-zoom over MSRS `{args.pair}` (IR grey, visible colour), "
            f"{args.warmup} warm-up frames. *In memory*: `samfuse.Fuser` on decoded uint8 BGR frames. *Video "
            "command*: decode two mp4v streams, fuse, encode mp4v (`samfuse.video.run.fuse_video`, what `samfuse "
            "fuse --out F.mp4` runs after start-up). *Build*: constructing the `Fuser` (weights loaded).",
            "",
            table(rows, reference),
            "",
            f"Command: `{command}`",
            "",
        ]
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out, lambda fh: fh.write(text.encode()))
    print(text)


if __name__ == "__main__":
    main()
