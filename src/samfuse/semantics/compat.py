"""Minimal torchvision / timm stand-ins so ``segment_anything`` and ``mobile_sam`` import without them.

There is no torchvision build for the pinned torch, and timm cannot be imported without torchvision, yet
both SAM packages import them at module level (see ``../shared/weights/README.md``).  The packages use only:

* ``torchvision.ops.boxes.batched_nms`` and ``box_area`` (``automatic_mask_generator.py``),
* ``torchvision.transforms.functional.resize`` and ``to_pil_image`` (``utils/transforms.py``),
* ``timm.models.layers.DropPath``, ``to_2tuple``, ``trunc_normal_`` and ``timm.models.registry.register_model``
  (``mobile_sam/modeling/tiny_vit_sam.py`` only).

:func:`install` first tries the real packages; only for a package whose import fails does it put these small
stand-ins into :data:`sys.modules`.  Nothing here runs unless the SAM provider is used.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from PIL import Image

__all__ = ["box_area", "nms", "batched_nms", "to_pil_image", "resize", "DropPath", "install"]


# --------------------------------------------------------------------------- torchvision.ops
def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Area of (N, 4) ``x1, y1, x2, y2`` boxes: ``(x2 - x1) * (y2 - y1)`` (no +1)."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _pairwise_iou(boxes: torch.Tensor) -> torch.Tensor:
    """IoU matrix ``inter / (area_i + area_j - inter)`` of (N, 4) boxes."""
    area = box_area(boxes)
    lt = torch.maximum(boxes[:, None, :2], boxes[None, :, :2])
    rb = torch.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter / (area[:, None] + area[None, :] - inter)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression, same contract as ``torchvision.ops.nms``.

    Boxes are visited by descending score; a box is dropped when its IoU with an already kept box is
    ``> iou_threshold``.  Returns the kept indices (int64) in descending score order.
    """
    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.int64, device=boxes.device)
    boxes = boxes.float()
    order = torch.argsort(scores, descending=True, stable=True)
    iou = _pairwise_iou(boxes[order]).cpu().numpy()
    n = order.numel()
    suppressed = np.zeros(n, dtype=bool)
    keep: list[int] = []
    for i in range(n):
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= iou[i] > iou_threshold
    return order[torch.as_tensor(keep, dtype=torch.int64, device=order.device)]


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """NMS done independently per category ``idxs``: boxes are offset by ``idxs * (max coordinate + 1)``
    so that boxes of different categories never overlap, then :func:`nms` runs once."""
    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.int64, device=boxes.device)
    offsets = idxs.to(boxes) * (boxes.max() + 1)
    return nms(boxes + offsets[:, None], scores, iou_threshold)


# --------------------------------------------------------------------------- torchvision.transforms
def to_pil_image(pic: Any) -> Image.Image:
    """``PIL.Image.fromarray`` of an HxW or HxWxC uint8 array (the only use in SAM)."""
    return Image.fromarray(np.asarray(pic))


def resize(img: Image.Image, size: tuple[int, int] | list[int]) -> Image.Image:
    """Bilinear resize of a PIL image to ``size = (h, w)``."""
    h, w = int(size[0]), int(size[1])
    return img.resize((w, h), Image.BILINEAR)


# --------------------------------------------------------------------------- timm
class DropPath(torch.nn.Module):
    """Stochastic depth: in training, zero whole samples with probability ``drop_prob`` and scale the
    survivors by ``1 / (1 - drop_prob)``; identity in eval mode."""

    def __init__(self, drop_prob: float = 0.0, scale_by_keep: bool = True) -> None:
        super().__init__()
        self.drop_prob = float(drop_prob or 0.0)
        self.scale_by_keep = scale_by_keep

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        shape = (x.shape[0],) + (1,) * (x.ndim - 1)
        mask = x.new_empty(shape).bernoulli_(keep)
        if self.scale_by_keep and keep > 0:
            mask.div_(keep)
        return x * mask

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob}"


def to_2tuple(x: Any) -> Any:
    """``x -> (x, x)`` unless ``x`` is already a tuple or list."""
    if isinstance(x, tuple | list):
        return tuple(x)
    return (x, x)


def trunc_normal_(
    tensor: torch.Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0
) -> torch.Tensor:
    """Truncated normal init (``torch.nn.init.trunc_normal_``, cut at absolute values ``a``, ``b``)."""
    return torch.nn.init.trunc_normal_(tensor, mean=mean, std=std, a=a, b=b)


def register_model(fn: Callable[..., Any]) -> Callable[..., Any]:
    """timm's model-registry decorator, reduced to the identity."""
    return fn


# --------------------------------------------------------------------------- installation
def _module(name: str, **attrs: Any) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    mod.__dict__["__samfuse_shim__"] = True
    return mod


def _real_import_works(name: str) -> bool:
    try:
        importlib.import_module(name)
    except Exception:
        # a half-imported package must not linger in sys.modules
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]
        return False
    return True


def _install_torchvision() -> None:
    boxes = _module("torchvision.ops.boxes", box_area=box_area, nms=nms, batched_nms=batched_nms)
    ops = _module("torchvision.ops", boxes=boxes, box_area=box_area, nms=nms, batched_nms=batched_nms)
    functional = _module("torchvision.transforms.functional", resize=resize, to_pil_image=to_pil_image)
    transforms = _module("torchvision.transforms", functional=functional)
    tv = _module("torchvision", ops=ops, transforms=transforms, __version__="0.0+samfuse-shim")
    sys.modules.update(
        {
            "torchvision": tv,
            "torchvision.ops": ops,
            "torchvision.ops.boxes": boxes,
            "torchvision.transforms": transforms,
            "torchvision.transforms.functional": functional,
        }
    )


def _install_timm() -> None:
    layers = _module("timm.models.layers", DropPath=DropPath, to_2tuple=to_2tuple, trunc_normal_=trunc_normal_)
    registry = _module("timm.models.registry", register_model=register_model)
    models = _module("timm.models", layers=layers, registry=registry, register_model=register_model)
    timm = _module("timm", models=models, __version__="0.0+samfuse-shim")
    sys.modules.update(
        {"timm": timm, "timm.models": models, "timm.models.layers": layers, "timm.models.registry": registry}
    )


def install() -> dict[str, str]:
    """Make ``torchvision`` and ``timm`` importable; return ``{"torchvision": "real"|"shim", "timm": ...}``.

    Idempotent.  A real package that imports is always preferred and left untouched.
    """
    used: dict[str, str] = {}
    for name, installer in (("torchvision", _install_torchvision), ("timm", _install_timm)):
        mod = sys.modules.get(name)
        if mod is not None:
            used[name] = "shim" if getattr(mod, "__samfuse_shim__", False) else "real"
            continue
        if _real_import_works(name):
            used[name] = "real"
        else:
            installer()
            used[name] = "shim"
    return used
