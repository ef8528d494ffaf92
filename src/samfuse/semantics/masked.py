"""SAGE's masked images: each source image kept inside one mask of a rank pair, zero outside.

The SAGE teacher and its contrastive-semantic loss do not take binary masks but *masked images*
(``docs/sage-notes.md`` §3): for the ``k``-th pair of :func:`~samfuse.semantics.products.top_k_pairs`,
``IM_k = IR · ir_mask_k`` and ``VM_k = Y · vi_mask_k``, where Y is the visible luminance. A slot without a valid
pair (``valid[k]`` False: fewer non-empty pairs than slots) holds the unmasked image. The authors zero the 8-bit
image outside the mask and convert it to grey / Y afterwards, which is the same as multiplying the grey / Y
image by the 0/1 mask, since both conversions map black to 0.

Make them at full resolution, then crop and flip them exactly like the sources (the training dataset does).
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

from .products import MaskPairs

__all__ = ["masked_images", "masked_stack"]

Image = TypeVar("Image", np.ndarray, torch.Tensor)


def masked_stack(image: Image, masks: np.ndarray, valid: np.ndarray) -> Image:
    """``out[k] = image · masks[k]`` where ``valid[k]``, else ``image``; (H, W) in, (K, H, W) out, same type.

    ``image``: (H, W) float array or tensor (a tensor stays on its device and keeps its dtype and autograd);
    ``masks``: (K, H, W) bool; ``valid``: (K,) bool.
    """
    if masks.ndim != 3 or tuple(masks.shape[1:]) != tuple(image.shape):
        raise ValueError(f"masks are {tuple(masks.shape)}, the image is {tuple(image.shape)}: sizes differ")
    if valid.shape != (masks.shape[0],):
        raise ValueError(f"valid must be ({masks.shape[0]},), got {valid.shape}")
    keep = masks | ~valid.astype(bool)[:, None, None]  # an invalid slot keeps every pixel
    if isinstance(image, torch.Tensor):
        m = torch.from_numpy(np.ascontiguousarray(keep)).to(image.device)
        return image.unsqueeze(0) * m.to(image.dtype)
    return image[None] * keep.astype(image.dtype)


def masked_images(pairs: MaskPairs, ir: Image, vi_y: Image) -> tuple[Image, Image]:
    """SAGE's masked images of one pair: ``(IM, VM)``, each (K, H, W), K = the number of slots of ``pairs``.

    ``IM[k] = ir · pairs.ir[k]``, ``VM[k] = vi_y · pairs.vi[k]`` for valid slots; invalid slots hold the
    unmasked ``ir`` / ``vi_y``. ``ir`` and ``vi_y``: (H, W) grey / luminance, numpy or torch (the type is kept).
    """
    return masked_stack(ir, pairs.ir, pairs.valid), masked_stack(vi_y, pairs.vi, pairs.valid)
