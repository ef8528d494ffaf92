"""Shared filtering helpers: MATLAB-style Gaussian windows, separable 'valid' correlation, Sobel responses.

All windows used by the metrics are symmetric and separable, so a 2-D correlation with an N×N window is two
1-D passes (O(N) per pixel instead of O(N²)); this is where most of the speed of :mod:`samfuse.metrics` comes
from.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import ndimage

from samfuse.metrics.errors import MetricSizeError


@lru_cache(maxsize=32)
def gaussian_1d(size: int, sigma: float) -> np.ndarray:
    """1-D factor g of MATLAB ``fspecial('gaussian', size, sigma)``: the window is ``outer(g, g)``.

    ``fspecial`` computes h = exp(-(x²+y²)/(2σ²)), zeroes values below eps·max(h) and normalises to sum 1.
    Since exp(-(x²+y²)/2σ²) = exp(-x²/2σ²)·exp(-y²/2σ²), h = outer(g, g) with g = e/Σe whenever no value is
    zeroed, which holds for every (size, sigma) used here (checked; a ValueError otherwise).
    """
    half = (size - 1) / 2.0
    x = np.arange(size, dtype=np.float64) - half
    e = np.exp(-(x * x) / (2.0 * sigma * sigma))
    corner = e[0] * e[0]
    if corner < np.finfo(np.float64).eps * e.max() ** 2:
        raise ValueError(f"fspecial('gaussian', {size}, {sigma}) truncates its corners: not separable")
    g = e / e.sum()
    g.setflags(write=False)
    return g


def check_size(shape: tuple[int, ...], minimum: int, metric: str) -> None:
    """Raise :class:`MetricSizeError` if the image is smaller than ``minimum`` pixels on a side."""
    h, w = shape[:2]
    if h < minimum or w < minimum:
        raise MetricSizeError(f"{metric} needs at least {minimum}x{minimum} pixels, got {w}x{h}")


def _valid_1d(x: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
    """'valid' correlation along one axis with a symmetric odd-length kernel g (float64)."""
    n = g.size
    r = n // 2
    out = ndimage.correlate1d(x, g, axis=axis, mode="constant")
    sl = [slice(None)] * x.ndim
    sl[axis] = slice(r, x.shape[axis] - r)
    return out[tuple(sl)]


def correlate_valid(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """2-D 'valid' correlation of x with the separable window outer(g, g) (MATLAB ``filter2(w, x, 'valid')``).

    For a symmetric window it equals ``scipy.signal.convolve2d(x, w, mode='valid')``. Leading axes of x are
    batch axes.
    """
    return _valid_1d(_valid_1d(x, g, -1), g, -2)


def correlate_valid_decimated(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``correlate_valid(x, g)[..., ::2, ::2]`` computing only the kept samples' second pass."""
    y = _valid_1d(x, g, -1)[..., ::2]
    y = np.ascontiguousarray(y)
    return _valid_1d(y, g, -2)[..., ::2, :]


def correlate_same_zero(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """2-D 'same' correlation with zero padding and the separable window outer(g, g) (``filter2(w, x, 'same')``).

    Works for complex x (each part is filtered separately).
    """
    if np.iscomplexobj(x):
        return correlate_same_zero(x.real, g) + 1j * correlate_same_zero(x.imag, g)
    y = ndimage.correlate1d(x, g, axis=-1, mode="constant")
    return ndimage.correlate1d(y, g, axis=-2, mode="constant")


def sobel_zero(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sobel responses of MATLAB ``conv2(x, k, 'same')`` (true convolution, zero padding).

    Returns (x response, y response) for kx = [[-1,0,1],[-2,0,2],[-1,0,1]] and ky = [[1,2,1],[0,0,0],[-1,-2,-1]]:
    because convolution flips the kernel, x is "left minus right" and y is "below minus above". The signs
    matter wherever an angle is set to π/2 for x == 0 (Qabf, Nabf). The arithmetic stays in x's dtype; for
    integer-valued images every step is exact, so the result equals any other summation order bit for bit.
    """
    p = np.pad(x, 1)
    s = p[:-2, :] + 2 * p[1:-1, :] + p[2:, :]  # vertical [1, 2, 1] smoothing, (H, W+2)
    gx = s[:, :-2] - s[:, 2:]
    t = p[:, :-2] + 2 * p[:, 1:-1] + p[:, 2:]  # horizontal smoothing, (H+2, W)
    gy = t[2:, :] - t[:-2, :]
    return gx, gy


def sobel_replicate(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sobel responses with nearest-edge padding (MATLAB ``imfilter(x, fspecial('sobel'), 'replicate')``).

    Returns (response to fspecial('sobel') = [[1,2,1],[0,0,0],[-1,-2,-1]], response to its transpose).
    """
    p = np.pad(x, 1, mode="edge")
    t = p[:, :-2] + 2 * p[:, 1:-1] + p[:, 2:]
    gy = t[:-2, :] - t[2:, :]
    s = p[:-2, :] + 2 * p[1:-1, :] + p[2:, :]
    gx = s[:, :-2] - s[:, 2:]
    return gy, gx
