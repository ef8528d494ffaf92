"""Write a pair of registered IR/visible test clips from one real image pair (no paired videos ship with the data).

A slow pan and zoom of one 4:3 window over both images (:mod:`samfuse.video.synthetic`), written with OpenCV:
``OUT/ir.mp4`` and ``OUT/vi.mp4`` (mp4v; ``--ext .avi`` MJPG, ``--ext .mkv`` FFV1 lossless), or frame folders
``OUT/ir/00000.png``... with ``--frames-only``. Then try::

    samfuse fuse --ir OUT/ir.mp4 --vi OUT/vi.mp4 --out OUT/fused.mp4 --method laplacian
    samfuse eval --ir OUT/ir.mp4 --vi OUT/vi.mp4 --fused OUT/fused.mp4

Usage: ``python benchmarks/make_clips.py OUT [--pair 00004N] [--frames 24] [--size 160x120] [--fps 12] [--ext .mp4]
[--frames-only]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

from samfuse.data import resolve_root
from samfuse.video.synthetic import write_clips, write_frame_folders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--pair", default="00004N", help="MSRS pair (stem)")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--size", default="160x120", help="WIDTHxHEIGHT")
    parser.add_argument("--fps", type=float, default=12.0)
    parser.add_argument("--ext", default=".mp4", choices=[".mp4", ".avi", ".mkv", ".mov", ".m4v"])
    parser.add_argument("--frames-only", action="store_true", help="write PNG frame folders instead of videos")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    root = resolve_root(None) / "MSRS"
    ir, vi = root / "ir" / f"{args.pair}.png", root / "vi" / f"{args.pair}.png"
    if args.frames_only:
        paths = write_frame_folders(ir, vi, args.out, frames=args.frames, size=(width, height))
    else:
        paths = write_clips(ir, vi, args.out, frames=args.frames, size=(width, height), fps=args.fps, ext=args.ext)
    for p in paths:
        print(p)


if __name__ == "__main__":
    main()
