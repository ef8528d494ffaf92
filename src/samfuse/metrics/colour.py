r"""Colour fidelity: how far the fused image's chroma is from the visible image's (issue 24).

.. math::
    CF = \operatorname{mean}_{x}\big(|Cb_F(x) - Cb_V(x)| + |Cr_F(x) - Cr_V(x)|\big)

in 8-bit units, with BT.601 chroma of the 8-bit RGB images (``Cb = 128 + 0.564 (B − Y)``,
``Cr = 128 + 0.713 (R − Y)``, ``Y = 0.299 R + 0.587 G + 0.114 B``, computed in float, not rounded). Lower is
better; 0 when the fused image carries the visible chroma exactly. A grey image has Cb = Cr = 128, so a grey
visible image and a grey fused image give 0, and a method that drops the colour of a colour scene scores the
mean chroma magnitude of that scene. Any method that fuses luminance and puts the visible Cb/Cr back scores
about 1 (8-bit rounding and the clipping of out-of-gamut RGB).

Convention-independent: computed from the files as stored (colour kept), whichever convention reads the grey
images for the other metrics.
"""

from __future__ import annotations

import numpy as np

from samfuse.io.bt601 import rgb_luma

__all__ = ["chroma", "colour_fidelity"]


def chroma(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """BT.601 (Cb, Cr) in 8-bit units (float64) of an H×W (grey) or H×W×3 **RGB** image scaled to 0..255."""
    a = np.asarray(img, dtype=np.float64)
    if a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 1):
        flat = np.full(a.shape[:2], 128.0)
        return flat, flat
    r, b = a[..., 0], a[..., 2]
    y = rgb_luma(a)
    return 128.0 + 0.564 * (b - y), 128.0 + 0.713 * (r - y)


def colour_fidelity(vi: np.ndarray, fused: np.ndarray) -> float:
    """:math:`CF` between a visible and a fused image (H×W or H×W×3 RGB, same size, values 0..255)."""
    cb_v, cr_v = chroma(vi)
    cb_f, cr_f = chroma(fused)
    if cb_v.shape != cb_f.shape:
        raise ValueError(f"visible is {cb_v.shape[1]}x{cb_v.shape[0]} but fused is {cb_f.shape[1]}x{cb_f.shape[0]}")
    return float(np.mean(np.abs(cb_f - cb_v) + np.abs(cr_f - cr_v)))
