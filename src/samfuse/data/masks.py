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
from typing import Any, Protocol

import numpy as np

from samfuse.io import InputError, Pair, read_raw
from samfuse.semantics import MaskCache, MaskProvider, MaskSet, modality_mask, top_k_pairs

__all__ = ["MaskProduct", "TopKPairs", "ModalityMasks", "CachedMasks"]


class MaskProduct(Protocol):
    """Turns one pair's masks into (channels, H, W) (see the module docstring)."""

    channels: int
    top_k: int | None

    def params(self) -> dict[str, Any]: ...

    def __call__(self, ir: MaskSet, vi: MaskSet, ir_image: np.ndarray, vi_image: np.ndarray) -> np.ndarray: ...


class TopKPairs:
    """SAGE: :func:`~samfuse.semantics.top_k_pairs` as ``2k`` channels, ``[ir_1 … ir_k, vi_1 … vi_k]`` (bool).

    A slot without a valid pair is filled with ``empty``: ``"ones"`` (default) so that ``image · mask`` is
    SAGE's input in every slot, the unmasked image where a pair is missing (design/sage.md §3), and this
    survives cropping (a valid mask that happens to be empty inside a crop stays zeros there); ``"zeros"``
    leaves such slots empty. The cache keeps the ``limit`` largest masks (SAGE caches 20).
    """

    def __init__(self, k: int = 4, limit: int | None = 20, *, empty: str = "ones") -> None:
        if empty not in ("ones", "zeros"):
            raise ValueError("empty must be 'ones' or 'zeros'")
        self.k, self.limit, self.empty = int(k), limit, empty
        self.channels = 2 * self.k
        self.top_k = limit

    def params(self) -> dict[str, Any]:
        return {"product": "top_k_pairs", "k": self.k, "limit": self.limit, "empty": self.empty}

    def __call__(self, ir: MaskSet, vi: MaskSet, ir_image: np.ndarray, vi_image: np.ndarray) -> np.ndarray:
        pairs = top_k_pairs(ir, vi, self.k, limit=self.limit)
        out = np.concatenate([pairs.ir, pairs.vi], axis=0)
        if self.empty == "ones":
            missing = np.concatenate([~pairs.valid, ~pairs.valid])
            out[missing] = True
        return out


class ModalityMasks:
    """SGDFuse: :func:`~samfuse.semantics.modality_mask` of each modality, 2 channels ``[ir, vis]`` (bool).

    Reads all masks (``top_k = None``): the union keeps every segment within the area shares.
    """

    channels = 2
    top_k = None

    def __init__(self, **options: Any) -> None:
        self.options = dict(options)

    def params(self) -> dict[str, Any]:
        return {"product": "modality_mask", **self.options}

    def __call__(self, ir: MaskSet, vi: MaskSet, ir_image: np.ndarray, vi_image: np.ndarray) -> np.ndarray:
        m_ir = modality_mask(ir, ir_image, modality="ir", **self.options)
        m_vi = modality_mask(vi, modality="vis", **self.options)
        return np.stack([m_ir, m_vi])


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
        ir, _ = self.cache.get_or_compute(ir_raw, self.provider, self.product.top_k)
        vi, _ = self.cache.get_or_compute(vi_raw, self.provider, self.product.top_k)
        return ir, vi

    def __call__(self, index: int, pair: Pair, ir_raw: np.ndarray, vi_raw: np.ndarray) -> np.ndarray:
        key = (int(index), str(pair.ir))
        if key in self._memo:
            data, shape, packed = self._memo[key]
            return np.unpackbits(data, axis=-1, count=shape[-1]).astype(bool) if packed else data
        ir, vi = self.masks_of(ir_raw, vi_raw)
        out = np.asarray(self.product(ir, vi, ir_raw, vi_raw))
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
