"""SGDFuse weights trained by ``samfuse train`` on ``msrs``: all ``cddfuse`` metrics for stage 1 alone, full
SGDFuse, the paper's ablations and the classical baselines, side by side.

Every row is the real command in a subprocess: ``samfuse fuse`` (with ``--masks`` for the rows that use them,
``--steps``, ``--seed`` and ``--param`` for the ablations) into ``--work``, then ``samfuse eval --convention
cddfuse --metrics all`` on the fused folder; the baselines are ``samfuse eval --data msrs --method M``. Fused
images, per-image CSVs and fusion times are kept in ``--work`` and reused (keyed by the weights' SHA-256, the
steps and the seed; delete them to recompute).

Usage::

    python benchmarks/sgdfuse_msrs.py --weights RUN2/weights/sgdfuse.safetensors \\
        [--stage1 RUN1/weights/sgdfuse_stage1.safetensors] [--steps 10] [--seed 0] [--masks regions] \\
        [--mask-cache DIR] [--out benchmarks/results/sgdfuse_msrs.md] [--work /tmp/sgdfuse_msrs] [--jobs 2]

Rows: ``average``, ``max``, ``laplacian``; stage 1 alone (``sgdfuse-stage1``; the ablation "no diffusion" is
this same network, ``--param diffusion=false`` returns exactly stage 1's output); full SGDFuse; no semantic
guidance (``--param guidance=false``: empty mask channels); no HFAH (``--param use_hfah=false``: the sampler's
own output). ``--stage1`` defaults to ``--weights`` (the full file holds the frozen stage 1).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from msrs_table import (
    BASELINES,
    DATA,
    REPO,
    direction,
    evaluate_fused,
    evaluate_method,
    machine,
    run,
    sha,
    table,
    wins,
    write_report,
)

VARIANTS = {
    "SGDFuse (full)": [],
    "no semantic guidance (guidance=false)": ["--param", "guidance=false"],
    "no HFAH (use_hfah=false)": ["--param", "use_hfah=false"],
}


def fuse(args: argparse.Namespace, method: str, weights: Path, extra: list[str], key: str) -> tuple[Path, float]:
    out = args.work / key
    cmd = ["fuse", "--ir", str(DATA / "MSRS" / "ir"), "--vi", str(DATA / "MSRS" / "vi"), "--out", str(out),
           "--method", method, "--weights", str(weights), *extra]  # fmt: skip
    timing = args.work / f"{key}.seconds"
    if timing.is_file():  # fused in an earlier run of this script: its time, not the skip's
        return out, float(timing.read_text())
    seconds = run(cmd)
    timing.write_text(f"{seconds:.3f}\n")
    print(f"  fuse {key}: {seconds:.0f} s", file=sys.stderr)
    return out, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", type=Path, required=True, help="full SGDFuse weights (.safetensors)")
    ap.add_argument("--stage1", type=Path, default=None, help="stage-1 weights (default: --weights)")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--masks", default="regions")
    ap.add_argument("--mask-cache", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "sgdfuse_msrs.md")
    ap.add_argument("--work", type=Path, default=Path("/tmp/sgdfuse_msrs"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--note", default="", help="a line about the weights (runs, steps, wall time)")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    stage1 = args.stage1 or args.weights
    higher = direction()
    started = machine()
    print(started, file=sys.stderr)

    rows: dict[str, dict[str, float]] = {m: evaluate_method(m, None, args.work, args.jobs) for m in BASELINES}
    seconds: dict[str, float] = {}
    key = f"stage1-{sha(stage1)}"
    fused, seconds["stage 1 alone (sgdfuse-stage1)"] = fuse(args, "sgdfuse-stage1", stage1, [], key)
    rows["stage 1 alone (sgdfuse-stage1)"] = evaluate_fused(fused, args.work / f"{key}.csv", args.jobs)
    masks = ["--masks", args.masks] + (["--mask-cache", str(args.mask_cache)] if args.mask_cache else [])
    sampling = ["--steps", str(args.steps), "--seed", str(args.seed)]
    for label, extra in VARIANTS.items():
        tag = "-".join(x.split("=")[0] for x in extra[1::2]) or "full"
        key = f"sgdfuse-{sha(args.weights)}-{tag}-s{args.steps}-seed{args.seed}"
        uses_masks = "guidance=false" not in extra
        extra = [*sampling, *(masks if uses_masks else []), *extra]
        fused, seconds[label] = fuse(args, "sgdfuse", args.weights, extra, key)
        rows[label] = evaluate_fused(fused, args.work / f"{key}.csv", args.jobs)

    names = [n for n in rows["SGDFuse (full)"] if n != "n"]
    full, s1 = rows["SGDFuse (full)"], rows["stage 1 alone (sgdfuse-stage1)"]
    beats = wins(full, [rows[m] for m in BASELINES], higher)
    over_s1 = wins(full, [s1], higher)
    md = [
        "# SGDFuse: samfuse-trained weights on msrs (cddfuse metrics)",
        "",
        f"Command: `python benchmarks/sgdfuse_msrs.py {' '.join(sys.argv[1:])}`",
        "",
        f"Machine: {started}",
        "",
        f"Weights: `{args.weights}` (sha256 {sha(args.weights)}…), stage 1 `{stage1}` (sha256 {sha(stage1)}…). "
        f"{args.note}".rstrip(),
        "",
        f"SGDFuse rows: `samfuse fuse --method sgdfuse --steps {args.steps} --seed {args.seed} --masks {args.masks}` "
        "(+ the `--param` of the row), then `samfuse eval --convention cddfuse --metrics all`; the mean over the "
        'images (n). ↑ higher is better, ↓ lower; bold = best in the column. "No diffusion" '
        "(`--param diffusion=false`) is stage 1's output, the stage-1 row.",
        "",
        table(rows, higher),
        "",
        f"Full SGDFuse beats every classical baseline ({', '.join(BASELINES)}) on {len(beats)} of {len(names)} "
        "metrics" + (f": {', '.join(beats)}." if beats else "."),
        f"Full SGDFuse beats stage 1 alone on {len(over_s1)} of {len(names)} metrics"
        + (f": {', '.join(over_s1)}." if over_s1 else "."),
        "",
        "Wall seconds of each fusion command (106 pairs, including start-up and mask cache reads; on a shared "
        "machine these carry its load):",
        "",
        "| row | s | s per pair |",
        "|---|---|---|",
        *(f"| {k} | {v:.0f} | {v / max(1, int(rows[k]['n'])):.2f} |" for k, v in seconds.items()),
        "",
        f"Finished on: {machine()}",
        "",
    ]
    write_report(args.out, md)


if __name__ == "__main__":
    main()
