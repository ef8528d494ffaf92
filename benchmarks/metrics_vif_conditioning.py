"""How well-conditioned is CDDFuse's VIF? samfuse and a direct ``convolve2d`` port, both vs the evaluator's CSV.

For the VIFB rows of the given images (default: carLight and elecbike, the worst ones; ``--all`` for all 168
rows, ~6 minutes), prints the relative deviation from ``cddfuse_metrics_vifb.csv`` of samfuse's VIF and of the
straightforward ``scipy.signal.convolve2d`` implementation in ``metrics_speed.py``, and between the two.
Usage: ``python benchmarks/metrics_vif_conditioning.py [--all]``.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from samfuse.metrics import CONVENTIONS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from metrics_speed import machine, vifp_convolve2d  # noqa: E402

REF = Path(__file__).resolve().parents[1] / ".." / "shared" / "reference"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true")
    parser.add_argument("--images", default="carLight,elecbike")
    args = parser.parse_args()
    images = set(args.images.split(","))
    conv = CONVENTIONS["cddfuse"]
    root = REF.resolve() / "vifb"
    with open(REF / "cddfuse/cddfuse_metrics_vifb.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if args.all or r["image"] in images]
    print(f"machine: {machine()}\n")
    print("| method | image | samfuse vs CSV | convolve2d port vs CSV | samfuse vs port |")
    print("|---|---|---|---|---|")
    worst = [0.0, 0.0, 0.0]
    for r in rows:
        folders = (root / "ir", root / "vi", root / "fused" / r["method"])
        ir, vi, f = (conv.read(next(d.glob(r["image"] + ".*"))) for d in folders)
        ref = float(r["VIF"])
        ours = conv.compute("VIF", ir, vi, f)
        port = vifp_convolve2d(ir, f) + vifp_convolve2d(vi, f)
        devs = [abs(ours - ref) / ref, abs(port - ref) / ref, abs(ours - port) / port]
        worst = [max(w, d) for w, d in zip(worst, devs, strict=True)]
        print(f"| {r['method']} | {r['image']} | {devs[0]:.1e} | {devs[1]:.1e} | {devs[2]:.1e} |")
    print(f"| **max over {len(rows)} rows** | | {worst[0]:.1e} | {worst[1]:.1e} | {worst[2]:.1e} |")


if __name__ == "__main__":
    main()
