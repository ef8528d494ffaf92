"""Colour handling: fusion runs on luminance; the visible chroma is put back afterwards.

YCbCr (ITU-R BT.601, full range, as kornia implements it) on tensors in [0, 1]:
``Y = 0.299 R + 0.587 G + 0.114 B``, ``Cb = (B - Y) * 0.564 + 0.5``, ``Cr = (R - Y) * 0.713 + 0.5``.
"""

from __future__ import annotations

import kornia.color as kc
import torch


def split_luma(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B,3,H,W) RGB in [0,1] → (Y (B,1,H,W), CbCr (B,2,H,W))."""
    ycbcr = kc.rgb_to_ycbcr(rgb)
    return ycbcr[:, :1], ycbcr[:, 1:]


def merge_luma(y: torch.Tensor, cbcr: torch.Tensor) -> torch.Tensor:
    """Fused Y (B,1,H,W) + visible CbCr (B,2,H,W) → RGB (B,3,H,W), clipped to [0, 1]."""
    return kc.ycbcr_to_rgb(torch.cat([y, cbcr], dim=1)).clamp(0.0, 1.0)


def luma(rgb: torch.Tensor) -> torch.Tensor:
    """(B,3,H,W) RGB → (B,1,H,W) Y (BT.601 weights)."""
    return split_luma(rgb)[0]
