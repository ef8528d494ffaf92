"""Fuse and evaluate candidate methods/weights on validation (``msrs-val-128``) or, for final tables, on ``msrs``.

Choose on validation, never on the test set: ``--data msrs`` is for the final table only.

``msrs-val-128`` is the 80 held-out pairs (40 day, 40 night) of the MSRS training split that no training set
contains (``samfuse data``; ``samfuse.data.datasets.validation_stems``). Its files are 640×480 originals squashed
to 128×128; this script writes them once into ``WORK/val/{ir,vi}`` at 171×128 (bicubic, exactly as training
reads them: ``samfuse.data.training.read_pair``), then for every candidate runs the real commands in a
subprocess::

    samfuse fuse --ir WORK/val/ir --vi WORK/val/vi --out WORK/fused/KEY --method M [--weights W] [--param K=V]
    samfuse eval --ir WORK/val/ir --vi WORK/val/vi --fused WORK/fused/KEY --convention cddfuse --metrics all

and prints a Markdown table of the means of the 9 headline metrics (EN, SD, SF, AG, MI, SCD, VIF, Qabf, SSIM)
plus colour fidelity CF, the fused luminance's black and white levels (p1, p99: mean 1st and 99th percentile,
8-bit), the rank sum over the 9 (the rule that picks defaults: lowest rank sum wins, ties broken by the higher
VIF), and how many of the 9 each candidate has at or above a reference row. With ``--out X.md`` it also writes
``X.json``: the means of every row, which ``tests/test_default_method.py`` re-checks the default against.

Usage::

    python benchmarks/validation.py --out benchmarks/results/validation_sage.md --reference authors \\
        authors=sage-student@../shared/reference/sage/sage_student_official.pt laplacian=laplacian \\
        mine=sage-student@RUN/weights/student.safetensors [--work /tmp/validation] [--jobs 2]

A candidate is ``LABEL=METHOD[@WEIGHTS][,KEY=VALUE...]`` (``WEIGHTS`` a file or a weights name such as
``sage.authors``; method options as ``samfuse fuse --param``). ``--data msrs`` evaluates the 106 MSRS test pairs
as stored (640×480) instead; ``--all-metrics`` adds every other cddfuse column to the table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from msrs_table import direction, machine, means_of, run, sha, write_report
from samfuse.selection import HEADLINE, at_or_above, best, rank_sums


def materialise(work: Path) -> tuple[Path, Path]:
    """``WORK/val/{ir,vi}``: the validation pairs at their training geometry (171×128), written once."""
    import cv2

    from samfuse.data import get_dataset
    from samfuse.data.training import read_pair

    ir_dir, vi_dir = work / "val" / "ir", work / "val" / "vi"
    pairs = get_dataset("msrs-val-128").pairs
    if ir_dir.is_dir() and len(list(ir_dir.glob("*.png"))) == len(pairs):
        return ir_dir, vi_dir
    ir_dir.mkdir(parents=True, exist_ok=True)
    vi_dir.mkdir(parents=True, exist_ok=True)
    for p in pairs:
        ir, vi = read_pair(p)
        cv2.imwrite(str(ir_dir / f"{p.stem}.png"), ir)
        cv2.imwrite(str(vi_dir / f"{p.stem}.png"), vi[..., ::-1] if vi.ndim == 3 else vi)
    return ir_dir, vi_dir


def parse(spec: str) -> tuple[str, str, Path | None, list[str]]:
    label, _, rest = spec.partition("=")
    head, *params = rest.split(",")
    method, _, weights = head.partition("@")
    if not label or not method:
        raise SystemExit(f"error: candidate {spec!r}: expected LABEL=METHOD[@WEIGHTS][,KEY=VALUE...]")
    return label, method, Path(weights) if weights else None, params


def evaluate(spec: str, ir: Path, vi: Path, work: Path, jobs: int) -> dict[str, float]:
    label, method, weights, params = parse(spec)
    from samfuse.models.pretrained import default_tag, lookup

    if weights is not None and not weights.is_file():  # a weights name: key the folder by its file's content
        tag = lookup(method, str(weights))
        weights = tag.path if tag is not None else weights
    elif weights is None and default_tag(method) is not None:  # the default weights: key by their content too
        weights = default_tag(method).path  # type: ignore[union-attr]
    wkey = [] if weights is None else [sha(weights)]
    key = "-".join([method, *wkey, *(p.replace("=", "_") for p in params)])
    fused, table = work / "fused" / key, work / f"{key}.csv"
    if not table.is_file():  # reused when present (delete it to recompute)
        cmd = ["fuse", "--ir", str(ir), "--vi", str(vi), "--out", str(fused), "--method", method]
        cmd += ["--weights", str(weights)] if weights else []
        for p in params:
            cmd += ["--param", p]
        t = run(cmd)
        t += run(["eval", "--ir", str(ir), "--vi", str(vi), "--fused", str(fused), "--convention", "cddfuse",
                  "--metrics", "all", "--out", str(table), "--jobs", str(jobs)])  # fmt: skip
        print(f"  {label} ({key}): {t:.0f} s", file=sys.stderr)
    return {**means_of(table), **levels(fused)}


def levels(fused: Path) -> dict[str, float]:
    """Black and white level of the fused luminance: the mean over images of its 1st and 99th percentiles (8-bit,
    OpenCV's grey conversion). A lifted black level with lowered white level is the "grey haze" of issue 24."""
    import cv2

    lo, hi = [], []
    for f in sorted(fused.iterdir()):
        y = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
        if y is not None:
            lo.append(np.percentile(y, 1))
            hi.append(np.percentile(y, 99))
    return {"p1": float(np.mean(lo)), "p99": float(np.mean(hi))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("candidates", nargs="+", help="LABEL=METHOD[@WEIGHTS][,KEY=VALUE...]")
    ap.add_argument("--reference", action="append", default=[], help="label(s) to count 'at or above' against")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--work", type=Path, default=Path("/tmp/validation"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--note", default="")
    ap.add_argument("--data", choices=["msrs-val-128", "msrs"], default="msrs-val-128")
    ap.add_argument("--all-metrics", action="store_true")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    higher = direction()
    started = machine()
    if args.data == "msrs":
        from msrs_table import DATA

        ir, vi = DATA / "MSRS" / "ir", DATA / "MSRS" / "vi"
        title = "`msrs` (the 106 MSRS test pairs, 640×480): final table, not used for any choice"
    else:
        ir, vi = materialise(args.work)
        title = "Validation (`msrs-val-128`: 80 held-out MSRS training pairs at 171×128)"
    rows = {parse(c)[0]: evaluate(c, ir, vi, args.work, args.jobs) for c in args.candidates}
    ranks = rank_sums(rows)
    extra = (*HEADLINE, "CF", "n", "p1", "p99")
    rest = [m for m in next(iter(rows.values())) if m not in extra] if args.all_metrics else []
    cols = [*HEADLINE, "CF", *rest, "p1", "p99"]
    higher = {**higher, "p1": False, "p99": True}
    head = "| candidate | n | " + " | ".join(f"{m} {'↑' if higher.get(m, True) else '↓'}" for m in cols)
    md = [
        f"# {title}",
        "",
        f"Machine: {started}. Command: `python benchmarks/validation.py {' '.join(sys.argv[1:])}`.",
        *([args.note] if args.note else []),
        "",
        head + " | rank sum (9) | " + " | ".join(f"≥ {r} (of 9)" for r in args.reference) + " |",
        "|---|---|" + "---|" * (len(cols) + 1 + len(args.reference)),
    ]
    for label, r in rows.items():
        top = {m: (max if higher.get(m, True) else min)(x[m] for x in rows.values() if np.isfinite(x[m])) for m in cols}
        cells = [f"**{r[m]:.4f}**" if r[m] == top[m] else f"{r[m]:.4f}" for m in cols]
        refs = [str(len(at_or_above(r, rows[ref]))) for ref in args.reference]
        md.append(
            f"| {label} | {int(r['n'])} | " + " | ".join(cells) + f" | {ranks[label]:.1f} | " + " | ".join(refs) + " |"
        )
    order = sorted(rows, key=lambda k: (ranks[k], -rows[k]["VIF"]))
    md += ["", f"Best by the rank-sum rule (`samfuse.selection`): **{best(rows)}** (then {', '.join(order[1:])})."]
    if args.out:
        write_report(args.out, md)
        record = {"data": args.data, "command": " ".join(sys.argv[1:]), "machine": started, "rows": rows}
        args.out.with_suffix(".json").write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    else:
        print("\n".join(md))


if __name__ == "__main__":
    main()
