"""Preview overlays: masks coloured over the image so a person can see what the prior found."""

from __future__ import annotations

import colorsys

import numpy as np

from .base import MaskSet, as_rgb_uint8

__all__ = ["palette", "overlay"]


def palette(n: int) -> np.ndarray:
    """``n`` distinct saturated colours, (n, 3) uint8: hues stepped by the golden ratio (0.618…)."""
    hues = (np.arange(n) * 0.6180339887498949 + 0.1) % 1.0
    return np.array([[round(255 * c) for c in colorsys.hsv_to_rgb(h, 0.85, 1.0)] for h in hues], dtype=np.uint8)


def overlay(image: np.ndarray, masks: MaskSet, alpha: float = 0.5, outline: bool = True) -> np.ndarray:
    """HxWx3 uint8: ``(1 - alpha) · image + alpha · colour`` inside each mask, largest painted first so smaller
    masks stay visible on top; white 1-px outlines where ``outline``."""
    from scipy import ndimage as ndi

    out = as_rgb_uint8(image).astype(np.float32)
    if out.shape[:2] != masks.shape:
        raise ValueError(f"image is {out.shape[:2]}, masks are {masks.shape}")
    colours = palette(len(masks)).astype(np.float32)
    edges = np.zeros(masks.shape, dtype=bool)
    for m, c in zip(masks.masks, colours, strict=True):
        out[m] = (1.0 - alpha) * out[m] + alpha * c
        if outline:
            edges |= m & ~ndi.binary_erosion(m)
    if outline:
        out[edges] = 255.0
    return np.clip(out.round(), 0, 255).astype(np.uint8)
