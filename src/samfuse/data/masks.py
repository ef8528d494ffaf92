"""Masks for training: each training image's masks come from the semantics cache (computed once, reused by
every epoch and every later run that shares the cache) and are turned into a (C, H, W) array by a *mask
product*, which the training dataset crops and flips together with the images.

>>> from samfuse.semantics import get_provider
>>> masks = CachedMasks(get_provider("regions"), "run/masks", TopKPairs(k=4))   # doctest: +SKIP
>>> masks.prepare(pairs)                       # compute what the cache lacks, once  # doctest: +SKIP
>>> TrainingPairs(pairs, (192, 256), masks=masks)                                   # doctest: +SKIP

A mask product is any object with ``channels`` (int), ``top_k`` (how many of the largest masks it reads,
``None`` = all; it is also what the cache stores), ``params()`` (JSON-able, recorded in the run config) and
``__call__(ir_masks, vi_masks, ir_image, vi_image) -> np.ndarray`` of shape (channels, H, W), bool or float
in [0, 1].  Two are provided, one per paper: :class:`TopKPairs` (SAGE) and :class:`ModalityMasks` (SGDFuse).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from samfuse.io import InputError, Pair, read_raw
from samfuse.semantics import MaskCache, MaskProvider, MaskSet
from samfuse.semantics.products import MaskProduct, ModalityMasks, TopKPairs
from samfuse.semantics.source import MaskSource

__all__ = ["MaskProduct", "TopKPairs", "ModalityMasks", "CachedMasks"]


class CachedMasks:
    """A training dataset's mask source: ``(index, pair, ir_raw, vi_raw) -> (C, H, W)`` through the cache.

    Each image's masks come from ``MaskCache.get_or_compute`` (computed once per image, provider and
    parameters, stored atomically, then read back every epoch); ``product`` turns the two mask sets into
    channels.  Call :meth:`prepare` before training so that no epoch pays for the provider.

    With ``memory`` (default) each index's product is also kept in memory (bit-packed when bool: 2 channels
    of 640×480 take 77 kB), so later epochs of the same process skip the cache file and the product.
    """

    def __init__(
        self, provider: MaskProvider, cache: MaskCache | str | Path, product: MaskProduct, *, memory: bool = True
    ) -> None:
        self.provider = provider
        self.cache = cache if isinstance(cache, MaskCache) else MaskCache(cache)
        self.source = MaskSource(provider, self.cache)
        self.product = product
        self.memory = memory
        self._memo: dict[tuple[int, str], tuple[np.ndarray, tuple[int, ...], bool]] = {}

    @property
    def channels(self) -> int:
        return int(self.product.channels)

    def params(self) -> dict[str, Any]:
        """What the masks depend on (recorded in a run's config)."""
        return {
            "provider": self.provider.name,
            "model": self.provider.model,
            "provider_params": self.provider.params(),
            **self.product.params(),
        }

    def masks_of(self, ir_raw: np.ndarray, vi_raw: np.ndarray) -> tuple[MaskSet, MaskSet]:
        """Both images' masks (the product's ``top_k`` largest), from the cache or computed and stored."""
        k = self.product.top_k
        return self.source.masks_of(ir_raw, k), self.source.masks_of(vi_raw, k)

    def __call__(self, index: int, pair: Pair, ir_raw: np.ndarray, vi_raw: np.ndarray) -> np.ndarray:
        key = (int(index), str(pair.ir))
        if key in self._memo:
            data, shape, packed = self._memo[key]
            return np.unpackbits(data, axis=-1, count=shape[-1]).astype(bool) if packed else data
        out = self.source.pair(self.product, ir_raw, vi_raw)
        if self.memory:
            packed = out.dtype == np.bool_
            self._memo[key] = (np.packbits(out, axis=-1) if packed else out, out.shape, packed)
        return out

    def prepare(
        self,
        pairs: Sequence[Pair],
        *,
        rank: int = 0,
        world_size: int = 1,
        progress: bool = False,
        on_error: Callable[[str], None] | None = None,
    ) -> tuple[int, int]:
        """Compute the masks the cache lacks for ``pairs[rank::world_size]``; returns ``(computed, cached)``
        images.  An unreadable image is reported through ``on_error`` (one line) and skipped."""
        from tqdm import tqdm

        mine = list(pairs)[rank::world_size]
        computed = cached = 0
        bar = tqdm(mine, desc=f"masks {self.provider.name}", unit="pair", disable=not progress, dynamic_ncols=True)
        for pair in bar:
            for path in (pair.ir, pair.vi):
                try:
                    _, hit = self.cache.get_or_compute(read_raw(path), self.provider, self.product.top_k)
                except InputError as err:
                    if on_error is None:
                        raise
                    on_error(str(err))
                    continue
                cached += int(hit)
                computed += int(not hit)
        bar.close()
        return computed, cached
