"""``regions``: weight-free "everything" masks from graph-based segmentation (no SAM checkpoint needed).

Pipeline (deterministic, no randomness anywhere):

1. **Contrast stretch**: each channel mapped linearly so that the image's ``stretch`` percentiles (default
   1 % and 99 %) go to 0 and 255.  MSRS night images have mean grey levels of 10–60 out of 255; without this
   the dark scenes collapse into one region.
2. **Felzenszwalb–Huttenlocher** graph segmentation (``skimage.segmentation.felzenszwalb``) with
   ``scale = scale_640 · (H·W)/(640·480)`` (so the region size does not depend on the resolution),
   Gaussian pre-smoothing ``sigma`` px and ``min_size = min_share · H·W`` px.
3. **Merging**: a region adjacency graph over the segments, weighted by the Euclidean distance of the mean
   colours in CIELAB (grey images: L* = 100·v/255); the closest adjacent pair is merged repeatedly (mean
   colours updated after each merge) while the distance is below ``merge_threshold``
   (``skimage.graph.rag_mean_color`` + ``merge_hierarchical``).  A small Felzenszwalb scale followed by
   mean-colour merging avoids the one giant region that a large scale chains together across the smooth
   gradients of dark night scenes.
4. Every merged region of at least ``min_share`` of the image becomes one mask; masks are sorted by area.

Steps 1–4 run at a bounded working resolution: an image whose longer side exceeds ``max_side`` (default
:data:`~samfuse.semantics.base.WORKING_SIDE`, 1024 px, SAM's input size) is first reduced by area averaging,
and the region map is brought back to the image's size by nearest-neighbour resizing, so the masks always have
the image's size. Images up to 1024 px a side (MSRS, M3FD, RoadScene, TNO) are segmented at full resolution.

Defaults were tuned by eye on MSRS (640×480, day and night, IR and VIS) and M3FD (1024×768) so that the
masks are object- and stuff-sized (road, building facade, car, pedestrian, tree crown), like SAM's
"everything" output, rather than superpixels: tens of masks per 640×480 image (16–80 on the MSRS images
of the tests and benchmark).  The masks form a partition (no overlaps), unlike SAM's.  Scores: NaN (this
provider has none).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import WORKING_SIDE, MaskProvider, MaskSet, as_uint8, grow_labels, shrink_to
from .registry import register_provider

__all__ = ["RegionsProvider"]

_REF_AREA = 640 * 480


def _mean_colour_distance(g: Any, src: int, dst: int, n: int) -> dict[str, float]:
    """New edge weight after merging ``src`` into ``dst``: ‖mean colour(dst) − mean colour(n)‖₂."""
    diff = g.nodes[dst]["mean color"] - g.nodes[n]["mean color"]
    return {"weight": float(np.linalg.norm(diff))}


def _merge_mean_colour(g: Any, src: int, dst: int) -> None:
    """Update ``dst``'s pixel count and mean colour after absorbing ``src``."""
    g.nodes[dst]["total color"] += g.nodes[src]["total color"]
    g.nodes[dst]["pixel count"] += g.nodes[src]["pixel count"]
    g.nodes[dst]["mean color"] = g.nodes[dst]["total color"] / g.nodes[dst]["pixel count"]


@register_provider("regions", "weight-free object-sized regions: Felzenszwalb graph segmentation + RAG merging")
class RegionsProvider(MaskProvider):
    """Felzenszwalb segmentation + colour-distance region merging (see the module docstring).

    Parameters: ``scale_640`` (Felzenszwalb scale at 640×480, larger = bigger regions), ``sigma`` (px),
    ``min_share`` (smallest region, fraction of the image), ``merge_threshold`` (CIELAB ΔE),
    ``stretch`` (low/high percentiles of the contrast stretch), ``max_side`` (working resolution, px).
    """

    name = "regions"

    def __init__(
        self,
        scale_640: float = 100.0,
        sigma: float = 0.8,
        min_share: float = 0.001,
        merge_threshold: float = 10.0,
        stretch: tuple[float, float] = (1.0, 99.0),
        max_side: int = WORKING_SIDE,
    ) -> None:
        if scale_640 <= 0 or sigma < 0 or not 0 < min_share < 1 or merge_threshold < 0 or max_side < 16:
            raise ValueError(
                "regions: need scale_640 > 0, sigma >= 0, 0 < min_share < 1, merge_threshold >= 0, max_side >= 16"
            )
        self.max_side = int(max_side)
        self.scale_640 = float(scale_640)
        self.sigma = float(sigma)
        self.min_share = float(min_share)
        self.merge_threshold = float(merge_threshold)
        self.stretch = (float(stretch[0]), float(stretch[1]))

    def params(self) -> dict[str, Any]:
        return {
            "scale_640": self.scale_640,
            "sigma": self.sigma,
            "min_share": self.min_share,
            "merge_threshold": self.merge_threshold,
            "stretch": list(self.stretch),
            "max_side": self.max_side,
        }

    def labels(self, image: np.ndarray) -> np.ndarray:
        """The (H, W) int32 region map (0 = no region) behind :meth:`generate`, at the image's size."""
        return grow_labels(self._labels(shrink_to(as_uint8(image), self.max_side)), image.shape)

    def _labels(self, img: np.ndarray) -> np.ndarray:
        """The region map of a uint8 image at the size given."""
        from skimage import color, graph, segmentation

        grey = img.ndim == 2 or (np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 0], img[..., 2]))
        if img.ndim == 3 and grey:
            img = img[..., 0]
        h, w = img.shape[:2]
        lo, hi = np.percentile(img, self.stretch, axis=(0, 1))
        span = np.maximum(np.asarray(hi, dtype=np.float64) - lo, 1.0)
        stretched = np.clip((img.astype(np.float64) - lo) / span * 255.0, 0, 255).round().astype(np.uint8)

        min_size = max(1, int(round(self.min_share * h * w)))
        seg = segmentation.felzenszwalb(
            stretched,
            scale=self.scale_640 * (h * w) / _REF_AREA,
            sigma=self.sigma,
            min_size=min_size,
            channel_axis=None if grey else -1,
        )
        if self.merge_threshold > 0 and seg.max() > 0:
            if grey:
                feat = np.repeat((stretched.astype(np.float64) * (100.0 / 255.0))[..., None], 3, axis=2)
            else:
                feat = color.rgb2lab(stretched)
            rag = graph.rag_mean_color(feat, seg, mode="distance")
            seg = graph.merge_hierarchical(
                seg,
                rag,
                thresh=self.merge_threshold,
                rag_copy=False,
                in_place_merge=True,
                merge_func=_merge_mean_colour,
                weight_func=_mean_colour_distance,
            )
        # relabel 1..n and drop regions below min_share
        _, inverse, counts = np.unique(seg.ravel(), return_inverse=True, return_counts=True)
        keep = counts >= min_size
        new_ids = np.zeros(counts.size, dtype=np.int32)
        new_ids[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
        return new_ids[inverse].reshape(h, w)

    def generate(self, image: np.ndarray) -> MaskSet:
        return MaskSet.from_labels(self.labels(image))

    def generate_top(self, image: np.ndarray, k: int | None) -> MaskSet:
        return MaskSet.from_labels(self.labels(image), limit=k)
