"""Single-image statistics of the fused image: SD, SF, AG, EI.

References: spatial frequency (SF), Eskicioglu & Fisher, "Image quality measures and their performance",
IEEE Trans. Commun. 43(12) (1995); average gradient (AG) and edge intensity (EI) as in the VIFB toolbox
(Zhang, Ye & Xiao, "VIFB: a visible and infrared image fusion benchmark", CVPRW 2020).

Two codebases, two sets of conventions (see ``docs/metrics.md``): the ``*_vifb`` functions compute in float64
on MATLAB's layout; the ``*_cddfuse`` functions keep the float32 arithmetic of CDDFuse's evaluator (NumPy's
reductions in NumPy 1.21 order, see :mod:`samfuse.metrics._float32`).
"""

from __future__ import annotations

import numpy as np

from samfuse.metrics._filters import sobel_replicate
from samfuse.metrics._float32 import mean32, std32


def _channels(img: np.ndarray) -> list[np.ndarray]:
    return [img] if img.ndim == 2 else [img[:, :, k] for k in range(img.shape[2])]


# --- SD ---------------------------------------------------------------------------------------------------


def sd_vifb(channel: np.ndarray) -> float:
    """VIFB ``metricsVariance`` core: population standard deviation sqrt(Σ(x - x̄)²/(H·W)), float64."""
    return float(np.std(np.asarray(channel, dtype=np.float64)))


def sd_cddfuse(img: np.ndarray) -> float:
    """CDDFuse ``SD``: ``np.std`` (ddof = 0) in the image's dtype (float32 for its reader)."""
    return float(std32(img))


# --- SF ---------------------------------------------------------------------------------------------------


def sf_vifb(fused: np.ndarray) -> float:
    """VIFB ``metricsSpatial_frequency``: SF = sqrt(RF + CF) on the H×(C·W) matrix of channels side by side.

    MATLAB's ``[m, n] = size(F)`` on an H×W×3 array gives n = 3W and ``F(i, j)`` walks the channels laid side by
    side, so the two channel seams enter the row differences. RF = Σ_rows Σ_{j≥2} (X(i,j) - X(i,j-1))² / (H·3W)
    and CF = Σ_cols Σ_{i≥2} (X(i,j) - X(i-1,j))² / (H·3W): both divided by the pixel count.
    """
    x = np.hstack(_channels(np.asarray(fused, dtype=np.float64)))
    n = x.size
    rf = np.sum(np.diff(x, axis=1) ** 2) / n
    cf = np.sum(np.diff(x, axis=0) ** 2) / n
    return float(np.sqrt(rf + cf))


def sf_cddfuse(img: np.ndarray) -> float:
    """CDDFuse ``SF``: sqrt(mean((x[:,1:] - x[:,:-1])²) + mean((x[1:,:] - x[:-1,:])²)), in the image's dtype."""
    return float(np.sqrt(mean32((img[:, 1:] - img[:, :-1]) ** 2) + mean32((img[1:, :] - img[:-1, :]) ** 2)))


# --- AG ---------------------------------------------------------------------------------------------------


def _gradients(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Central differences inside, one-sided at the borders (MATLAB ``gradient`` = ``np.gradient``)."""
    gy, gx = np.gradient(img)
    return gx, gy


def ag_vifb(channel: np.ndarray) -> float:
    """VIFB ``metricsAvg_gradient`` core: Σ_all sqrt((gx² + gy²)/2) / ((H-1)(W-1)), float64.

    The sum runs over all H·W pixels but the divisor is (H-1)(W-1), as in the toolbox.
    """
    x = np.asarray(channel, dtype=np.float64)
    h, w = x.shape
    gx, gy = _gradients(x)
    return float(np.sum(np.sqrt((gx * gx + gy * gy) / 2)) / ((h - 1) * (w - 1)))


def ag_cddfuse(img: np.ndarray) -> float:
    """CDDFuse ``AG``: mean over all pixels of sqrt((Gx² + Gy²)/2), ``np.gradient`` differences, image dtype."""
    gx, gy = _gradients(img)
    return float(mean32(np.sqrt((gx**2 + gy**2) / 2)))


# --- EI ---------------------------------------------------------------------------------------------------


def ei_vifb(fused: np.ndarray) -> float:
    """VIFB ``metricsEdge_intensity``: mean of sqrt(gx² + gy²) over all pixels and channels.

    gx, gy: ``imfilter(F, fspecial('sobel'), 'replicate')`` and the transposed kernel (correlation with
    nearest-edge padding), per channel, float64.
    """
    total = 0.0
    chans = _channels(np.asarray(fused, dtype=np.float64))
    for c in chans:
        gy, gx = sobel_replicate(c)
        total += float(np.mean(np.sqrt(gx * gx + gy * gy)))
    return total / len(chans)
