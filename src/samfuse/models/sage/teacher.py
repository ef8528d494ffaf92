"""``sage-teacher``: SAGE's SAM-guided teacher with Semantic Persistent Attention (docs/sage-notes.md §2).

:class:`SageTeacherNet` is the network: ``forward(y, ir, vm, im)`` with the visible luminance ``y`` and ``ir``
(B, 1, H, W) and the 4 masked VIS-Y images ``vm`` and 4 masked IR images ``im`` (B, 4, H, W; see
:mod:`samfuse.semantics.masked`), all in [0, 1]. Any H×W: the inputs are reflect-padded (bottom/right) to a
multiple of 16 and the outputs cropped back. Layers (3×3 convs with bias, LeakyReLU 0.01 = "LReLU"):

* image encoder ``cat(y, ir)`` 2→16→32 (= ``img0``) →64 (= ``f``), LReLU after each;
  IR-mask encoder 4→16→32→64, LReLU after each; VIS-mask encoder the same but no LReLU after its 64-ch conv;
* one :class:`~samfuse.models.sage.spa.SPAStage` shared by all five stages S1..S5 (outputs O1..O5, 256 ch):
  S1 at H; [Conv 256→64, MaxPool 2, LReLU]; S2 at H/2; [same, own weights]; S3 at H/4;
  ``up(O3) + O2`` → Conv 256→64 + LReLU → S4 at H/2; ``up(O4) + O1`` → Conv + LReLU → S5 at H
  (``up`` bilinear, align_corners=True). The mask streams get MaxPool 2 down and ×2 bilinear
  (align_corners=True) up;
* decoder ``cat(O5, f)`` 320→256→128→64, ``cat(·, img0)`` 96→64→32→16→1, LReLU after every conv,
  the last one included (no tanh/sigmoid: the output may leave [0, 1]; the pipeline clamps);
* distillation taps: 1×1 convs 256→32 on O1..O5, returned with ``return_taps=True`` at the student's
  resolutions (H, ⌊H/2⌋, ⌊H/4⌋, ⌊H/2⌋, H). They feed nothing else, so only the feature loss trains them.

2,639,505 parameters: the authors' 2,787,025 minus their unused ``compress_and_upsample`` (147,520).

:class:`SageTeacher` wraps it as a fusion method (``consumes = "y"``, ``needs_masks = "top_k_pairs"``): it gets
the :class:`~samfuse.semantics.products.MaskPairs` of each image and builds the masked images itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from samfuse.io.checkpoint import check_state_dict, load_state_dict
from samfuse.models.base import FusionMethod, MissingWeightsError
from samfuse.models.registry import register
from samfuse.semantics.masked import masked_images
from samfuse.semantics.products import MaskPairs

from .spa import SPAStage

__all__ = [
    "SageTeacherNet",
    "SageTeacher",
    "masked_image_tensors",
    "load_teacher_weights",
    "NO_WEIGHTS",
]

#: what ``build("sage-teacher")`` says without weights
NO_WEIGHTS = "sage-teacher: no weights; train them with `samfuse train sage` or pass --weights FILE"

#: the network's H and W must be multiples of this (MaxPool 2, 2, then 4 inside the SPA stage)
MULTIPLE = 16


def _lrelu() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.01)


def _convs(channels: Sequence[int], last_act: bool = True) -> nn.Sequential:
    """3×3 convs ``channels[0] → channels[1] → …``, each followed by LReLU (the last one only if ``last_act``)."""
    layers: list[nn.Module] = []
    for i, (cin, cout) in enumerate(zip(channels[:-1], channels[1:], strict=True)):
        layers.append(nn.Conv2d(cin, cout, 3, 1, 1))
        if last_act or i < len(channels) - 2:
            layers.append(_lrelu())
    return nn.Sequential(*layers)


def _pad_to_multiple(x: torch.Tensor, m: int) -> torch.Tensor:
    """Pad bottom/right to a multiple of ``m``: reflect, or replicate where the side is too short to reflect."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % m, (-w) % m
    if ph == 0 and pw == 0:
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def _up(x: torch.Tensor, size: torch.Size | tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


class SageTeacherNet(nn.Module):
    """The SAGE teacher network (see the module docstring). ``mask_num``: masked images per modality (4)."""

    def __init__(self, mask_num: int = 4) -> None:
        super().__init__()
        self.mask_num = mask_num
        self.encoder_img = _convs((2, 16, 32))
        self.encoder_img2 = _convs((32, 64))
        self.encoder_ir = _convs((mask_num, 16, 32, 64))
        self.encoder_vi = _convs((mask_num, 16, 32, 64), last_act=False)
        self.spa = SPAStage(64)
        self.down1 = nn.Sequential(nn.Conv2d(256, 64, 3, 1, 1), nn.MaxPool2d(2), _lrelu())
        self.down2 = nn.Sequential(nn.Conv2d(256, 64, 3, 1, 1), nn.MaxPool2d(2), _lrelu())
        self.up1 = _convs((256, 64))
        self.up2 = _convs((256, 64))
        self.decoder1 = _convs((320, 256, 128, 64))
        self.decoder2 = _convs((96, 64, 32, 16, 1))
        self.taps = nn.ModuleList(nn.Conv2d(256, 32, 1) for _ in range(5))

    def forward(
        self,
        y: torch.Tensor,
        ir: torch.Tensor,
        vm: torch.Tensor,
        im: torch.Tensor,
        return_taps: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """Fused luminance (B, 1, H, W); with ``return_taps`` also the five 32-ch taps at the student's sizes."""
        if vm.shape[1] != self.mask_num or im.shape[1] != self.mask_num:
            raise ValueError(f"expected {self.mask_num} masked images per modality, got {vm.shape[1]}, {im.shape[1]}")
        if not (y.shape == ir.shape and y.shape[1] == 1 and vm.shape[-2:] == im.shape[-2:] == y.shape[-2:]):
            shapes = ", ".join(str(tuple(t.shape)) for t in (y, ir, vm, im))
            raise ValueError(f"y, ir (B,1,H,W) and vm, im (B,{self.mask_num},H,W) must share B, H, W; got {shapes}")
        h, w = y.shape[-2:]
        y, ir, vm, im = (_pad_to_multiple(t, MULTIPLE) for t in (y, ir, vm, im))

        img0 = self.encoder_img(torch.cat((y, ir), 1))
        f = self.encoder_img2(img0)
        v, r = self.encoder_vi(vm), self.encoder_ir(im)

        o1, v, r = self.spa(f, v, r)  # H
        v, r = F.max_pool2d(v, 2), F.max_pool2d(r, 2)
        o2, v, r = self.spa(self.down1(o1), v, r)  # H/2
        v, r = F.max_pool2d(v, 2), F.max_pool2d(r, 2)
        o3, v, r = self.spa(self.down2(o2), v, r)  # H/4
        x = self.up1(_up(o3, o2.shape[-2:]) + o2)
        v, r = _up(v, x.shape[-2:]), _up(r, x.shape[-2:])
        o4, v, r = self.spa(x, v, r)  # H/2
        x = self.up2(_up(o4, o1.shape[-2:]) + o1)
        v, r = _up(v, x.shape[-2:]), _up(r, x.shape[-2:])
        o5, _, _ = self.spa(x, v, r)  # H

        out = self.decoder2(torch.cat((self.decoder1(torch.cat((o5, f), 1)), img0), 1))[..., :h, :w]
        if not return_taps:
            return out
        sizes = ((h, w), (h // 2, w // 2), (h // 4, w // 4), (h // 2, w // 2), (h, w))
        taps = tuple(
            conv(o)[..., :th, :tw] for conv, o, (th, tw) in zip(self.taps, (o1, o2, o3, o4, o5), sizes, strict=True)
        )
        return out, taps


def masked_image_tensors(
    masks: MaskPairs | Sequence[MaskPairs] | torch.Tensor | np.ndarray, ir: torch.Tensor, vi_y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(vm, im)``, each (B, K, H, W), for ``ir``/``vi_y`` (B, 1, H, W).

    ``masks``: one :class:`MaskPairs` per image of the batch (see :func:`samfuse.semantics.masked.masked_images`:
    image kept inside mask k, zero outside; slots without a valid pair hold the unmasked image), or the
    ``top_k_pairs`` product array the pipeline and training hand over, (B, 2K, H, W) or (2K, H, W) with channels
    ``[ir_1 … ir_K, vi_1 … vi_K]`` and slots without a pair already all ones
    (:class:`~samfuse.semantics.TopKPairs`), so that ``image · mask`` is the same masked image.
    """
    if isinstance(masks, torch.Tensor | np.ndarray):
        m = torch.as_tensor(masks).to(device=ir.device, dtype=ir.dtype)
        m = m[None] if m.ndim == 3 else m
        if m.ndim != 4 or m.shape[1] % 2 or m.shape[0] != ir.shape[0] or m.shape[-2:] != ir.shape[-2:]:
            raise ValueError(
                f"top_k_pairs masks are {tuple(m.shape)}; expected ({ir.shape[0]}, 2K, {ir.shape[2]}, {ir.shape[3]})"
            )
        k = m.shape[1] // 2
        return vi_y * m[:, k:], ir * m[:, :k]
    seq = [masks] if isinstance(masks, MaskPairs) else list(masks)
    if len(seq) != ir.shape[0]:
        raise ValueError(f"got masks for {len(seq)} image(s), but the batch holds {ir.shape[0]}")
    ims, vms = [], []
    for pairs, ir_b, y_b in zip(seq, ir, vi_y, strict=True):
        if not isinstance(pairs, MaskPairs):
            raise TypeError(f"sage-teacher needs top_k_pairs masks (MaskPairs), got {type(pairs).__name__}")
        im_b, vm_b = masked_images(pairs, ir_b[0], y_b[0])
        ims.append(im_b)
        vms.append(vm_b)
    return torch.stack(vms), torch.stack(ims)


class SageTeacher(FusionMethod):
    """The SAGE teacher as a fusion method: ``forward(ir, vi_y, masks)``, masks = ``top_k_pairs`` (k = 4).

    ``masks``: one :class:`MaskPairs` per image of the batch (a single one for a batch of one). The output is
    clamped to [0, 1] (the method contract); :class:`SageTeacherNet` itself returns the raw values for training.
    """

    consumes = "y"
    tile_pixels = 307_200  # tiles above 640×480, whose whole forward peaks at 2.79 GiB (sage_teacher_cost.md)
    needs_masks = "top_k_pairs"

    def __init__(self, net: SageTeacherNet | None = None) -> None:
        super().__init__()
        self.net = net if net is not None else SageTeacherNet()

    def forward(self, ir: torch.Tensor, vi: torch.Tensor, masks: Any = None) -> torch.Tensor:
        if masks is None:
            raise ValueError("sage-teacher needs top_k_pairs masks (4 rank pairs) and none were given")
        vm, im = masked_image_tensors(masks, ir, vi)
        return cast(torch.Tensor, self.net(vi, ir, vm, im)).clamp(0.0, 1.0)


def load_teacher_weights(net: SageTeacherNet, path: str | Path) -> None:
    """Load ``path`` (safetensors, or a plain state dict; fp16 is cast) into ``net`` strictly, through
    :mod:`samfuse.io.checkpoint`: a bad file or a tensor of the wrong name or shape is one
    :class:`~samfuse.io.checkpoint.CheckpointError` line naming the file."""
    state = load_state_dict(path)
    check_state_dict(state, net, path, what="sage-teacher")
    net.load_state_dict(state, strict=True)


@register("sage-teacher", "SAGE's SAM-guided teacher (SPA attention; needs top_k_pairs masks: --masks PROVIDER)")
def build_sage_teacher(weights: str | Path | None = None, random_init: bool = False) -> SageTeacher:
    """The teacher with ``weights`` (a file: safetensors or a plain state dict), by default the shipped one
    (:data:`samfuse.models.sage.shipped.TEACHER`).

    ``random_init=True`` builds it untrained (contract tests, speed measurements; never for fusing)."""
    if weights is None and random_init:
        return SageTeacher(SageTeacherNet())
    if weights is None:
        from samfuse.models.sage.shipped import TEACHER

        if not TEACHER.is_file():
            raise MissingWeightsError(NO_WEIGHTS)
        weights = TEACHER
    net = SageTeacherNet()
    load_teacher_weights(net, weights)
    return SageTeacher(net)
