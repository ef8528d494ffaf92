"""The fusion pipeline: read → (masks) → method → colour → write, for arrays and for file pairs.

Colour rule: a method that consumes luminance gets IR and the visible Y (BT.601 YCbCr via kornia); the visible
Cb/Cr are re-attached to the fused Y, so the output is colour whenever the visible input is. With ``gray=True``
(or a grey visible image) only the fused Y is returned. A colour IR image is reduced to its Y first. On the CPU the
visible image's conversions run on the arrays through OpenCV (the same BT.601 maths as kornia, one pass each).

``color="opencv"`` runs the SAGE authors' colour path instead (``samfuse.io.colour``, docs/sage-notes.md §6): both
images are 8-bit (as their script reads them), the visible goes through OpenCV's YCrCb, the method's raw output
(:meth:`~samfuse.models.base.FusionMethod.forward_raw`, not clamped) goes back through their inverse matrix, and
the result is quantised once, their way (``x·255 + 0.5``, clamp, truncate): ``fuse_arrays`` then returns uint8,
which ``write_image`` stores unchanged. As in their script, a grey visible image is taken as three equal channels
(Cr = Cb = 128), so the output is RGB unless ``gray=True``.

Value ranges apply per modality (``ir_range``, ``vi_range``): a 14-bit thermal camera in 16-bit files is read with
``ir_range=(0, 16383)`` while its 8-bit visible partner keeps ``x/255``. A fixed range beyond what an image's
samples can hold (an 8-bit image with a 16-bit range) gives one :class:`ValueRangeWarning` per pipeline and
modality, naming the file.

Masks: a method that declares ``needs_masks`` gets that product as a (1, C, H, W) float tensor in {0, 1}. Either
the caller passes ``masks=`` (an array (C, H, W), a tensor, or what the method itself accepts), or the pipeline
holds a :class:`~samfuse.semantics.MaskSource` (``FusionPipeline(masks=...)``; ``samfuse fuse --masks PROVIDER``)
and computes them per pair, through the mask cache, on the 8-bit form of the two images as fused (after
``resize_to``), so the masks always match the fused size.

Large images: a method with a pixel budget (:attr:`~samfuse.models.base.FusionMethod.tile_pixels`, the learned
ones) fuses an image above it in overlapping, blended tiles (:mod:`samfuse.tiling`), so memory stays bounded;
``tile_pixels=`` sets another budget, ``0`` turns tiling off. Images within the budget are fused whole.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import torch

from samfuse.batch import DEFAULT_METHOD
from samfuse.io import MIN_SIDE, InputError, Pair, is_grey, merge_luma, read_raw, split_luma, to_uint8, to_unit_float
from samfuse.io.colour import (
    COLOR_PATHS,
    ColorPath,
    authors_to_uint8,
    authors_ycrcb_to_rgb,
    merge_luma_array,
    opencv_grey,
    opencv_ycrcb,
    split_luma_array,
    unit_tensor,
)
from samfuse.io.reading import ValueRange, range_mismatch
from samfuse.models import build
from samfuse.models.base import FusionMethod
from samfuse.semantics.source import MaskSource
from samfuse.tiling import DEFAULT_OVERLAP, should_tile, tile_for_budget, tiled_forward

ResizeTo = Literal["ir", "vi"] | None


class ValueRangeWarning(UserWarning):
    """A value range that does not suit an image's bit depth (the command-line tools print it as one line)."""


def as_unit_array(img: np.ndarray | torch.Tensor, value_range: ValueRange = None) -> np.ndarray:
    """Any array-like image (uint8, uint16 or float in [0, 1]; H×W, H×W×1 or H×W×3) → float32 in [0, 1].

    Grey content stored in three equal channels becomes H×W.
    """
    arr = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3):
        raise ValueError(f"expected an H×W or H×W×3 image, got shape {arr.shape}")
    if arr.ndim == 3 and is_grey(arr):
        arr = arr[:, :, 0]
    return to_unit_float(arr, value_range)


