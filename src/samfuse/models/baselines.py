"""Classical fusion baselines: real methods with no weights, used as reference points and for smoke runs.

All three work on the luminance (``consumes = "y"``): inputs IR (B,1,H,W) and visible Y (B,1,H,W) in [0, 1].
"""

from __future__ import annotations

from typing import Any

import kornia.filters as kf
import torch
import torch.nn.functional as F

from samfuse.models.base import FusionMethod
from samfuse.models.registry import register


class AverageFusion(FusionMethod):
    """Weighted average: ``F = w·IR + (1 − w)·VIS``, with ``w`` the IR weight (default 0.5)."""

    def __init__(self, ir_weight: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= ir_weight <= 1.0:
            raise ValueError(f"ir_weight must lie in [0, 1], got {ir_weight}")
        self.ir_weight = ir_weight

    def forward(self, ir: torch.Tensor, vi: torch.Tensor, masks: Any = None) -> torch.Tensor:
        return self.ir_weight * ir + (1.0 - self.ir_weight) * vi


class MaxFusion(FusionMethod):
    """Per-pixel maximum: ``F = max(IR, VIS)``."""

    def forward(self, ir: torch.Tensor, vi: torch.Tensor, masks: Any = None) -> torch.Tensor:
        return torch.maximum(ir, vi)


def _blur(x: torch.Tensor) -> torch.Tensor:
    """5×5 Gaussian (σ = 1), replicate padding (defined for any size): the REDUCE kernel of Burt & Adelson."""
    return kf.gaussian_blur2d(x, (5, 5), (1.0, 1.0), border_type="replicate")


def _expand(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """EXPAND: bilinear up-sampling to exactly ``size`` (works for odd sizes), then the same blur."""
    return _blur(F.interpolate(x, size=size, mode="bilinear", align_corners=False))


def laplacian_pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """Laplacian pyramid ``[L_0, …, L_{n-2}, G_{n-1}]`` with ``L_i = G_i − EXPAND(G_{i+1})``.

    ``G_{i+1} = REDUCE(G_i)``: blur, then bilinear down-sampling to ``ceil(h/2) × ceil(w/2)``. Reconstruction
    with :func:`collapse_pyramid` is exact (up to float rounding) for any size.
    """
    pyramid: list[torch.Tensor] = []
    g = x
    for _ in range(levels - 1):
        h, w = g.shape[-2:]
        down = F.interpolate(_blur(g), size=((h + 1) // 2, (w + 1) // 2), mode="bilinear", align_corners=False)
        pyramid.append(g - _expand(down, (h, w)))
        g = down
    pyramid.append(g)
    return pyramid


def collapse_pyramid(pyramid: list[torch.Tensor]) -> torch.Tensor:
    """Inverse of :func:`laplacian_pyramid`: ``G_i = L_i + EXPAND(G_{i+1})`` from the top down."""
    g = pyramid[-1]
    for lap in reversed(pyramid[:-1]):
        g = lap + _expand(g, lap.shape[-2:])
    return g


class LaplacianFusion(FusionMethod):
    """Laplacian-pyramid fusion (Burt & Adelson 1983; Burt & Kolczynski 1993).

    Detail levels: per coefficient, the one of larger absolute value (``max-abs`` selection).
    Base level (the coarsest Gaussian): the average of the two. The number of levels is
    ``min(levels, 1 + floor(log2(min(H, W) / 8)))`` so the coarsest level keeps at least 8 pixels a side.
    """

    def __init__(self, levels: int = 5) -> None:
        super().__init__()
        if levels < 1:
            raise ValueError(f"levels must be ≥ 1, got {levels}")
        self.levels = levels

    def effective_levels(self, h: int, w: int) -> int:
        n = 1
        side = min(h, w)
        while n < self.levels and side >= 16:
            side = (side + 1) // 2
            n += 1
        return n

    def forward(self, ir: torch.Tensor, vi: torch.Tensor, masks: Any = None) -> torch.Tensor:
        levels = self.effective_levels(*ir.shape[-2:])
        pir, pvi = laplacian_pyramid(ir, levels), laplacian_pyramid(vi, levels)
        fused = [torch.where(a.abs() >= b.abs(), a, b) for a, b in zip(pir[:-1], pvi[:-1], strict=True)]
        fused.append(0.5 * (pir[-1] + pvi[-1]))
        return collapse_pyramid(fused).clamp(0.0, 1.0)


def _no_weights(name: str, weights: object) -> None:
    if weights is not None:
        raise ValueError(f"method {name!r} has no weights (got weights={weights!r})")


@register("average", "weighted average F = w·IR + (1−w)·VIS (w = 0.5); classical baseline, no weights")
def build_average(weights: object = None, ir_weight: float = 0.5) -> AverageFusion:
    _no_weights("average", weights)
    return AverageFusion(ir_weight)


@register("max", "per-pixel maximum F = max(IR, VIS); classical baseline, no weights")
def build_max(weights: object = None) -> MaxFusion:
    _no_weights("max", weights)
    return MaxFusion()


@register("laplacian", "Laplacian-pyramid fusion, max-abs detail selection, averaged base; classical baseline")
def build_laplacian(weights: object = None, levels: int = 5) -> LaplacianFusion:
    _no_weights("laplacian", weights)
    return LaplacianFusion(levels)
