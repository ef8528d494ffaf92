"""The method contract every fusion method implements.

A method is a :class:`torch.nn.Module` that declares what it consumes:

* ``consumes = "y"``: ``forward(ir, vi_y)`` takes IR (B,1,H,W) and the visible luminance (B,1,H,W) and returns
  the fused luminance (B,1,H,W); the pipeline re-attaches the visible chroma.
* ``consumes = "rgb"``: ``forward(ir, vi_rgb)`` takes IR (B,1,H,W) and visible RGB (B,3,H,W) and returns RGB.

``needs_masks`` names the mask product it wants (``None``, ``"top_k_pairs"`` or ``"modality_mask"``), passed as
``masks=``. Values are floats in [0, 1] at the boundary; any H×W goes in and the same H×W comes out (padding
to a network's multiple is the method's own business).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
from torch import nn

Consumes = Literal["y", "rgb"]
#: The name of a mask product a method declares (``needs_masks``); the products themselves are
#: :class:`samfuse.semantics.products.MaskProduct` objects (:func:`samfuse.semantics.products.make_product`).
MaskProductName = Literal["top_k_pairs", "modality_mask"]


class MissingWeightsError(ValueError):
    """A method that needs trained weights was built without them; the message says how to get them."""


class FusionMethod(nn.Module):
    """Base class of every registered method (see the module docstring for the contract)."""

    consumes: ClassVar[Consumes] = "y"
    needs_masks: ClassVar[MaskProductName | None] = None
    #: Smallest height/width the method accepts.
    min_size: ClassVar[int] = 1
    #: the backend ``--backend auto`` (the default) runs it on, on a CPU where onnxruntime is installed: ``"onnx"``
    #: for methods made for real time (``sage-rt``), ``"torch"`` otherwise
    preferred_backend: ClassVar[str] = "torch"
    #: Pixel budget of one network call: the pipeline fuses a larger image in overlapping tiles of about this
    #: many pixels (:mod:`samfuse.tiling`), so memory stays bounded. None: never tiled (the classical
    #: baselines, whose memory is small, and the Laplacian pyramid, which tiles would change).
    tile_pixels: ClassVar[int | None] = None

    def forward(self, ir: torch.Tensor, vi: torch.Tensor, masks: Any = None) -> torch.Tensor:  # noqa: D401
        raise NotImplementedError

    def forward_raw(self, ir: torch.Tensor, vi: torch.Tensor, masks: Any = None) -> torch.Tensor:
        """The output before the method maps it to [0, 1] (e.g. a tanh in (-1, 1)); the authors' colour path
        (``color="opencv"``) uses it. Default: :meth:`forward`."""
        return self.forward(ir, vi, masks)
