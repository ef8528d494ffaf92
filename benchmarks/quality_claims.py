"""Issue 24's targets, checked on a recorded table (``benchmarks/validation.py --out X.md`` writes ``X.json``).

Prints, for the 9 headline metrics (all higher-is-better): on how many a row is at or above another
(``--at-or-above A:B``), strictly above it by more than a margin (``--above A:B:PCT``, e.g. ``sgdfuse:stage1:0.5``),
and the moonshot (the best row's VIF ≥ 1.05 and Qabf ≥ 0.69 with SSIM ≥ 0.95, the best published MSRS results),
each with the metrics and the shortfalls. Appends the lines to ``--out`` (Markdown) when given.

    python benchmarks/quality_claims.py benchmarks/results/quality_msrs.json --at-or-above sage:authors \\
        --at-or-above sage:laplacian --above sgdfuse:sgdfuse-stage1:0.5 --moonshot sage,sgdfuse --out X.md
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from samfuse.selection import HEADLINE, at_or_above

MOONSHOT = {"VIF": 1.05, "Qabf": 0.69}
SSIM_FLOOR = 0.95


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("table", type=Path)
    ap.add_argument("--at-or-above", action="append", default=[], metavar="A:B")
    ap.add_argument("--above", action="append", default=[], metavar="A:B:PCT")
    ap.add_argument("--moonshot", default="", help="comma-separated rows to check against the moonshot")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    rows = json.loads(args.table.read_text())["rows"]
    lines = [
        f"Checks on `{args.table.name}` (9 metrics: {', '.join(HEADLINE)}; `python benchmarks/quality_claims.py`):",
        "",
    ]
    for spec in args.at_or_above:
        a, b = spec.split(":")
        ok = at_or_above(rows[a], rows[b])
        gaps = ", ".join(f"{m} {rows[a][m]:.4f} vs {rows[b][m]:.4f} ({100 * (rows[a][m] / rows[b][m] - 1):+.1f} %)"
                         for m in HEADLINE if m not in ok)  # fmt: skip
        lines.append(f"- `{a}` at or above `{b}` on **{len(ok)} of 9**" + (f"; behind on {gaps}" if gaps else ""))
    for spec in args.above:
        a, b, pct = spec.split(":")
        rel = {m: 100 * (rows[a][m] / rows[b][m] - 1) for m in HEADLINE}
        ok = [m for m in HEADLINE if rel[m] > float(pct)]
        lines.append(
            f"- `{a}` above `{b}` by more than {pct} % on **{len(ok)} of 9** ({', '.join(ok) or 'none'}); "
            "all differences: " + ", ".join(f"{m} {rel[m]:+.2f} %" for m in HEADLINE)
        )
    for name in filter(None, args.moonshot.split(",")):
        r = rows[name]
        short = [f"{m} {r[m]:.4f} < {v} (short by {v - r[m]:.4f})" for m, v in MOONSHOT.items() if r[m] < v]
        floor = r["SSIM"] >= SSIM_FLOOR
        verdict = "**reached**" if not short and floor else "**missed**"
        lines.append(
            f"- moonshot (VIF ≥ 1.05 and Qabf ≥ 0.69 with SSIM ≥ 0.95) for `{name}`: {verdict}: "
            f"VIF {r['VIF']:.4f}, Qabf {r['Qabf']:.4f}, SSIM {r['SSIM']:.4f}"
            + (f"; {'; '.join(short)}" if short else "")
        )
    text = "\n".join(lines)
    print(text)
    if args.out:
        with args.out.open("a") as fh:
            fh.write("\n\n" + text + "\n")


if __name__ == "__main__":
    main()
