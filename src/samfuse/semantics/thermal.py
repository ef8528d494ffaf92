"""``thermal``: weight-free salient warm objects in an infrared image (pedestrians, engines, lamps).

With ``g`` the IR image as grey in [0, 1] (colour input: BT.601 luma), smoothed by a Gaussian of ``sigma`` px:

1. Robust background statistics: ``m = median(g)``, ``s = max(1.4826 · median(|g - m|), s_min)`` (the MAD
   estimate of the standard deviation; plain mean/std fail on day scenes where half the image is a
   saturated warm car, e.g. MSRS ``00111D``).
2. Hysteresis threshold: pixels above ``t_high = min(m + k_high · s, q_top)`` seed an object, which grows
   through connected pixels above ``t_low = min(m + k_low · s, t_high)`` (``skimage.filters.
   apply_hysteresis_threshold``).  ``q_top`` = the ``top_quantile`` of ``g`` keeps a few seeds in a scene
   whose warm objects saturate the sensor.
3. Binary opening with a 3×3 square (drops single-pixel noise), hole filling, 8-connected components.
4. Components with ``min_share · H·W ≤ area ≤ max_share · H·W`` are kept (large warm "stuff" such as sun-lit
   road or facade is not a salient object).
5. Score per mask: its mean contrast ``(mean(g | mask) - m) / s`` (in robust σ units).

Steps 1–5 run at a bounded working resolution (longer side at most ``max_side``, default 1024 px; larger
images are reduced by area averaging first); the component map is brought back to the image's size by
nearest-neighbour resizing, so masks have the image's size. MSRS and the other shared sets are below 1024 px.

Defaults (``k_low = 4``, ``k_high = 8``) were tuned on the 106 MSRS test IR images against the
person boxes of ``MSRS/detection/infrared``: 301 of the 329 labelled pedestrians (91.5 %) have more than 10 % of
their box covered, with about 3.6 % of the image marked on average (``benchmarks/thermal_recall.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import WORKING_SIDE, MaskProvider, MaskSet, as_grey_float, as_uint8, grow_labels, shrink_to
from .registry import register_provider

__all__ = ["ThermalProvider"]


@register_provider("thermal", "weight-free salient warm objects in IR: robust hysteresis threshold + components")
class ThermalProvider(MaskProvider):
    """Warm connected components of the IR image (see the module docstring for the formulas)."""

    name = "thermal"

    def __init__(
        self,
        k_low: float = 4.0,
        k_high: float = 8.0,
        sigma: float = 1.0,
        min_share: float = 1e-4,
        max_share: float = 0.25,
        top_quantile: float = 0.995,
        s_min: float = 2.0 / 255.0,
        max_side: int = WORKING_SIDE,
    ) -> None:
        if max_side < 16:
            raise ValueError("thermal: need max_side >= 16")
        self.max_side = int(max_side)
        if not 0 <= k_low <= k_high:
            raise ValueError("thermal: need 0 <= k_low <= k_high")
        if not 0 <= min_share < max_share <= 1:
            raise ValueError("thermal: need 0 <= min_share < max_share <= 1")
        self.k_low = float(k_low)
        self.k_high = float(k_high)
        self.sigma = float(sigma)
        self.min_share = float(min_share)
        self.max_share = float(max_share)
        self.top_quantile = float(top_quantile)
        self.s_min = float(s_min)

    def params(self) -> dict[str, Any]:
        return {
            "k_low": self.k_low,
            "k_high": self.k_high,
            "sigma": self.sigma,
            "min_share": self.min_share,
            "max_share": self.max_share,
            "top_quantile": self.top_quantile,
            "s_min": self.s_min,
            "max_side": self.max_side,
        }

    def thresholds(self, grey: np.ndarray) -> tuple[float, float, float, float]:
        """``(m, s, t_low, t_high)`` of a smoothed grey image in [0, 1]."""
        m = float(np.median(grey))
        s = max(1.4826 * float(np.median(np.abs(grey - m))), self.s_min)
        t_high = min(m + self.k_high * s, float(np.quantile(grey, self.top_quantile)))
        t_low = min(m + self.k_low * s, t_high)
        return m, s, t_low, t_high

    def generate(self, image: np.ndarray) -> MaskSet:
        return self.generate_top(image, None)

    def generate_top(self, image: np.ndarray, k: int | None) -> MaskSet:
        labels, scores = self.labels(image)
        return MaskSet.from_labels(labels, scores, limit=k)

    def labels(self, image: np.ndarray) -> tuple[np.ndarray, dict[int, float]]:
        """(H, W) int32 map of the kept warm components (0 = background), at the image's size, and the score of
        each label."""
        from scipy import ndimage as ndi
        from skimage import filters

        g = as_grey_float(shrink_to(as_uint8(image), self.max_side)).astype(np.float64)
        if self.sigma > 0:
            g = ndi.gaussian_filter(g, self.sigma, mode="nearest")
        h, w = g.shape
        m, s, t_low, t_high = self.thresholds(g)
        warm = filters.apply_hysteresis_threshold(g, t_low, t_high)
        warm = ndi.binary_opening(warm, structure=np.ones((3, 3), bool))
        warm = ndi.binary_fill_holes(warm)
        labels, n = ndi.label(warm, structure=np.ones((3, 3), bool))
        if n == 0:
            return np.zeros(image.shape[:2], np.int32), {}
        idx = np.arange(1, n + 1)
        areas = ndi.sum_labels(np.ones_like(g), labels, idx)
        means = ndi.mean(g, labels, idx)
        keep = (areas >= self.min_share * h * w) & (areas <= self.max_share * h * w)
        relabel = np.zeros(n + 1, dtype=np.int32)
        relabel[idx[keep]] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
        scores = (np.asarray(means)[keep] - m) / s
        return grow_labels(relabel[labels], image.shape), {i + 1: float(v) for i, v in enumerate(scores)}
