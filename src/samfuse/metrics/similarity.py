"""Error and correlation metrics: PSNR, RMSE, MSE, CC, SCD.

References: SCD, Aslantas & Bendes, "A new image quality metric for image fusion: the sum of the
correlations of differences", AEU 69(12) (2015); CC (Pearson correlation) and MSE/PSNR as in the CDDFuse
evaluator; VIFB's PSNR and RMSE use a non-standard "mse" (see :func:`mse_vifb`).
"""

from __future__ import annotations

import numpy as np

from samfuse.metrics._float32 import mean32, sum32

# --- VIFB -------------------------------------------------------------------------------------------------


def mse_vifb(a: np.ndarray, b: np.ndarray) -> float:
    """VIFB's "mse": sqrt(Σ(a - b)²) / (H·W), the root of the sum of squares over the pixel count (float64)."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return float(np.sqrt(np.sum(d * d)) / d.size)


def rmse_vifb(vi: np.ndarray, ir: np.ndarray, fused: np.ndarray) -> float:
    """VIFB ``metricsRmse`` core: (mse(VI, F) + mse(IR, F)) / 2 with :func:`mse_vifb`."""
    return (mse_vifb(vi, fused) + mse_vifb(ir, fused)) / 2


def psnr_vifb(vi: np.ndarray, ir: np.ndarray, fused: np.ndarray) -> float:
    """VIFB ``metricsPsnr`` core (dB): 20·log10(255 / sqrt(MES)), MES = :func:`rmse_vifb`."""
    return float(20 * np.log10(255.0 / np.sqrt(rmse_vifb(vi, ir, fused))))


# --- CDDFuse (float32 arithmetic for its float32 images) --------------------------------------------------


def pearson_cddfuse(x: np.ndarray, y: np.ndarray) -> np.floating:
    """Pearson r = Σ(x - x̄)(y - ȳ) / sqrt(Σ(x - x̄)² · Σ(y - ȳ)²), with NumPy reductions in the input dtype."""
    dx = x - mean32(x)
    dy = y - mean32(y)
    return sum32(dx * dy) / np.sqrt(sum32(dx**2) * sum32(dy**2))


def mse_cddfuse(ir: np.ndarray, vi: np.ndarray, fused: np.ndarray) -> float:
    """CDDFuse ``MSE``: (mean((A - F)²) + mean((B - F)²)) / 2, A = IR, B = VI (means in the image dtype)."""
    s = mean32((ir - fused) ** 2) + mean32((vi - fused) ** 2)
    return float(s) / 2


def cc_cddfuse(ir: np.ndarray, vi: np.ndarray, fused: np.ndarray) -> float:
    """CDDFuse ``CC``: (r(A, F) + r(B, F)) / 2, Pearson correlation coefficients."""
    return float(pearson_cddfuse(ir, fused) + pearson_cddfuse(vi, fused)) / 2


def psnr_cddfuse(ir: np.ndarray, vi: np.ndarray, fused: np.ndarray) -> float:
    """CDDFuse ``PSNR`` (dB): 10·log10(max(F)² / MSE). The peak is the fused image's maximum, not 255."""
    peak_sq = np.float64(np.max(fused) ** 2)
    with np.errstate(divide="ignore"):
        return float(10 * np.log10(peak_sq / np.float64(mse_cddfuse(ir, vi, fused))))


def scd(ir: np.ndarray, vi: np.ndarray, fused: np.ndarray) -> float:
    """Sum of the correlations of differences: r(A, F - B) + r(B, F - A) (Aslantas & Bendes 2015).

    Computed in the input dtype (float32 for CDDFuse's reader, as its evaluator does).
    """
    return float(pearson_cddfuse(ir, fused - vi) + pearson_cddfuse(vi, fused - ir))
