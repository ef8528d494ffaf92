"""README figure: one MSRS pair with its weight-free masks overlaid.

Usage: python benchmarks/mask_figure.py [--stem 00081D] [--out docs/images/masks_msrs.png]

Row 1: IR, ``regions`` on IR, ``thermal`` on IR.  Row 2: visible, ``regions`` on visible, and SGDFuse's one
channel per modality (``modality_mask``) from the ``regions`` masks: IR channel red, VIS channel green, both
yellow.  Each panel is 320×240 (INTER_AREA); the PNG is palette-quantised to stay small.  No SAM overlay:
no real SAM/MobileSAM checkpoint is available on this machine (random weights give meaningless masks).
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import numpy as np
from PIL import Image

from figure_panels import msrs_pair, panel
from samfuse.semantics import as_rgb_uint8, get_provider, modality_mask, overlay


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stem", default="00081D")
    parser.add_argument("--out", type=Path, default=Path("docs/images/masks_msrs.png"))
    args = parser.parse_args()
    ir, vi = msrs_pair(args.stem)
    regions, thermal = get_provider("regions"), get_provider("thermal")
    r_ir, r_vi, t_ir = regions(ir), regions(vi), thermal(ir)

    m_ir = modality_mask(r_ir, ir, modality="ir")
    m_vi = modality_mask(r_vi, modality="vis")
    chan = as_rgb_uint8(vi).astype(np.float32)
    tint = np.zeros_like(chan)
    tint[..., 0] = 255 * m_ir
    tint[..., 1] = 255 * m_vi
    any_m = (m_ir | m_vi)[..., None]
    chan = np.where(any_m, 0.45 * chan + 0.55 * tint, chan).round().astype(np.uint8)

    top = [
        panel(ir, f"IR {args.stem}"),
        panel(overlay(ir, r_ir), f"regions: {len(r_ir)} masks"),
        panel(overlay(ir, t_ir), f"thermal: {len(t_ir)} masks"),
    ]
    bottom = [
        panel(vi, "visible"),
        panel(overlay(vi, r_vi), f"regions: {len(r_vi)} masks"),
        panel(chan, "modality_mask: IR red, VIS green"),
    ]
    grid = np.concatenate([np.concatenate(top, axis=1), np.concatenate(bottom, axis=1)], axis=0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(args.out, optimize=True)
    size = args.out.stat().st_size
    where = f"{platform.node()} ({platform.processor() or platform.machine()})"
    print(f"wrote {args.out} ({size / 1024:.0f} KiB) on {where}")


if __name__ == "__main__":
    main()
