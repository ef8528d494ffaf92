"""Peak memory of `samfuse fuse` per method on one 3000×2000 pair (issue 25: memory stated truthfully).

Usage: python benchmarks/large_images_methods.py [--methods sage,sgdfuse,...] [--timeout S] [--out
benchmarks/results/large_images_methods.md] [--tile-pixels N]

The pair is MSRS ``00081D`` enlarged to 3000×2000 (bicubic) in a temporary folder, as ``large_images.py`` makes its
6000×4000 pair. Each method runs once as its own process (``python -m samfuse fuse``) under ``/usr/bin/time -v``
(methods that need masks with the default weight-free ``regions`` provider and a temporary mask cache; methods that
need ``--weights`` with the shipped names); the table gives the maximum resident set size and the wall time. The
methods tile images above their pixel budget (samfuse.tiling) unless ``--tile-pixels`` says otherwise. A run that
fails (killed for memory, or stopped by ``--timeout``: exit 124) is listed with its exit code and its peak so far.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from samfuse.machine import describe_machine

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("large_images", HERE / "large_images.py")
assert _spec is not None and _spec.loader is not None
large = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(large)
large.SIZE = (3000, 2000)  # width, height

METHODS = (
    "average", "max", "laplacian", "sage-rt", "sage", "sage-student", "seafusion", "sgdfuse-stage1", "sgdfuse",
    "sage-teacher",
)  # fmt: skip
MASKS = {"sgdfuse", "sage-teacher"}
WEIGHTS = {"sage-student": "sage.authors"}


def measure(args: list[str], timeout: float | None) -> tuple[float, float, int, str]:
    """(peak RSS GiB, wall s, exit code, last stderr line) of ``python -m samfuse ARGS`` under /usr/bin/time -v."""
    cmd = ["/usr/bin/time", "-v"]
    if timeout:
        cmd += ["timeout", str(int(timeout))]
    cmd += [sys.executable, "-m", "samfuse", *args]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith(("\t", "Command"))]
    lines = [ln for ln in lines if "\r" not in ln and not ln.startswith(("fuse ", "masks "))]  # progress bars
    summary = next((ln for ln in reversed(lines) if re.match(r"\d+ (fused|evaluated|computed)", ln)), "")
    if not summary:
        summary = lines[-1] if lines else ""
    return int(rss.group(1)) / 2**20 if rss else float("nan"), wall, proc.returncode, summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--timeout", type=float, default=None, help="stop a method's run after S seconds (exit 124)")
    ap.add_argument("--tile-pixels", type=int, default=None, help="passed to fuse (0: no tiling)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "large_images_methods.md")
    args = ap.parse_args()
    machine = describe_machine()
    tmp = Path(tempfile.mkdtemp(prefix="samfuse-large-methods-"))
    rows = []
    try:
        large.make_pair(tmp)
        for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
            cmd = ["fuse", "--ir", str(tmp / "ir"), "--vi", str(tmp / "vi"), "--out", str(tmp / method)]
            cmd += ["--method", method]
            if method in WEIGHTS:
                cmd += ["--weights", WEIGHTS[method]]
            if method in MASKS:
                cmd += ["--masks", "regions", "--mask-cache", str(tmp / "masks")]
            if args.tile_pixels is not None:
                cmd += ["--tile-pixels", str(args.tile_pixels)]
            rss, wall, code, summary = measure(cmd, args.timeout)
            shown = " ".join(shlex.quote(c.replace(str(tmp), "PAIR")) for c in cmd)
            rows.append((method, rss, wall, code, summary, shown))
            print(f"{method}: {rss:.2f} GiB, {wall:.1f} s, exit {code} ({summary})", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    lines = [
        "# Peak memory of `samfuse fuse` per method, one 3000×2000 pair",
        "",
        f"Made by `{' '.join(shlex.quote(a) for a in ['python', *sys.argv])}` on {time.strftime('%Y-%m-%d %H:%M %Z')}.",
        f"Machine: {machine}.",
        "",
        "| method | peak memory (max RSS) | wall time | exit | last line | arguments |",
        "|---|---:|---:|---:|---|---|",
        *(f"| `{m}` | {r:.2f} GiB | {w:.0f} s | {c} | {s} | `{a}` |" for m, r, w, c, s, a in rows),
        "",
    ]
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
