"""How well ``thermal`` finds the labelled pedestrians of the 106 MSRS test IR images.

Usage: python benchmarks/thermal_recall.py [--k-low 4 --k-high 8]

A person box (MSRS/detection/infrared, class 0) counts as found when the union of the thermal masks covers
more than 10 % of it.  Also prints the mean share of the image that is marked.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from samfuse.data import resolve_root
from samfuse.io import read_raw
from samfuse.semantics import get_provider


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--k-low", type=float, default=4.0)
    parser.add_argument("--k-high", type=float, default=8.0)
    args = parser.parse_args()
    root = resolve_root() / "MSRS"
    provider = get_provider("thermal", k_low=args.k_low, k_high=args.k_high)
    found = total = 0
    shares, masks_per_image = [], []
    t0 = time.perf_counter()
    for path in sorted((root / "ir").glob("*.png")):
        ir = read_raw(path)
        masks = provider(ir)
        union = masks.masks.any(axis=0) if len(masks) else np.zeros(ir.shape, bool)
        shares.append(union.mean())
        masks_per_image.append(len(masks))
        for line in (root / "detection/infrared" / f"{path.stem}.txt").read_text().splitlines():
            parts = line.split()
            if not parts or parts[0] != "0":
                continue
            cx, cy, w, h = (float(v) for v in parts[1:5])
            x0, y0 = int((cx - w / 2) * 640), int((cy - h / 2) * 480)
            x1, y1 = int((cx + w / 2) * 640) + 1, int((cy + h / 2) * 480) + 1
            total += 1
            found += bool(union[y0:y1, x0:x1].mean() > 0.1)
    dt = time.perf_counter() - t0
    print(f"machine: {platform.node()} ({platform.processor() or platform.machine()})")
    print(
        f"thermal k_low={args.k_low} k_high={args.k_high}: {found}/{total} person boxes found ({found / total:.1%}); "
        f"marked share of the image: mean {np.mean(shares):.1%}; masks per image: median "
        f"{int(np.median(masks_per_image))}, max {max(masks_per_image)}; {len(shares)} images in {dt:.1f} s"
    )


if __name__ == "__main__":
    main()
