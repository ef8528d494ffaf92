"""README figure: one MSRS pair (IR, visible) and its fusion by the registered baselines.

Usage: python benchmarks/fuse_figure.py [--stem 00107D] [--out docs/images/fused_msrs.jpg]
Reads ../shared/datasets/MSRS (or $SAMFUSE_DATA_ROOT); each panel is downscaled to 320×240 and labelled.
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import numpy as np

import samfuse
from figure_panels import msrs_pair, panel
from samfuse.io import write_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stem", default="00107D")
    parser.add_argument("--out", type=Path, default=Path("docs/images/fused_msrs.jpg"))
    args = parser.parse_args()
    ir, vi = msrs_pair(args.stem)
    panels = [panel(ir, f"IR {args.stem}"), panel(vi, "visible")]
    for method in ("average", "max", "laplacian"):
        panels.append(panel(samfuse.fuse(ir, vi, method=method), f"samfuse {method}"))
    write_image(args.out, np.concatenate(panels, axis=1), overwrite=True)
    print(f"wrote {args.out} on {platform.node()} ({platform.processor() or platform.machine()})")


if __name__ == "__main__":
    main()
