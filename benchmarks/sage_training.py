"""SAGE weights trained by ``samfuse train sage`` on ``msrs``: all ``cddfuse`` metrics, side by side with the
classical baselines and the authors' released student, and the L_cs ablation (two runs, with and without L_cs).

Every row is one ``samfuse eval --data msrs --method M [--weights W] --convention cddfuse --metrics all`` run
(the command itself, in a subprocess: fusion, reading and metrics are exactly the command's); this script only
collects the per-image CSVs into tables of means. The fused images and CSVs go to ``--work`` (kept between runs:
the fused images of a given weights file are reused, keyed by its SHA-256).

Usage::

    python benchmarks/sage_training.py --student RUN/weights/student.safetensors \\
        [--ablation WITH_LCS.safetensors WITHOUT_LCS.safetensors] [--label "samfuse cpu"] \\
        [--out benchmarks/results/sage_training.md] [--work /tmp/sage_training] [--jobs 2]

Output (Markdown, ``--out``): the machine line; table 1, one row per method (baselines ``average``, ``max``,
``laplacian``; the authors' student ``sage_student_official.pt``; ours), one column per metric (↑ higher is
better, ↓ lower), the best value of each column in bold; a line saying on how many metrics ours beats every
classical baseline, and where it is behind the authors; table 2, the ablation: with L_cs, without, and the
difference (with − without) per metric.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from msrs_table import BASELINES, REPO, direction, machine, sha, table, wins, write_report
from msrs_table import evaluate_method as evaluate

AUTHORS = REPO.parent / "shared" / "reference" / "sage" / "sage_student_official.pt"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--student", type=Path, required=True, help="our student weights (.safetensors)")
    ap.add_argument("--label", default="samfuse sage (ours)")
    ap.add_argument("--ablation", type=Path, nargs=2, metavar=("WITH_LCS", "WITHOUT_LCS"))
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "sage_training.md")
    ap.add_argument("--work", type=Path, default=Path("/tmp/sage_training"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--note", default="", help="a line about the weights (run, steps, wall time)")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    higher = direction()
    started = machine()
    print(started, file=sys.stderr)

    rows: dict[str, dict[str, float]] = {}
    for m in BASELINES:
        rows[m] = evaluate(m, None, args.work, args.jobs)
    rows["SAGE authors' student (sage_student_official.pt)"] = evaluate("sage-student", AUTHORS, args.work, args.jobs)
    rows[args.label] = ours = evaluate("sage-student", args.student, args.work, args.jobs)
    base = [rows[m] for m in BASELINES]
    beats = wins(ours, base, higher)
    authors = rows["SAGE authors' student (sage_student_official.pt)"]
    behind = [n for n in ours if n != "n" and n not in wins(ours, [authors], higher) and ours[n] != authors[n]]
    names = [n for n in ours if n != "n"]

    md = [
        "# SAGE: samfuse-trained weights on msrs (cddfuse metrics)",
        "",
        f"Command: `python benchmarks/sage_training.py {' '.join(sys.argv[1:])}`",
        "",
        f"Machine: {started}",
        "",
        f"Weights: `{args.student}` (sha256 {sha(args.student)}…). {args.note}".rstrip(),
        "",
        "Each row is `samfuse eval --data msrs --method M [--weights W] --convention cddfuse --metrics all`;",
        "the mean over the images (n). ↑ higher is better, ↓ lower; bold = best in the column.",
        "",
        table(rows, higher),
        "",
        f"Ours beats every classical baseline ({', '.join(BASELINES)}) on {len(beats)} of {len(names)} metrics"
        + (f": {', '.join(beats)}." if beats else "."),
        f"Ours is behind the authors' student on {len(behind)} of {len(names)} metrics"
        + (f": {', '.join(behind)}." if behind else "."),
    ]
    if args.ablation:
        with_lcs = evaluate("sage-student", args.ablation[0], args.work, args.jobs)
        without = evaluate("sage-student", args.ablation[1], args.work, args.jobs)
        ab = {"with L_cs": with_lcs, "without L_cs (lcs_weight=0)": without}
        diff = " | ".join(f"{with_lcs[n] - without[n]:+.4f}" for n in names)
        helped = wins(with_lcs, [without], higher)
        md += [
            "",
            "## L_cs ablation",
            "",
            f"With L_cs: `{args.ablation[0]}` (sha256 {sha(args.ablation[0])}…); without: `{args.ablation[1]}` "
            f"(sha256 {sha(args.ablation[1])}…). Same profile, seed and data; only `--set lcs_weight=0` differs.",
            "",
            table(ab, higher),
            f"| with − without | | {diff} |",
            "",
            f"L_cs helps on {len(helped)} of {len(names)} metrics" + (f": {', '.join(helped)}." if helped else "."),
        ]
    md += ["", f"Finished on: {machine()}", ""]
    write_report(args.out, md)


if __name__ == "__main__":
    main()
