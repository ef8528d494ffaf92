"""Salience of labelled targets with no detector: target-to-ring contrast in the fused image vs its sources.

For each box the contrast is ``|mean(inside) - mean(ring)|`` in grey levels (0..255, BT.601 luma of colour
images), where the ring is the band between the box and the box grown by half its smaller side (at least 4 px)
on every side, clipped to the image. The question it answers: do warm pedestrians stay as salient in the fused
image as in the IR image (ratio ``C_F / C_IR``), and do they gain over the visible image (``C_F / C_VIS``)?
Boxes under 2 px a side, or whose ring is empty, are left out.
"""

from __future__ import annotations

import numpy as np

from samfuse.io.bt601 import rgb_luma

from .labels import Box


def luma(img: np.ndarray) -> np.ndarray:
    """Grey levels as float64 (0..255): BT.601 luma of an RGB image, the image itself when grey."""
    a = img.astype(np.float64)
    if a.ndim == 3:
        a = rgb_luma(a)
    return a


def box_contrast(grey: np.ndarray, box: Box) -> float | None:
    """``|mean(inside) - mean(ring)|`` of one box on a grey image (None when too small or no ring)."""
    h, w = grey.shape[:2]
    x0, y0 = max(0, round(box.x)), max(0, round(box.y))
    x1, y1 = min(w, round(box.x + box.w)), min(h, round(box.y + box.h))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    m = max(4, round(min(x1 - x0, y1 - y0) / 2))
    X0, Y0, X1, Y1 = max(0, x0 - m), max(0, y0 - m), min(w, x1 + m), min(h, y1 + m)
    outer = grey[Y0:Y1, X0:X1]
    inner = grey[y0:y1, x0:x1]
    ring_n = outer.size - inner.size
    if ring_n <= 0:
        return None
    ring_mean = (outer.sum() - inner.sum()) / ring_n
    return float(abs(inner.mean() - ring_mean))


def contrasts(grey: np.ndarray, boxes: list[Box]) -> list[float | None]:
    """:func:`box_contrast` of every box."""
    return [box_contrast(grey, b) for b in boxes]
