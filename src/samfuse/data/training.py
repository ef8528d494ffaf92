"""The training dataset: IR + VIS pairs (and optional per-image masks) as random crops with flips.

``TrainingPairs(pairs, crop=(h, w), seed=…)`` yields dicts of float32 tensors in [0, 1]::

    {"ir": (1, h, w), "vi": (3, h, w) RGB, "vi_y": (1, h, w) BT.601 luma, "masks": (C, h, w)  (with masks),
     "index": int, "stem": str}

Decisions (see docs/training.md):

* **Reading** as ``samfuse fuse`` does (:func:`samfuse.io.read_raw`, 8-bit ``/255``, 16-bit ``/65535`` or
  ``value_range``): grey stored as three equal channels is grey; a colour IR image is reduced to its luma; a
  grey visible image is replicated to three RGB channels (its Y is the grey itself). RoadScene's JPEGs and odd
  sizes are read as they are.
* **Checked once, up front**: every pair is read when the dataset is built; a pair that cannot be read or
  whose IR and VIS sizes differ is left out with one line in ``problems`` (an error: ``samfuse train`` prints
  it and exits 1 at the end), one smaller than the crop with ``small="skip"`` with one line in ``skipped``
  (a choice, not an error); so a bad file never stops a training run half-way.
* **Smaller than the crop** (``small="pad"``, the default): the image is padded at the bottom/right by
  reflection (masks too, so they stay aligned with the content) up to the crop size, then cropped. On
  ``train`` this concerns 4 RoadScene pairs of 161–191 rows against SAGE's 192-row crop; reflection keeps
  image statistics, where zero padding would teach a network black borders.
* **Randomness** is a pure function of ``(seed, epoch, index)`` (``numpy.random.default_rng``): the crop
  offset, then the horizontal flip (p = 0.5, ``hflip``), then the vertical flip (``vflip``). The same sample
  of the same epoch is the same crop in any process, any DataLoader worker, before or after a resume.
  Call :meth:`set_epoch` when the epoch changes (the training loop does).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from samfuse.io import MIN_SIDE, InputError, Pair, is_grey, read_raw, to_unit_float
from samfuse.io.bt601 import rgb_luma
from samfuse.io.reading import ValueRange

__all__ = ["PairChannels", "TrainingPairs", "read_pair"]

#: One pair's per-image channels: ``(index, pair, ir_raw, vi_raw) -> (C, H, W)`` array (bool or float in [0, 1])
#: at the image's size; :class:`TrainingPairs` crops and flips them with the images. Masks
#: (:class:`samfuse.data.masks.CachedMasks`) or extra inputs (SGDFuse's F1). Not
#: :class:`samfuse.semantics.MaskSource`, which gives a method its masks at inference.
PairChannels = Callable[[int, Pair, np.ndarray, np.ndarray], np.ndarray]


def _grey(raw: np.ndarray) -> bool:
    return raw.ndim == 2 or is_grey(raw)


def read_pair(pair: Pair) -> tuple[np.ndarray, np.ndarray]:
    """The pair's two raw arrays, resized (bicubic, same dtype) to ``pair.size`` (w, h) when the dataset sets it."""
    ir, vi = read_raw(pair.ir), read_raw(pair.vi)
    if pair.size is not None:
        import cv2

        ir, vi = (cv2.resize(a, pair.size, interpolation=cv2.INTER_CUBIC) for a in (ir, vi))
    return ir, vi


