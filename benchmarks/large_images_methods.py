"""Peak memory of `samfuse fuse` per method on one 3000×2000 pair (issue 25: memory stated truthfully).

Usage: python benchmarks/large_images_methods.py [--methods sage,sgdfuse,...] [--out
benchmarks/results/large_images_methods.md]

The pair is MSRS ``00081D`` enlarged to 3000×2000 (bicubic) in a temporary folder, as ``large_images.py`` makes its
6000×4000 pair. Each method runs once as its own process under ``/usr/bin/time -v`` (methods that need masks with
``--masks regions`` and a temporary mask cache); the table gives the maximum resident set size and the wall time.
A run that fails (e.g. killed for memory) is listed with its exit code.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("large_images", HERE / "large_images.py")
assert _spec is not None and _spec.loader is not None
large = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(large)
large.SIZE = (3000, 2000)  # width, height

METHODS = ("average", "max", "laplacian", "sage", "sage-student", "sgdfuse-stage1", "sgdfuse", "sage-teacher")
MASKS = {"sgdfuse", "sage-teacher"}
OFFICIAL = "../shared/reference/sage/sage_student_official.pt"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--out", type=Path, default=HERE / "results" / "large_images_methods.md")
    args = ap.parse_args()
    repo = HERE.parent
    tmp = Path(tempfile.mkdtemp(prefix="samfuse-large-methods-"))
    rows = []
    try:
        large.make_pair(tmp)
        for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
            cmd = ["fuse", "--ir", str(tmp / "ir"), "--vi", str(tmp / "vi"), "--out", str(tmp / method)]
            cmd += ["--method", method]
            if method == "sage-student":
                cmd += ["--weights", str((repo / OFFICIAL).resolve())]
            if method in MASKS:
                cmd += ["--masks", "regions", "--mask-cache", str(tmp / "masks")]
            rss, wall, code, summary = large.measure(cmd, repo)
            rows.append((method, rss, wall, code, summary))
            print(f"{method}: {rss:.2f} GiB, {wall:.1f} s, exit {code} ({summary})", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    lines = [
        "# Peak memory of `samfuse fuse` per method, one 3000×2000 pair",
        "",
        f"Made by `python benchmarks/large_images_methods.py` on {time.strftime('%Y-%m-%d')}; {large.machine()}.",
        "",
        "| method | peak memory (max RSS) | wall time | exit | last line |",
        "|---|---:|---:|---:|---|",
        *(f"| `{m}` | {r:.2f} GiB | {w:.1f} s | {c} | {s} |" for m, r, w, c, s in rows),
        "",
    ]
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
