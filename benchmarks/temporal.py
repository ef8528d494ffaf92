"""Temporal stability on panning clips (issue 23): TS and flicker per method, made the same way for every method.

Each clip is a slow pan-and-zoom (:func:`samfuse.video.synthetic.pan_zoom_frames`) over one real MSRS test pair,
identical for both modalities, held in memory as lossless frames (no codec, so nothing but the method changes
between frames). Every frame pair is fused by ``samfuse.Fuser`` (RGB frames) and the sequence is scored with
:func:`samfuse.metrics.temporal.temporal_stability`: **TS** (fused change over the larger source change) and
**flicker** (the change the fused video shows beyond either source, grey levels per pixel and frame; lower is
better). Rows give the mean over the clips and the worst clip.

Usage::

    python benchmarks/temporal.py --methods average,sage-rt,sage@sage.authors \\
        [--pairs 00004N,00123D,...] [--frames 32] [--size 640x480] [--out benchmarks/results/temporal.md]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as samfuse sets for itself (docs/decisions.md)

import argparse
import datetime
import shlex
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from samfuse.bench.runner import parse_methods, weights_label
from samfuse.data import resolve_root
from samfuse.io import atomic_write, read_raw
from samfuse.machine import describe_machine
from samfuse.metrics.temporal import temporal_stability
from samfuse.video import Fuser
from samfuse.video.synthetic import pan_zoom_frames

REPO = Path(__file__).resolve().parents[1]
#: two night and two day MSRS test pairs, spread over the set
PAIRS = "00004N,00537D,00935N,01587D"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", required=True, help="comma-separated METHOD or METHOD@WEIGHTS")
    parser.add_argument(
        "--pairs",
        default=PAIRS,
        help="MSRS test pairs (stems) the clips are made from; train/STEM: a pair of MSRS/train (recipes are chosen "
        "on those, never on the test pairs)",
    )
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--size", default="640x480", help="WIDTHxHEIGHT of the clips")
    parser.add_argument("--backend", choices=["torch", "onnx"], default="torch")
    parser.add_argument("--reference", default=None, help="row the others are compared with")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/temporal.md")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    specs = []
    for item in (t.strip() for t in args.methods.split(",") if t.strip()):
        (spec,) = parse_methods(item)
        if spec.weights is not None:  # every row names its weights
            spec = replace(spec, name=f"{spec.method}@{weights_label(spec.weights)}")
        if any(s.name == spec.name for s in specs):
            parser.error(f"--methods: {item!r} is listed twice")
        specs.append(spec)
    root = resolve_root(None) / "MSRS"
    stems = [s.strip() for s in args.pairs.split(",") if s.strip()]
    clips = []
    for stem in stems:
        folder, _, name = stem.rpartition("/")  # "train/00001D": a pair of MSRS's training split
        base = root / folder if folder else root
        ir, vi = read_raw(base / "ir" / f"{name}.png"), read_raw(base / "vi" / f"{name}.png")
        clips.append(list(pan_zoom_frames(ir, vi, args.frames, (width, height))))
    rows = []
    for spec in specs:
        fuser = Fuser(spec.method, spec.weights, backend=args.backend, channels="rgb")  # type: ignore[arg-type]
        per_clip = []
        for frames in clips:
            fused = [fuser(ir, vi) for ir, vi in frames]
            fuser.reset()
            per_clip.append(temporal_stability((f[0] for f in frames), (f[1] for f in frames), fused))
        ts = [r.ts for r in per_clip]
        flicker = [r.flicker for r in per_clip]
        rows.append((spec.name, float(np.mean(ts)), max(ts), float(np.mean(flicker)), max(flicker), per_clip))
        print(f"{spec.name}: TS {np.mean(ts):.4f}, flicker {np.mean(flicker):.4f}", file=sys.stderr)
    reference = args.reference or specs[0].name
    if all(r[0] != reference for r in rows):
        parser.error(f"--reference {reference!r} is not one of the rows: {', '.join(r[0] for r in rows)}")
    ref = next(r for r in rows if r[0] == reference)
    lines = [
        "| method | TS (mean) | TS (worst clip) | flicker (mean) | flicker (worst clip) | flicker ≤ "
        f"`{reference}` on (clips) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, ts, ts_max, fl, fl_max, per_clip in rows:
        wins = sum(a.flicker <= b.flicker + 1e-9 for a, b in zip(per_clip, ref[5], strict=True))
        lines.append(f"| `{name}` | {ts:.4f} | {ts_max:.4f} | {fl:.4f} | {fl_max:.4f} | {wins} of {len(clips)} |")
    command = "python benchmarks/temporal.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    text = "\n".join(
        [
            "# Temporal stability on panning clips",
            "",
            f"Measured {datetime.date.today().isoformat()} on {describe_machine()}; torch {torch.__version__}, "
            f"backend `{args.backend}`.",
            "",
            f"{len(clips)} clips of {args.frames} frames at {width}×{height}: a slow pan-and-zoom over the MSRS "
            f"pairs {', '.join(f'`{s}`' for s in stems)}, identical for IR and visible, lossless (in memory). "
            "TS: the fused video's frame-to-frame change over the larger source change (a pixel-wise convex "
            "combination gives ≤ 1). Flicker: the change beyond either source, grey levels per pixel and frame "
            "(lower is better; 0 for `average` and `max`). `samfuse.metrics.temporal` defines both.",
            "",
            *lines,
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
