"""BT.601 luma, written once: ``Y = 0.299 R + 0.587 G + 0.114 B``.

:func:`rgb_luma` is the NumPy form, used wherever an array (not a tensor) is reduced to grey: the mask providers'
grey input, the training pairs' colour IR, the colour-fidelity metric's Y, the salience check, the temporal
metric. Tensors go through kornia (:func:`samfuse.io.colour.split_luma` / :func:`samfuse.io.colour.luma`), whose
``rgb_to_ycbcr`` uses the same three weights. Needs only NumPy semantics (no torch), so the metrics' worker
processes and ``samfuse --help`` stay light.

Not covered on purpose: conventions that reproduce another tool's own weights or order of operations
(:mod:`samfuse.metrics.conventions`' MATLAB ``rgb2gray`` weights; :func:`samfuse.metrics.reading.grey_cddfuse`,
which takes these weights but adds them in OpenCV's float32 B, G, R order).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["BT601", "rgb_luma"]

#: The BT.601 luma weights of R, G and B.
BT601: tuple[float, float, float] = (0.299, 0.587, 0.114)


def rgb_luma(rgb: Any) -> Any:
    """H×W×3 **RGB** array (any float or integer dtype, any scale) → H×W BT.601 luma on the same scale.

    Computed as ``0.299 * R + 0.587 * G + 0.114 * B``, left to right, in the dtype NumPy gives a Python float
    times the array (float32 stays float32; float64 and integer inputs give float64)."""
    wr, wg, wb = BT601
    y = np.multiply(rgb[..., 0], wr)  # the same sum, accumulated in place: two frame-sized arrays, not four
    term = np.multiply(rgb[..., 1], wg)
    y += term
    y += np.multiply(rgb[..., 2], wb, out=term)
    return y
