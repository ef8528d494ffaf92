"""Peak memory and time of `samfuse fuse`, `eval` and `masks` on one 6000×4000 pair.

Usage: python benchmarks/large_images.py [--out benchmarks/results/large_images.md] [--keep]

The pair is made from a real image: MSRS ``00081D`` (IR grey, visible colour, 640×480) enlarged to 6000×4000 with
bicubic interpolation, written as PNG to a temporary folder (never into the repository). Each command runs once
as its own process under ``/usr/bin/time -v``; the table gives its maximum resident set size (the peak memory of
the process) and its wall time. The commands are printed as run (``PAIR`` is the temporary folder).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

from samfuse.data import resolve_root
from samfuse.io import read_raw, write_image

SIZE = (6000, 4000)  # width, height


def machine() -> str:
    cpu = platform.machine()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    cores = len(os.sched_getaffinity(0))
    ram = int(Path("/proc/meminfo").read_text().split()[1]) / 2**20
    return f"{platform.node()}: {cpu}, {cores} cores, {ram:.0f} GiB RAM, no GPU; Python {platform.python_version()}"


def make_pair(folder: Path) -> None:
    root = resolve_root(None) / "MSRS"
    for side in ("ir", "vi"):
        big = cv2.resize(read_raw(root / side / "00081D.png"), SIZE, interpolation=cv2.INTER_CUBIC)
        (folder / side).mkdir(parents=True)
        write_image(folder / side / "big.png", big)


def measure(args: list[str], cwd: Path) -> tuple[float, float, int, str]:
    """(peak RSS GiB, wall s, exit code, last stderr line) of ``samfuse ARGS`` under /usr/bin/time -v."""
    exe = str(Path(sys.executable).with_name("samfuse"))
    t0 = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-v", exe, *args], cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln and not ln.startswith(("\t", "Command"))]
    summary = next((ln for ln in reversed(lines) if re.match(r"\d+ (fused|evaluated|computed)", ln)), lines[-1])
    return int(rss.group(1)) / 2**20 if rss else float("nan"), wall, proc.returncode, summary


COMMANDS: list[tuple[str, list[str]]] = [
    ("fuse average", ["fuse", "--ir", "ir", "--vi", "vi", "--out", "fused", "--method", "average"]),
    ("fuse laplacian", ["fuse", "--ir", "ir", "--vi", "vi", "--out", "fused_lap", "--method", "laplacian"]),
    ("eval cddfuse, all 15 metrics", ["eval", "--ir", "ir", "--vi", "vi", "--fused", "fused", "--metrics", "all"]),
    (
        "eval vifb, all 16 metrics",
        ["eval", "--ir", "ir", "--vi", "vi", "--fused", "fused", "--convention", "vifb", "--metrics", "all"],
    ),
    ("masks regions, IR", ["masks", "--images", "ir", "--out", "masks", "--preview", "preview_ir"]),
    ("masks regions, visible", ["masks", "--images", "vi", "--out", "masks", "--preview", "preview_vi"]),
    ("masks thermal, IR", ["masks", "--images", "ir", "--out", "masks", "--masks", "thermal"]),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="also write the Markdown table here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="samfuse-large-"))
    try:
        make_pair(work)
        lines = [
            f"Machine: {machine()}",
            "",
            f"Pair: MSRS 00081D enlarged to {SIZE[0]}×{SIZE[1]} (bicubic), PNG, in a temporary folder PAIR; "
            "each command run once in PAIR as `samfuse ARGS` under `/usr/bin/time -v`.",
            "",
            "| command | peak memory (max RSS) | wall time | result | arguments |",
            "|---|---:|---:|---|---|",
        ]
        print("\n".join(lines), flush=True)
        for name, cmd in COMMANDS:
            rss, wall, code, summary = measure(cmd, work)
            row = f"| {name} | {rss:.2f} GiB | {wall:.0f} s | {summary} (exit {code}) | `{' '.join(cmd)}` |"
            lines.append(row)
            print(row, flush=True)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work)
    if args.out is not None:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
