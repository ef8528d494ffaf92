"""Agreement of samfuse's metrics with the two reference CSVs (VIFB MATLAB, CDDFuse evaluator).

Computes every metric of ``CONVENTIONS["vifb"]`` and ``CONVENTIONS["cddfuse"]`` on the 168 VIFB fused images
(8 methods × 21 pairs) in ``../shared/reference/vifb`` and prints, per convention and metric, the fraction of
values within the tolerance the issue sets (vifb: relative 1e-4, Qcb/Qcv 1e-3; cddfuse: relative 1e-6), the
fraction that rounds to the same 5 significant digits (vifb), and the largest relative deviation, as a
Markdown table. Usage: ``python benchmarks/metrics_reference.py [--jobs N] [--reference DIR]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

from samfuse.metrics.reference import CSV_NAME, sweep

DEFAULT_REF = Path(__file__).resolve().parents[1] / ".." / "shared" / "reference"
TOLERANCE = {"vifb": {"Qcb": 1e-3, "Qcv": 1e-3}, "cddfuse": {}}
DEFAULT_TOL = {"vifb": 1e-4, "cddfuse": 1e-6}


def same_5_digits(value: float, ref: float) -> bool:
    """True if value rounds to ref at 5 significant digits (the CSV's %.5g), with float slack."""
    if ref == 0:
        return abs(value) < 1e-12
    half_unit = 0.5 * 10 ** (np.floor(np.log10(abs(ref))) - 4)
    return abs(value - ref) <= half_unit * (1 + 1e-9)


def summarise(convention: str, rows: list[dict[str, str]], ours: list[dict[str, float]]) -> list[dict]:
    """Per metric: n, fraction within tolerance, fraction matching 5 digits, max relative deviation."""
    out = []
    for name in ours[0]:
        ref = np.array([float(r[name]) for r in rows])
        val = np.array([o[name] for o in ours])
        rel = np.abs(val - ref) / np.abs(ref)
        tol = TOLERANCE[convention].get(name, DEFAULT_TOL[convention])
        out.append(
            {
                "metric": name,
                "n": len(ref),
                "tol": tol,
                "within": float(np.mean(rel <= tol)),
                "digits5": float(np.mean([same_5_digits(v, r) for v, r in zip(val, ref, strict=True)])),
                "exact": float(np.mean(val == ref)),
                "max_rel": float(np.nanmax(rel)),
            }
        )
    return out


def markdown(convention: str, summary: list[dict]) -> str:
    """Markdown table of :func:`summarise`; 'bit-identical' only makes sense for the full-precision CSV."""
    head = "| metric | values | tol. (rel.) | within tol. | same 5 sig. digits | bit-identical | max rel. dev. |"
    lines = [head, "|---|---|---|---|---|---|---|"]
    for s in summary:
        exact = f"{s['exact'] * 100:.1f} %" if convention == "cddfuse" else "n/a"
        lines.append(
            f"| {s['metric']} | {s['n']} | {s['tol']:.0e} | {s['within'] * 100:.1f} % | "
            f"{s['digits5'] * 100:.1f} % | {exact} | {s['max_rel']:.1e} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=DEFAULT_REF)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--convention", choices=sorted(CSV_NAME), action="append")
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    for convention in args.convention or ["vifb", "cddfuse"]:
        t0 = time.perf_counter()
        rows, ours = sweep(args.reference.resolve(), convention, args.jobs)
        dt = time.perf_counter() - t0
        print(f"\n{convention}: {len(rows)} rows vs {CSV_NAME[convention]} ({dt:.1f} s)\n")
        print(markdown(convention, summarise(convention, rows, ours)))


if __name__ == "__main__":
    main()
