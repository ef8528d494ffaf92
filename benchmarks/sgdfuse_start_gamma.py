"""Choose SGDFuse's SDEdit start (``start_gamma``) on held-out pairs: the 5 MSRS *training* pairs
(``msrs-train``), never the ``msrs`` test set the tables report.

For each ``start_gamma`` in ``--gammas`` (at ``--steps`` sampling steps, seed 0) and for stage 1 alone, runs
``samfuse fuse`` on ``MSRS/train`` and ``samfuse eval --convention cddfuse --metrics all``, and prints a table of
means with the rank-sum over the cddfuse metrics (rank 1 = best in a column; MSE ranked low-is-better). The
value with the lowest rank-sum is the one to store in the shipped file's configuration.

    python benchmarks/sgdfuse_start_gamma.py --weights W [--gammas 0.86,0.95,0.99,0.999] [--steps 10]
        [--mask-cache DIR] [--out benchmarks/results/sgdfuse_start_gamma.md] [--work /tmp/sgdfuse_gamma]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from msrs_table import DATA, REPO, direction, evaluate_fused, machine, run, sha, table, write_report

METRICS = ("EN", "SD", "SF", "AG", "MI", "SCD", "VIF", "Qabf", "SSIM", "MSE", "CC", "PSNR")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", type=Path, required=True)
    ap.add_argument("--gammas", default="0.86,0.95,0.99,0.999")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--mask-cache", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "sgdfuse_start_gamma.md")
    ap.add_argument("--work", type=Path, default=Path("/tmp/sgdfuse_gamma"))
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    src = ["--ir", str(DATA / "MSRS" / "train" / "ir"), "--vi", str(DATA / "MSRS" / "train" / "vi")]
    masks = ["--masks", "regions"] + (["--mask-cache", str(args.mask_cache)] if args.mask_cache else [])
    started = machine()
    key = f"stage1-{sha(args.weights)}"
    run(["fuse", *src, "--out", str(args.work / key), "--method", "sgdfuse-stage1", "--weights", str(args.weights)])
    rows = {"stage 1 alone": evaluate_fused(args.work / key, args.work / f"{key}.csv", 1, "MSRS/train")}
    for g in args.gammas.split(","):
        key = f"sgdfuse-{sha(args.weights)}-g{g}-s{args.steps}"
        run(["fuse", *src, "--out", str(args.work / key), "--method", "sgdfuse", "--weights", str(args.weights),
             *masks, "--steps", str(args.steps), "--seed", "0", "--param", f"start_gamma={g}"])  # fmt: skip
        rows[f"sgdfuse start_gamma={g}"] = evaluate_fused(args.work / key, args.work / f"{key}.csv", 1, "MSRS/train")
    higher = direction()
    rows = {k: {m: v[m] for m in (*METRICS, "n")} for k, v in rows.items()}
    ranks = {k: 0 for k in rows}
    for m in METRICS:
        order = sorted(rows, key=lambda k, m=m: -rows[k][m] if higher.get(m, True) else rows[k][m])
        for i, k in enumerate(order, 1):
            ranks[k] += i
    diffusion = {k: r for k, r in ranks.items() if k.startswith("sgdfuse")}
    best = min(diffusion, key=diffusion.get)
    md = [
        "# SGDFuse: the SDEdit start chosen on msrs-train (5 pairs, not the test set)",
        "",
        f"Command: `python benchmarks/sgdfuse_start_gamma.py {' '.join(sys.argv[1:])}`",
        "",
        f"Machine: {started}",
        "",
        f"Weights `{args.weights}` (sha256 {sha(args.weights)}…), {args.steps} steps, seed 0, `regions` masks.",
        "",
        table(rows, higher),
        "",
        "| row | rank-sum over the 12 metrics (lower is better) |",
        "|---|---|",
        *(f"| {k} | {r} |" for k, r in ranks.items()),
        "",
        f"Lowest rank-sum among the diffusion rows: **{best}**.",
        "",
    ]
    write_report(args.out, md)


if __name__ == "__main__":
    main()
