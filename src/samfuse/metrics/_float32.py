"""float32 reductions in the exact order of NumPy 1.21, which the CDDFuse reference values were computed with.

NumPy 1.x reduced a whole float32 array in buffered blocks of 8192 elements: pairwise summation inside a
block, the block sums added one after the other into a float32 accumulator. NumPy 2 sums a contiguous array
in one pairwise pass, which changes the last bits (up to ~5e-7 relative for SCD). These helpers restore the
1.21 order, so the float32 metrics of the ``cddfuse`` profile reproduce the reference values bit for bit.
For float64 input they fall back to ``np.sum``/``np.mean``.
"""

from __future__ import annotations

import numpy as np

_BLOCK = 8192


def sum32(x: np.ndarray) -> np.floating:
    """Σx over all elements: pairwise within 8192-element blocks, blocks accumulated sequentially (float32)."""
    x = np.asarray(x)
    if x.dtype != np.float32:
        return np.sum(x)
    flat = np.ascontiguousarray(x).ravel()
    n = flat.size
    k, rem = divmod(n, _BLOCK)
    parts = np.empty(k + (1 if rem else 0), dtype=np.float32)
    if k:
        parts[:k] = flat[: k * _BLOCK].reshape(k, _BLOCK).sum(axis=1)
    if rem:
        parts[k] = flat[k * _BLOCK :].sum()
    if parts.size == 0:
        return np.float32(0)
    return np.cumsum(parts, dtype=np.float32)[-1]


def mean32(x: np.ndarray) -> np.floating:
    """Mean as NumPy 1.21 computes it for float32: float32(sum32(x) / n)."""
    x = np.asarray(x)
    if x.dtype != np.float32:
        return np.mean(x)
    return np.float32(sum32(x) / np.float32(x.size))


def std32(x: np.ndarray) -> np.floating:
    """Population standard deviation (ddof = 0) in NumPy 1.21's float32 order: sqrt(sum32((x - m)²)/n)."""
    x = np.asarray(x)
    if x.dtype != np.float32:
        return np.std(x)
    d = x - mean32(x)
    return np.sqrt(np.float32(sum32(d * d) / np.float32(x.size)))
