"""Mask perturbations for robustness studies (SGDFuse tests eroded and dilated masks, k ∈ {3, 5, 7, 9, 11}).

Erosion and dilation use :mod:`kornia.morphology` with a flat k×k square structuring element and kornia's
``geodesic`` border (pixels outside the image are ignored, so masks touching the border are not eaten from
outside).  For a binary mask M: ``erode(M)(x) = min_{|b|∞ ≤ k//2} M(x + b)``, ``dilate(M)(x) = max_{...}``.
"""

from __future__ import annotations

from typing import overload

import numpy as np

from .base import MaskSet

__all__ = ["erode", "dilate", "drop_masks"]

_CHUNK = 8  # masks per kornia call: bounds memory for many full-resolution masks


def _morph(masks: np.ndarray, k: int, op: str) -> np.ndarray:
    import torch
    from kornia import morphology

    if k < 1 or k % 2 == 0:
        raise ValueError(f"kernel size k must be a positive odd integer, got {k}")
    single = masks.ndim == 2
    arr = masks[None] if single else masks
    if arr.ndim != 3:
        raise ValueError(f"expected (H, W) or (N, H, W) masks, got {masks.shape}")
    out = np.zeros(arr.shape, dtype=bool)
    if k == 1 or arr.shape[0] == 0:
        out[...] = arr != 0
        return out[0] if single else out
    kernel = torch.ones(k, k)
    fn = morphology.erosion if op == "erode" else morphology.dilation
    with torch.no_grad():
        for start in range(0, arr.shape[0], _CHUNK):
            t = torch.from_numpy(np.ascontiguousarray(arr[start : start + _CHUNK] != 0, dtype=np.float32))
            res = fn(t[:, None], kernel)  # (n, 1, H, W)
            out[start : start + _CHUNK] = res[:, 0].numpy() > 0.5
    return out[0] if single else out


@overload
def erode(masks: MaskSet, k: int) -> MaskSet: ...
@overload
def erode(masks: np.ndarray, k: int) -> np.ndarray: ...
def erode(masks: MaskSet | np.ndarray, k: int) -> MaskSet | np.ndarray:
    """Binary erosion by a k×k square (k odd).  A :class:`MaskSet` is re-sorted by area (stable)."""
    if isinstance(masks, MaskSet):
        return MaskSet.from_masks(_morph(masks.masks, k, "erode"), masks.scores, shape=masks.shape)
    return _morph(np.asarray(masks), k, "erode")


@overload
def dilate(masks: MaskSet, k: int) -> MaskSet: ...
@overload
def dilate(masks: np.ndarray, k: int) -> np.ndarray: ...
def dilate(masks: MaskSet | np.ndarray, k: int) -> MaskSet | np.ndarray:
    """Binary dilation by a k×k square (k odd).  A :class:`MaskSet` is re-sorted by area (stable)."""
    if isinstance(masks, MaskSet):
        return MaskSet.from_masks(_morph(masks.masks, k, "dilate"), masks.scores, shape=masks.shape)
    return _morph(np.asarray(masks), k, "dilate")


def drop_masks(masks: MaskSet, p: float, seed: int | None = 0, *, keep_slots: bool = False) -> MaskSet:
    """Drop each mask independently with probability ``p`` (``numpy.random.default_rng(seed)``).

    Default: dropped masks are removed (the others keep their order).  ``keep_slots=True`` replaces them with
    empty masks instead, so ranks (and SAGE's rank pairing) stay where they were.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError("p must be in [0, 1]")
    drop = np.random.default_rng(seed).random(len(masks)) < p
    if keep_slots:
        out = masks.masks.copy()
        out[drop] = False
        return MaskSet(out, masks.scores.copy())
    return masks[~drop]  # type: ignore[return-value]
