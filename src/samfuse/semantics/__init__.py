"""Semantic priors: mask providers (SAM / MobileSAM by checkpoint, weight-free ``regions`` and ``thermal``),
the on-disk mask cache, the mask products the methods consume, and perturbations for robustness studies.

>>> from samfuse.semantics import get_provider, MaskCache, top_k_pairs
>>> provider = get_provider("regions")
>>> masks, cached = MaskCache("masks/").get_or_compute(image, provider, top_k=20)  # doctest: +SKIP
"""

from __future__ import annotations

from .base import MaskProvider, MaskSet, ProviderError, as_grey_float, as_rgb_uint8, as_uint8
from .cache import MaskCache, image_hash, provider_key
from .perturb import dilate, drop_masks, erode
from .preview import overlay
from .products import PRODUCTS, MaskPairs, ModalityMasks, TopKPairs, make_product, modality_mask, top_k_pairs
from .registry import (
    UnknownOptionError,
    UnknownProviderError,
    get_provider,
    list_providers,
    provider_options,
    register_provider,
)
from .source import MaskSource

# built-in providers register themselves on import (SAM's heavy imports happen only when it is built)
from . import regions, sam, thermal  # noqa: E402, F401, I001  isort: skip

__all__ = [
    "MaskProvider",
    "MaskSet",
    "ProviderError",
    "UnknownOptionError",
    "UnknownProviderError",
    "provider_options",
    "register_provider",
    "get_provider",
    "list_providers",
    "MaskCache",
    "image_hash",
    "provider_key",
    "MaskPairs",
    "MaskSource",
    "TopKPairs",
    "ModalityMasks",
    "PRODUCTS",
    "make_product",
    "top_k_pairs",
    "modality_mask",
    "erode",
    "dilate",
    "drop_masks",
    "overlay",
    "as_uint8",
    "as_rgb_uint8",
    "as_grey_float",
]
