"""Information-theoretic metrics: entropy (EN), mutual information (MI), VIFB's cross entropy (CE).

All work on integer grey levels 0..255 taken from the image with a convention-specific rule:

* VIFB EN: ``floor(x)``; VIFB MI: each image min-max stretched to [0, 1], then ``floor(255·x + 0.5)``
  (MATLAB ``int16`` rounds half away from zero); VIFB CE: the integer values as they are.
* CDDFuse EN: ``uint8(round(x))`` (round half to even, wrapping modulo 256); CDDFuse MI: every distinct value
  is a class (scikit-learn ``mutual_info_score``), which for integer images is the 256-level histogram.

References: Shannon entropy, Roberts et al., "Assessment of image fusion procedures using entropy, image
quality, and multispectral classification", J. Appl. Remote Sens. 2 (2008); MI for fusion: Qu, Zhang & Yan,
"Information measure for performance of image fusion", Electron. Lett. 38(7) (2002).
"""

from __future__ import annotations

import numpy as np

_LEVELS = 256


def _check_same(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape[:2] != b.shape[:2]:
        from samfuse.metrics.errors import MetricShapeError

        raise MetricShapeError(f"image sizes differ: {a.shape[1]}x{a.shape[0]} vs {b.shape[1]}x{b.shape[0]}")


def entropy_of_counts(counts: np.ndarray, log=np.log2) -> float:
    """-Σ p·log p over the non-zero bins of a histogram (p = counts / total); base 2 gives bits."""
    counts = np.asarray(counts, dtype=np.float64).ravel()
    p = counts[counts > 0] / counts.sum()
    return float(-np.sum(p * log(p)))


def _integer_levels(x: np.ndarray) -> np.ndarray | None:
    """x as int64 if every value is an integer in 0..255, else None."""
    if x.dtype == np.uint8:
        return x.astype(np.int64)
    xi = x.astype(np.int64)
    if np.array_equal(xi, x) and xi.min() >= 0 and xi.max() < _LEVELS:
        return xi
    return None


def entropy_vifb(channel: np.ndarray) -> float:
    """VIFB ``metricsEntropy`` core (bits): histogram of ``floor(x)`` over 256 levels, EN = -Σ p·log2 p."""
    levels = np.clip(np.floor(channel), 0, _LEVELS - 1).astype(np.int64)
    return entropy_of_counts(np.bincount(levels.ravel(), minlength=_LEVELS))


def entropy_cddfuse(img: np.ndarray) -> float:
    """CDDFuse ``EN`` (bits): histogram of ``uint8(round(x))`` (half to even, modulo 256), -Σ p·log2 p."""
    levels = np.round(img).astype(np.int64) & 0xFF
    return entropy_of_counts(np.bincount(levels.ravel(), minlength=_LEVELS))


def mutual_information_of_labels(a: np.ndarray, b: np.ndarray, na: int, nb: int) -> float:
    """Plug-in MI (nats) of two label images with labels in 0..na-1 and 0..nb-1.

    MI = H(a) + H(b) - H(a, b), each from the (joint) histogram with natural logarithms.
    """
    joint = np.bincount((a.ravel() * nb + b.ravel()), minlength=na * nb).reshape(na, nb)
    ha = entropy_of_counts(joint.sum(axis=1), np.log)
    hb = entropy_of_counts(joint.sum(axis=0), np.log)
    hab = entropy_of_counts(joint, np.log)
    return ha + hb - hab


def _stretch_levels(x: np.ndarray) -> np.ndarray:
    """VIFB MI binning: (x - min)/(max - min) (zeros if constant), then ``floor(255·x + 0.5)``."""
    x = np.asarray(x, dtype=np.float64)
    lo, hi = x.min(), x.max()
    y = np.zeros_like(x) if hi == lo else (x - lo) / (hi - lo)
    return np.floor(y * 255 + 0.5).astype(np.int64)


def mi_vifb(a: np.ndarray, b: np.ndarray, *, cache: dict | None = None) -> float:
    """VIFB ``metricsMutinf`` core for one pair (nats): each image min-max stretched, 256 bins, plug-in MI.

    ``cache``: a dict shared between calls on the same arrays (same objects) to bin each image once.
    """
    _check_same(a, b)

    def levels(x: np.ndarray) -> np.ndarray:
        key = (id(x), "mi_levels")
        if cache is None:
            return _stretch_levels(x)
        if key not in cache:
            cache[key] = (x, _stretch_levels(x))
        return cache[key][1]

    return mutual_information_of_labels(levels(a), levels(b), _LEVELS, _LEVELS)


def _labels(x: np.ndarray) -> tuple[np.ndarray, int]:
    """Class labels of the distinct values of x (fast path for integer levels 0..255)."""
    lv = _integer_levels(x)
    if lv is not None:
        return lv, _LEVELS
    uniq, inv = np.unique(x.ravel(), return_inverse=True)
    return inv.reshape(x.shape), uniq.size


def mi_cddfuse(a: np.ndarray, b: np.ndarray) -> float:
    """MI (nats) as scikit-learn's ``mutual_info_score(a.ravel(), b.ravel())``: every distinct value a class.

    No stretching, no bias correction; clipped at 0 like scikit-learn.
    """
    _check_same(a, b)
    la, na = _labels(a)
    lb, nb = _labels(b)
    return max(mutual_information_of_labels(la, lb, na, nb), 0.0)


def cross_entropy_vifb(source: np.ndarray, fused: np.ndarray) -> float:
    """VIFB ``metricsCross_entropy`` half (bits): D(P_source ‖ P_fused) = Σ P·log2(P/Q).

    P and Q are the 256-bin histograms of the integer values (as probabilities); the sum runs only over bins
    where both are non-zero (so it is a KL divergence that skips empty bins).
    """
    _check_same(source, fused)
    p = np.bincount(np.clip(np.floor(source), 0, 255).astype(np.int64).ravel(), minlength=_LEVELS)
    q = np.bincount(np.clip(np.floor(fused), 0, 255).astype(np.int64).ravel(), minlength=_LEVELS)
    p = p / p.sum()
    q = q / q.sum()
    both = (p > 0) & (q > 0)
    return float(np.sum(p[both] * np.log2(p[both] / q[both])))
