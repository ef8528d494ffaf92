"""Mask products consumed by the methods: SAGE's top-K rank pairs and SGDFuse's one channel per modality.

Two layers: the functions (:func:`top_k_pairs`, :func:`modality_mask`) work on :class:`MaskSet` objects; the
product objects (:class:`TopKPairs`, :class:`ModalityMasks`, by name in :data:`PRODUCTS`) turn one pair's two mask
sets into a (channels, H, W) array, the one form that training crops and that methods receive from the pipeline.
A product object has ``channels``, ``top_k`` (how many of the largest masks it reads; ``None`` = all),
``params()`` (JSON-able) and ``__call__(ir_masks, vi_masks, ir_image, vi_image) -> (channels, H, W)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .base import MaskSet, as_grey_float

__all__ = [
    "MaskPairs",
    "top_k_pairs",
    "modality_mask",
    "MaskProduct",
    "TopKPairs",
    "ModalityMasks",
    "PRODUCTS",
    "make_product",
]


@dataclass(frozen=True, eq=False)
class MaskPairs:
    """``k`` rank-paired masks: ``ir[i]`` goes with ``vi[i]``.

    ``ir``, ``vi``: (k, H, W) bool; ``valid``: (k,) bool, False for a slot filled with empty masks (SAGE then
    uses the unmasked IR / Y image in that slot).
    """

    ir: np.ndarray
    vi: np.ndarray
    valid: np.ndarray


def top_k_pairs(ir: MaskSet, vi: MaskSet, k: int = 4, *, limit: int | None = 20, skip_empty: bool = True) -> MaskPairs:
    """SAGE's mask pairing: the i-th largest IR mask with the i-th largest VIS mask, no spatial matching.

    Ranks ``i < min(limit, len(ir), len(vi))`` are candidates (SAGE caches 20); with ``skip_empty`` a pair
    where either mask is empty is skipped; the first ``k`` remaining pairs fill the slots, in rank order, and
    missing slots are empty masks with ``valid = False``.
    """
    if ir.shape != vi.shape:
        raise ValueError(f"IR masks are {ir.shape}, VIS masks {vi.shape}: pairs need one image size")
    if k < 0:
        raise ValueError("k must be >= 0")
    h, w = ir.shape
    n = min(len(ir), len(vi)) if limit is None else min(limit, len(ir), len(vi))
    out_ir = np.zeros((k, h, w), dtype=bool)
    out_vi = np.zeros((k, h, w), dtype=bool)
    valid = np.zeros(k, dtype=bool)
    slot = 0
    for i in range(n):
        if slot == k:
            break
        a, b = ir.masks[i], vi.masks[i]
        if skip_empty and (not a.any() or not b.any()):
            continue
        out_ir[slot], out_vi[slot], valid[slot] = a, b, True
        slot += 1
    return MaskPairs(out_ir, out_vi, valid)


def modality_mask(
    masks: MaskSet,
    image: np.ndarray | None = None,
    *,
    modality: str = "vis",
    min_share: float = 0.0005,
    max_share: float = 0.25,
    warm_sigma: float = 0.5,
) -> np.ndarray:
    """SGDFuse's single mask channel of one modality (docs/sgdfuse-notes.md §2), (H, W) bool.

    The union of the segments whose area ``a`` satisfies ``min_share ≤ a / (H·W) ≤ max_share`` (0.05 % to
    25 % drops sky and road "stuff"; the union of all segments would be nearly all ones).  For
    ``modality="ir"`` only warm segments count: ``mean(IR | segment) > mean(IR) + warm_sigma · std(IR)``,
    with IR as grey in [0, 1] (``image`` is required then).
    """
    if modality not in ("ir", "vis"):
        raise ValueError("modality must be 'ir' or 'vis'")
    h, w = masks.shape
    out = np.zeros((h, w), dtype=bool)
    if len(masks) == 0:
        return out
    share = masks.areas / float(h * w)
    keep = (share >= min_share) & (share <= max_share)
    if modality == "ir":
        if image is None:
            raise ValueError("modality='ir' needs the IR image to select warm segments")
        g = as_grey_float(image).astype(np.float64)
        if g.shape != (h, w):
            raise ValueError(f"image is {g.shape}, masks are {(h, w)}")
        cut = g.mean() + warm_sigma * g.std()
        flat = masks.masks.reshape(len(masks), -1)
        sums = flat @ g.ravel()
        means = np.divide(sums, masks.areas, out=np.full(len(masks), -np.inf), where=masks.areas > 0)
        keep &= means > cut
    if keep.any():
        out = masks.masks[keep].any(axis=0)
    return out


class MaskProduct(Protocol):
    """Turns one pair's masks into (channels, H, W) (see the module docstring)."""

    channels: int
    top_k: int | None

    def params(self) -> dict[str, Any]: ...

    def __call__(self, ir: MaskSet, vi: MaskSet, ir_image: np.ndarray, vi_image: np.ndarray) -> np.ndarray: ...


class TopKPairs:
    """SAGE: :func:`~samfuse.semantics.top_k_pairs` as ``2k`` channels, ``[ir_1 … ir_k, vi_1 … vi_k]`` (bool).

    A slot without a valid pair is filled with ``empty``: ``"ones"`` (default) so that ``image · mask`` is
    SAGE's input in every slot, the unmasked image where a pair is missing (docs/sage-notes.md §3), and this
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


#: Product objects by the name a method declares in ``needs_masks``.
PRODUCTS: dict[str, type] = {"top_k_pairs": TopKPairs, "modality_mask": ModalityMasks}


def make_product(name: str, **options: Any) -> MaskProduct:
    """The product object a method's ``needs_masks`` names (``"top_k_pairs"`` or ``"modality_mask"``)."""
    if name not in PRODUCTS:
        raise ValueError(f"unknown mask product {name!r} (known: {', '.join(PRODUCTS)})")
    return PRODUCTS[name](**options)