def _resize_channels(m: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """(C, H, W) per-image channels resized to ``hw`` (nearest, so binary masks stay binary)."""
    import cv2

    return np.stack([cv2.resize(c.astype(np.float32), (hw[1], hw[0]), interpolation=cv2.INTER_NEAREST) for c in m])


class TrainingPairs(Dataset):
    """Random crops + flips of registered pairs, with masks moved together (see the module docstring).

    ``crop``: (h, w), or None for whole images (batches of one when sizes differ). ``masks``: a
    :data:`PairChannels` such as :class:`samfuse.data.masks.CachedMasks`, or None. ``extras``: further
    per-image (C, H, W) arrays by name, cropped and flipped with the images and returned under that name as
    float32 (e.g. SGDFuse's stage-1 output F1 computed once at full resolution).
    """

    def __init__(
        self,
        pairs: Sequence[Pair],
        crop: tuple[int, int] | None = (192, 256),
        *,
        seed: int = 0,
        hflip: bool = True,
        vflip: bool = False,
        masks: PairChannels | None = None,
        extras: Mapping[str, PairChannels] | None = None,
        small: Literal["pad", "skip"] = "pad",
        value_range: ValueRange = None,
    ) -> None:
        if small not in ("pad", "skip"):
            raise ValueError("small must be 'pad' or 'skip'")
        if crop is not None and (len(crop) != 2 or min(crop) < 1):
            raise ValueError(f"crop must be (h, w) with positive sides, got {crop}")
        self.crop = None if crop is None else (int(crop[0]), int(crop[1]))
        self.seed, self.hflip, self.vflip = int(seed), bool(hflip), bool(vflip)
        self.masks, self.small, self.value_range = masks, small, value_range
        self.extras = dict(extras or {})
        reserved = {"ir", "vi", "vi_y", "masks", "index", "stem"} & set(self.extras)
        if reserved:
            raise ValueError(f"extras may not be named {sorted(reserved)}")
        self.epoch = 0
        self.problems: list[str] = []  # bad pairs (unreadable, sizes differ, too small to use): errors
        self.skipped: list[str] = []  # pairs smaller than the crop with small="skip": a choice, not an error
        self.pairs: list[Pair] = []
        self.sizes: list[tuple[int, int]] = []
        for pair in pairs:
            reason = self._check(pair)
            if reason.endswith("(skipped)"):
                self.skipped.append(reason)
            elif reason:
                self.problems.append(reason)
            else:
                self.pairs.append(pair)
        if not self.pairs:
            out = self.problems + self.skipped
            detail = f" ({len(out)} left out, first: {out[0]})" if out else ""
            raise InputError(f"no usable training pair{detail}")

    def _check(self, pair: Pair) -> str:
        """One-line reason to leave ``pair`` out, or "" (and its size recorded)."""
        try:
            ir, vi = read_pair(pair)
        except InputError as err:
            return str(err)
        if ir.shape[:2] != vi.shape[:2]:
            return (
                f"{pair.ir}: IR is {ir.shape[1]}x{ir.shape[0]}, visible {pair.vi.name} is {vi.shape[1]}x{vi.shape[0]}"
            )
        h, w = ir.shape[:2]
        if min(h, w) < MIN_SIDE:
            return f"{pair.ir}: image is {w}x{h}, under {MIN_SIDE} pixels a side"
        if self.small == "skip" and self.crop is not None and (h < self.crop[0] or w < self.crop[1]):
            return f"{pair.ir}: image is {w}x{h}, smaller than the {self.crop[1]}x{self.crop[0]} crop (skipped)"
        self.sizes.append((h, w))
        return ""

    def __len__(self) -> int:
        return len(self.pairs)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose crops and flips :meth:`__getitem__` returns."""
        self.epoch = int(epoch)

    def rng(self, index: int) -> np.random.Generator:
        """The generator of sample ``index`` in the current epoch."""
        return np.random.default_rng([self.seed, self.epoch, int(index)])

    def _window(self, arrays: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
        """Pad (reflect, bottom/right) to the crop if needed, then cut the same random window from every array
        (images H×W[×C], masks C×H×W). Cropping comes before any conversion, so the cost follows the crop."""
        if self.crop is None:
            return arrays
        ch, cw = self.crop
        h, w = arrays[0].shape[:2]
        ph, pw = max(0, ch - h), max(0, cw - w)
        top = int(rng.integers(0, h + ph - ch + 1))
        left = int(rng.integers(0, w + pw - cw + 1))
        out = []
        for i, a in enumerate(arrays):
            spatial = (1, 2) if i >= 2 else (0, 1)  # masks are channel-first
            if ph or pw:
                width = [(0, 0)] * a.ndim
                width[spatial[0]], width[spatial[1]] = (0, ph), (0, pw)
                a = np.pad(a, width, mode="reflect")
            index = [slice(None)] * a.ndim
            index[spatial[0]], index[spatial[1]] = slice(top, top + ch), slice(left, left + cw)
            out.append(a[tuple(index)])
        return out

    def __getitem__(self, index: int) -> dict[str, Any]:
        pair = self.pairs[index]
        ir_raw, vi_raw = read_pair(pair)
        arrays = [ir_raw, vi_raw]
        names = (["masks"] if self.masks is not None else []) + list(self.extras)
        sources = ([self.masks] if self.masks is not None else []) + list(self.extras.values())
        for name, source in zip(names, sources, strict=True):
            m = np.asarray(source(index, pair, ir_raw, vi_raw))
            if pair.size is not None and m.ndim == 3 and m.shape[1:] != ir_raw.shape[:2]:
                m = _resize_channels(m, ir_raw.shape[:2])  # masks cached at the stored size
            if m.ndim != 3 or m.shape[1:] != ir_raw.shape[:2]:
                shape = f"(C, {ir_raw.shape[0]}, {ir_raw.shape[1]})"
                raise InputError(f"{pair.ir}: {name} have shape {m.shape}, expected {shape}")
            arrays.append(m)
        rng = self.rng(index)
        arrays = self._window(arrays, rng)
        ir_grey = _grey(ir_raw)
        ir, vi = to_unit_float(arrays[0], self.value_range), to_unit_float(arrays[1], self.value_range)
        if ir.ndim == 3:  # colour IR -> luma (grey stored as 3 channels -> that channel)
            ir = ir[..., 0] if ir_grey else rgb_luma(ir)
        if vi.ndim == 2:
            vi = np.repeat(vi[:, :, None], 3, axis=2)
        chans = [a.astype(np.float32) for a in arrays[2:]]  # masks and extras, channel-first
        if self.hflip and rng.random() < 0.5:
            ir, vi = ir[:, ::-1], vi[:, ::-1]
            chans = [c[:, :, ::-1] for c in chans]
        if self.vflip and rng.random() < 0.5:
            ir, vi = ir[::-1], vi[::-1]
            chans = [c[:, ::-1] for c in chans]
        from samfuse.io.colour import luma

        vi_t = torch.from_numpy(np.ascontiguousarray(vi.transpose(2, 0, 1), dtype=np.float32))
        sample: dict[str, Any] = {
            "ir": torch.from_numpy(np.ascontiguousarray(ir, dtype=np.float32))[None],
            "vi": vi_t,
            "vi_y": luma(vi_t[None])[0],
            "index": int(index),
            "stem": self.pairs[index].stem,
        }
        for name, c in zip(names, chans, strict=True):
            sample[name] = torch.from_numpy(np.ascontiguousarray(c))
        return sample
