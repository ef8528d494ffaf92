"""Shared filtering helpers: MATLAB-style Gaussian windows, separable 'valid' correlation, Sobel responses.

All windows used by the metrics are symmetric and separable, so a 2-D correlation with an N×N window is two
1-D passes (O(N) per pixel instead of O(N²)); this is where most of the speed of :mod:`samfuse.metrics` comes
from.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

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


def _sep(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Full-size correlation of a 2-D float64 array with outer(g, g), zero borders (OpenCV ``sepFilter2D``).

    OpenCV's separable filter is vectorised (faster here than ``scipy.ndimage.correlate1d``); it
    accumulates in float64 (agrees with ``convolve2d`` to 1e-13 relative, see the tests).
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    return cv2.sepFilter2D(x, cv2.CV_64F, g, g, borderType=cv2.BORDER_CONSTANT)


def correlate_valid(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """2-D 'valid' correlation with the separable window outer(g, g) (MATLAB ``filter2(w, x, 'valid')``).

    For a symmetric window it equals ``scipy.signal.convolve2d(x, w, mode='valid')``. Leading axes of x are
    batch axes.
    """
    r = g.size // 2
    if x.ndim > 2:
        return np.stack([correlate_valid(b, g) for b in x])
    out = _sep(x, g)
    return out[r : out.shape[0] - r, r : out.shape[1] - r]


def correlate_valid_decimated(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``correlate_valid(x, g)[..., ::2, ::2]`` (the VIF pyramid step)."""
    return np.ascontiguousarray(correlate_valid(x, g)[..., ::2, ::2])


def correlate_same_zero(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """2-D 'same' correlation with zero padding and the separable window outer(g, g) (``filter2(w, x, 'same')``).

    Works for complex x (each part is filtered separately).
    """
    if np.iscomplexobj(x):
        # a complex128 H×W array is an interleaved H×W×2 float64 image: filter both parts in one call
        pairs = np.ascontiguousarray(x, dtype=np.complex128).view(np.float64).reshape(*x.shape, 2)
        out = cv2.sepFilter2D(pairs, cv2.CV_64F, g, g, borderType=cv2.BORDER_CONSTANT)
        return np.ascontiguousarray(out).view(np.complex128).reshape(x.shape)
    return _sep(x, g)


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
