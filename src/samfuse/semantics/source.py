"""Masks for fusion: a provider, an on-disk cache and the product a method declares, in one object.

The pipeline holds a :class:`MaskSource` and calls it once per pair with the two decoded images; the masks of
each image are computed once (per provider, model and parameters) into the :class:`~samfuse.semantics.MaskCache`
that ``samfuse masks`` and training share, and turned into the (channels, H, W) array of the product the method
names in ``needs_masks`` (see :mod:`samfuse.semantics.products`).

``perturb`` (robustness studies, ``samfuse robustness``): a function applied to each image's :class:`MaskSet`
after it comes out of the cache (or the provider) and before the product is built; the cache always keeps the
unperturbed masks. :meth:`MaskSource.with_perturb` gives a source that shares the provider and the cache.

>>> source = MaskSource(get_provider("regions"), "masks/")                  # doctest: +SKIP
>>> source("top_k_pairs", ir_raw, vi_raw).shape                             # doctest: +SKIP
(8, 480, 640)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .base import MaskProvider, MaskSet
from .cache import MaskCache
from .products import MaskProduct, make_product

__all__ = ["MaskSource"]


class MaskSource:
    """``source(product, ir, vi) -> (C, H, W)``: both images' masks through the cache, then the product.

    ``cache``: a :class:`MaskCache`, a folder, or ``None`` (compute every time, store nothing).
    ``product_options``: per product name, options of its product object (e.g. ``{"top_k_pairs": {"k": 4}}``).
    ``perturb``: applied to each image's masks after the cache, before the product (see the module docstring).
    """

    def __init__(
        self,
        provider: MaskProvider,
        cache: MaskCache | str | Path | None = None,
        product_options: dict[str, dict[str, Any]] | None = None,
        perturb: Callable[[MaskSet], MaskSet] | None = None,
    ) -> None:
        self.provider = provider
        self.cache = cache if isinstance(cache, MaskCache) or cache is None else MaskCache(cache)
        self._options = dict(product_options or {})
        self._products: dict[str, MaskProduct] = {}
        self.perturb = perturb

    @classmethod
    def create(cls, provider: str, cache: MaskCache | str | Path | None = None, **options: Any) -> MaskSource:
        """A source from a provider name and its options (``checkpoint=``, ``model=`` … for ``sam``)."""
        from .registry import get_provider

        return cls(get_provider(provider, **options), cache)

    def product(self, name: str) -> MaskProduct:
        """The product object for ``name`` (built once)."""
        if name not in self._products:
            self._products[name] = make_product(name, **self._options.get(name, {}))
        return self._products[name]

    def with_perturb(self, perturb: Callable[[MaskSet], MaskSet] | None) -> MaskSource:
        """The same provider, cache and product options, with ``perturb`` applied to every image's masks."""
        return MaskSource(self.provider, self.cache, self._options, perturb)

    def masks_of(self, image: np.ndarray, top_k: int | None) -> MaskSet:
        """One image's masks (its ``top_k`` largest; all when None), from the cache or computed and stored, then
        ``perturb``-ed if the source has a perturbation (the cache keeps the masks as the provider made them)."""
        if self.cache is None:
            masks = self.provider.generate_top(image, top_k).top(top_k)
        else:
            masks, _ = self.cache.get_or_compute(image, self.provider, top_k)
        return masks if self.perturb is None else self.perturb(masks)

    def pair(self, product: MaskProduct, ir: np.ndarray, vi: np.ndarray) -> np.ndarray:
        """``product`` of one pair of decoded images (uint8/uint16 as read, H×W or H×W×3)."""
        k = product.top_k
        return np.asarray(product(self.masks_of(ir, k), self.masks_of(vi, k), ir, vi))

    def __call__(self, product: str, ir: np.ndarray, vi: np.ndarray) -> np.ndarray:
        return self.pair(self.product(product), ir, vi)
