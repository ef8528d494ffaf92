"""Loss pieces shared by the fusion methods (SAGE, SGDFuse): Sobel gradient magnitude and "max" targets.

All functions take (B, C, H, W) tensors and work per channel.

The Sobel responses are :func:`kornia.filters.filter2d` correlations with kornia's 3×3 Sobel kernels
(``get_spatial_gradient_kernel2d("sobel", 1)``, unnormalised) and **zero padding** (``border_type="constant"``),
which is exactly what the authors' ``F.conv2d(x, k, padding=1)`` computes (their y-kernel has the opposite sign,
which the absolute value removes). ``kornia.filters.spatial_gradient`` is *not* used for SAGE: it pads by
replication, which changes the border pixels. SGDFuse's losses (Dif-Fusion's lineage, via kornia's
``spatial_gradient``) do pad by replication: they call these functions with ``border="replicate"``, which gives
exactly ``spatial_gradient(x, "sobel", normalized=False)``'s magnitudes (tests/training/losses).
"""

from __future__ import annotations

from typing import Literal

import kornia.filters as kf
import torch

#: Sobel padding: zeros (SAGE, the authors' ``padding=1``) or the replicated edge (SGDFuse, kornia's default).
Border = Literal["constant", "replicate"]

__all__ = [
    "Border",
    "sobel_gradient",
    "max_intensity",
    "max_gradient",
    "intensity_loss",
    "gradient_loss",
    "weighted_mean",
]


def sobel_gradient(x: torch.Tensor, border: Border = "constant") -> torch.Tensor:
    r"""Sobel gradient magnitude in the L1 form, per channel: :math:`S(x) = |S_x * x| + |S_y * x|`.

    :math:`S_x = \begin{bmatrix}-1&0&1\\-2&0&2\\-1&0&1\end{bmatrix}`, :math:`S_y = S_x^\top`, 3×3 correlation with
    padding 1 (same size out): zeros (``border="constant"``, SAGE) or the replicated edge (``"replicate"``, SGDFuse).
    """
    kernels = kf.get_spatial_gradient_kernel2d("sobel", 1, device=x.device, dtype=x.dtype)  # (2, 3, 3)
    gx = kf.filter2d(x, kernels[0:1], border_type=border)
    gy = kf.filter2d(x, kernels[1:2], border_type=border)
    return gx.abs() + gy.abs()


def max_intensity(s1: torch.Tensor, s2: torch.Tensor) -> torch.Tensor:
    """Intensity target: the element-wise maximum ``max(s1, s2)``."""
    return torch.maximum(s1, s2)


def max_gradient(s1: torch.Tensor, s2: torch.Tensor, border: Border = "constant") -> torch.Tensor:
    """Gradient target: ``max(S(s1), S(s2))`` with ``S`` = :func:`sobel_gradient` (padding ``border``)."""
    return torch.maximum(sobel_gradient(s1, border), sobel_gradient(s2, border))


def weighted_mean(err: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """``mean(W ⊙ err)`` over every element (``W`` broadcasts; plain ``mean(err)`` when ``weight`` is None)."""
    return err.mean() if weight is None else (weight * err).mean()


def intensity_loss(
    f: torch.Tensor, s1: torch.Tensor, s2: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """``mean(W ⊙ |f − max(s1, s2)|)`` (``W`` = 1 when ``weight`` is None; ``W`` broadcasts)."""
    return weighted_mean((f - max_intensity(s1, s2)).abs(), weight)


def gradient_loss(
    f: torch.Tensor, s1: torch.Tensor, s2: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """``mean(W ⊙ |S(f) − max(S(s1), S(s2))|)``, ``S`` = :func:`sobel_gradient` (``W`` = 1 when None).

    Without a weight this is SAGE's ``G(f; s1, s2)`` (an ``L1Loss`` between the two gradient maps).
    """
    return weighted_mean((sobel_gradient(f) - max_gradient(s1, s2)).abs(), weight)