def _to_tensor(img: np.ndarray, device: torch.device) -> torch.Tensor:
    """H×W → (1,1,H,W); H×W×3 → (1,3,H,W)."""
    t = torch.from_numpy(np.ascontiguousarray(img))
    t = t[None, None] if t.ndim == 2 else t.permute(2, 0, 1)[None]
    return t.to(device=device, dtype=torch.float32)


def _to_array(t: torch.Tensor) -> np.ndarray:
    """(1,1,H,W) → H×W; (1,3,H,W) → H×W×3, float32."""
    t = t[0].detach().float().cpu()
    return t[0].numpy() if t.shape[0] == 1 else t.permute(1, 2, 0).contiguous().numpy()


def resize_to_match(img: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Resize to ``size_hw`` (area averaging when shrinking, bicubic when enlarging), clipped to [0, 1]."""
    h, w = size_hw
    shrink = h * w < img.shape[0] * img.shape[1]
    out = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return np.clip(out, 0.0, 1.0)


class FusionPipeline:
    """A built method plus the colour and size rules, applied to arrays or to file pairs."""

    def __init__(
        self,
        method: str | FusionMethod = DEFAULT_METHOD,
        weights: str | Path | None = None,
        device: str | torch.device = "cpu",
        gray: bool = False,
        resize_to: ResizeTo = None,
        ir_range: ValueRange = None,
        vi_range: ValueRange = None,
        color: ColorPath = "ycbcr",
        masks: MaskSource | None = None,
        seed: int | None = None,
        method_options: Mapping[str, Any] | None = None,
        tile_pixels: int | None = -1,
    ) -> None:
        if color not in COLOR_PATHS:
            raise ValueError(f"unknown colour path {color!r} (use one of: {', '.join(COLOR_PATHS)})")
        self.color = color
        self.device = torch.device(device)
        # ``method_options``: the builder's own options (e.g. ``steps`` for sgdfuse); ``seed``: for methods that
        # sample (``samfuse.models.samples``); both passed to the builder
        options = dict(method_options or {})
        if seed is not None:
            options["seed"] = int(seed)
        self.method = method if isinstance(method, FusionMethod) else build(method, weights, self.device, **options)
        self.gray = gray
        self.resize_to = resize_to
        self.ranges: dict[str, ValueRange] = {"IR": ir_range, "VIS": vi_range}
        self._range_warned: set[str] = set()  # one warning per modality and pipeline (one run)
        self.masks = masks
        # ``tile_pixels``: -1 = the method's own budget; 0 or None = never tile; N = tile images above N pixels
        if tile_pixels is not None and int(tile_pixels) < -1:
            raise ValueError(f"tile_pixels must be 0 (never tile) or a number of pixels, not {tile_pixels}")
        self.tile_pixels = getattr(self.method, "tile_pixels", None) if tile_pixels == -1 else tile_pixels
        #: the :class:`samfuse.assembly.PipelineSpec` it was built from, as used (set by ``samfuse.assembly.build``)
        self.spec: Any = None

    def _call(self, fn: Any, ir: torch.Tensor, vi: torch.Tensor, masks: Any) -> torch.Tensor:
        """``fn(ir, vi, masks=masks)`` (the method or its ``forward_raw``), in tiles when the image is above the
        pixel budget and the masks (if any) are a tensor of the image's size that can be cut with it."""
        h, w = ir.shape[-2:]
        cuttable = masks is None or (isinstance(masks, torch.Tensor) and masks.ndim == 4 and masks.shape[-2:] == (h, w))
        if not (cuttable and should_tile(h, w, self.tile_pixels)):
            return fn(ir, vi, masks=masks)
        side = tile_for_budget(int(self.tile_pixels), DEFAULT_OVERLAP)  # type: ignore[arg-type]
        return tiled_forward(lambda a, b, m: fn(a, b, masks=m), [ir, vi, masks], side, DEFAULT_OVERLAP)

    def fuse_arrays(self, ir: Any, vi: Any, masks: Any = None, names: Sequence[str] = ("IR", "VIS")) -> np.ndarray:
        """Fuse one pair of images given as arrays; returns float32 in [0, 1] (H×W, or H×W×3 for colour), or
        uint8 with ``color="opencv"`` (the authors' quantisation; see the module docstring).

        Raises :class:`InputError` (naming ``names``) for mismatched sizes without ``resize_to``, or an image
        smaller than ``MIN_SIDE`` pixels a side. The same as :meth:`prepare_arrays` then :meth:`fuse_prepared`.
        """
        ir_a, vi_a = self.prepare_arrays(ir, vi, names)
        return self.fuse_prepared(ir_a, vi_a, masks, names)

    def prepare_arrays(self, ir: Any, vi: Any, names: Sequence[str] = ("IR", "VIS")) -> tuple[np.ndarray, np.ndarray]:
        """The first step of :meth:`fuse_arrays`: both images as float32 in [0, 1] (each modality's value range
        applied), sizes checked and ``resize_to`` applied, so the two arrays have the fused size."""
        ir_a = self._unit(ir, "IR", names[0])
        vi_a = self._unit(vi, "VIS", names[1])
        for arr, name in ((ir_a, names[0]), (vi_a, names[1])):
            if min(arr.shape[:2]) < max(MIN_SIDE, self.method.min_size):
                raise InputError(
                    f"{name}: image too small ({arr.shape[1]}×{arr.shape[0]}; at least "
                    f"{max(MIN_SIDE, self.method.min_size)} pixels a side)"
                )
        if ir_a.shape[:2] != vi_a.shape[:2]:
            if self.resize_to == "ir":
                vi_a = resize_to_match(vi_a, ir_a.shape[:2])
            elif self.resize_to == "vi":
                ir_a = resize_to_match(ir_a, vi_a.shape[:2])
            else:
                raise InputError(
                    f"{names[0]} ({ir_a.shape[1]}×{ir_a.shape[0]}) and {names[1]} ({vi_a.shape[1]}×"
                    f"{vi_a.shape[0]}): sizes differ (use --resize-to ir|vi)"
                )
        return ir_a, vi_a

    def masks_for(self, ir_a: np.ndarray, vi_a: np.ndarray, name: str = "IR") -> np.ndarray:
        """The mask product the method declares, from the pipeline's :class:`MaskSource`, for two arrays from
        :meth:`prepare_arrays` (computed on their 8-bit form). Raises :class:`InputError` without a source."""
        if self.masks is None:
            raise InputError(f"{name}: method needs {self.method.needs_masks} masks and none were given")
        # on the 8-bit form of what is fused: for 8-bit files these are the decoded pixels themselves, so
        # the cache entries are the ones `samfuse masks` writes for the same files
        return self.masks(str(self.method.needs_masks), to_uint8(ir_a), to_uint8(vi_a))

    @torch.inference_mode()
    def fuse_prepared(
        self, ir_a: np.ndarray, vi_a: np.ndarray, masks: Any = None, names: Sequence[str] = ("IR", "VIS")
    ) -> np.ndarray:
        """The second step of :meth:`fuse_arrays`, on two arrays from :meth:`prepare_arrays`; masks (when the
        method needs them and ``masks`` is None) come from :meth:`masks_for`."""
        if self.method.needs_masks is not None and masks is None:
            masks = self.masks_for(ir_a, vi_a, names[0])
        if isinstance(masks, np.ndarray):  # a product array (C, H, W) → (1, C, H, W) float tensor
            masks = torch.from_numpy(np.ascontiguousarray(masks)).to(self.device, torch.float32)[None]
        if self.color == "opencv":
            return self._fuse_opencv(to_uint8(ir_a), to_uint8(vi_a), masks)  # lossless for 8-bit input
        if self.method.consumes == "y" and vi_a.ndim == 3 and self.device.type == "cpu":
            return self._fuse_luma_arrays(ir_a, vi_a, masks)
        ir_t, vi_t = _to_tensor(ir_a, self.device), _to_tensor(vi_a, self.device)
        if ir_t.shape[1] == 3:
            ir_t = split_luma(ir_t)[0]
        colour = vi_t.shape[1] == 3
        if self.method.consumes == "y":
            if colour:
                vi_y, cbcr = split_luma(vi_t)
                fused = self._call(self.method, ir_t, vi_y, masks).clamp(0.0, 1.0)
                out = fused if self.gray else merge_luma(fused, cbcr)
            else:
                out = self._call(self.method, ir_t, vi_t, masks).clamp(0.0, 1.0)
        else:
            vi_rgb = vi_t if colour else vi_t.expand(-1, 3, -1, -1)
            out = self._call(self.method, ir_t, vi_rgb, masks).clamp(0.0, 1.0)
            if self.gray or not colour:
                out = split_luma(out)[0]
        return _to_array(out)

    def _fuse_luma_arrays(self, ir_a: np.ndarray, vi_a: np.ndarray, masks: Any) -> np.ndarray:
        """The ``ycbcr`` path of a luminance method for a colour visible image on the CPU: the tensor path's steps,
        with the visible image's conversions on the arrays (:func:`~samfuse.io.colour.split_luma_array`,
        :func:`~samfuse.io.colour.merge_luma_array`: the same Y, the same colour maths in fewer passes)."""
        ir_t = _to_tensor(ir_a, self.device)
        if ir_t.shape[1] == 3:
            ir_t = split_luma(ir_t)[0]
        vi_y, ycrcb = split_luma_array(vi_a)
        fused = _to_array(self._call(self.method, ir_t, torch.from_numpy(vi_y)[None, None], masks).clamp(0.0, 1.0))
        return fused if self.gray else merge_luma_array(fused, ycrcb)

    def _unit(self, img: Any, modality: str, name: str) -> np.ndarray:
        """``as_unit_array`` with the modality's value range; warns once if the range does not suit the image."""
        value_range = self.ranges[modality]
        if value_range is not None and modality not in self._range_warned:
            arr = img.detach() if isinstance(img, torch.Tensor) else np.asarray(img)
            why = range_mismatch(arr.cpu().numpy() if isinstance(arr, torch.Tensor) else arr, value_range)
            if why is not None:
                self._range_warned.add(modality)
                option = "ir_range, --ir-range" if modality == "IR" else "vi_range, --vi-range"
                warnings.warn(
                    f"{name}: {why}; check the {modality} value range ({option}); warned once per run",
                    ValueRangeWarning,
                    stacklevel=3,
                )
        return as_unit_array(img, value_range)

    def _fuse_opencv(self, ir_u8: np.ndarray, vi_u8: np.ndarray, masks: Any) -> np.ndarray:
        """The authors' colour path on 8-bit arrays (H×W or H×W×3 RGB) → uint8."""
        ir_t = unit_tensor(opencv_grey(ir_u8)).to(self.device)
        vi3 = vi_u8 if vi_u8.ndim == 3 else np.repeat(vi_u8[:, :, None], 3, axis=2)
        if self.method.consumes == "y":
            ycrcb = unit_tensor(opencv_ycrcb(vi3)).to(self.device)
            fused = self._call(self.method.forward_raw, ir_t, ycrcb[:, :1], masks)
            out = fused if self.gray else authors_ycrcb_to_rgb(fused, ycrcb[:, 1:])
        else:
            out = self._call(self.method, ir_t, unit_tensor(vi3).to(self.device), masks)
            if self.gray:
                out = split_luma(out.clamp(0.0, 1.0))[0]
        return authors_to_uint8(out)

    @staticmethod
    def read_pair(pair: Pair) -> tuple[np.ndarray, np.ndarray]:
        """Decode a file pair (see :func:`samfuse.io.read_raw`); safe to call from worker threads."""
        return read_raw(pair.ir), read_raw(pair.vi)

    def fuse_pair(self, pair: Pair, raw: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """Read a file pair (unless ``raw``, its already decoded arrays, is given) and fuse it (see
        :meth:`fuse_arrays`); errors name the files."""
        ir, vi = self.read_pair(pair) if raw is None else raw
        return self.fuse_arrays(ir, vi, names=(str(pair.ir), str(pair.vi)))
