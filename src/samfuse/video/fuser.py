"""Frame-by-frame fusion: build a method once, then ``fuser(ir_frame, vi_frame) -> fused`` on NumPy arrays.

>>> import cv2, samfuse                                                      # doctest: +SKIP
>>> fuser = samfuse.Fuser(method="laplacian")        # channels="bgr": frames as OpenCV gives them
>>> ir_cap, vi_cap = cv2.VideoCapture("ir.mp4"), cv2.VideoCapture("vi.mp4")
>>> while True:
...     ok_ir, ir = ir_cap.read(); ok_vi, vi = vi_cap.read()
...     if not (ok_ir and ok_vi):
...         break
...     cv2.imshow("fused", fuser(ir, vi))           # uint8 BGR in, uint8 BGR out
...     cv2.waitKey(1)

Conventions (the same pipeline as ``samfuse fuse``, so a pair gives the identical image, tested):

* **Channel order**: ``channels="bgr"`` (default) takes and returns colour arrays in OpenCV's BGR order
  (``cv2.VideoCapture``, ``cv2.imread``); ``channels="rgb"`` for arrays from :func:`samfuse.io.read_raw`, PIL or
  imageio. Grey frames (H×W, or three equal channels) are grey either way. The order matters: the visible
  luminance is a weighted sum of R, G and B.
* **Types**: uint8, uint16 or float in [0, 1]; H×W, H×W×1 or H×W×3 (H×W×4: the alpha channel is dropped). The
  result has the **visible frame's dtype** (uint8 in, uint8 out; uint16 → ``round(65535·x)``; float → [0, 1]) and
  its layout: H×W×3 when the visible frame had three channels (grey content repeated), H×W when it had one;
  ``gray=True`` always gives H×W. Its size is the visible frame's (the IR frame's with ``resize_to="ir"``).
* **Masks** (methods with ``needs_masks``): computed by ``mask_provider`` (default ``"regions"``) every
  ``mask_every`` frames and reused in between; ``mask_every=1`` (default) computes them for every frame, as
  ``samfuse fuse`` does for images. A larger value divides the mask cost by N, but objects that move get masks
  up to N-1 frames old. ``mask_cache=None`` (default) keeps nothing on disk (video frames rarely repeat).
  :meth:`Fuser.reset` forgets the masks (e.g. at a scene cut).
* **Threads**: a ``Fuser`` may be called from several threads; calls are serialised by a lock (the method, the
  mask state and the one-warning-per-run bookkeeping are shared). For parallel fusion build one ``Fuser`` per
  thread (each holds its own copy of the weights).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from samfuse.assembly import PipelineSpec, build
from samfuse.batch import DEFAULT_METHOD
from samfuse.io import to_uint8
from samfuse.io.colour import ColorPath
from samfuse.io.reading import ValueRange
from samfuse.pipeline import FusionPipeline, ResizeTo

__all__ = ["Channels", "Fuser"]

Channels = Literal["bgr", "rgb"]


class Fuser:
    """A fusion method built once and applied frame by frame (see the module docstring for the conventions).

    Args:
        method: a registered method (``samfuse methods``).
        weights: shipped weights name or a checkpoint path (with ``backend="onnx"``: also an exported ``.onnx``).
        backend: ``"auto"`` (the method's preferred backend: onnxruntime for ``sage-rt`` where it is installed,
            else PyTorch), ``"torch"`` or ``"onnx"`` (onnxruntime, CPU only; the method is exported once into the
            cache).
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        color: ``"ycbcr"`` (samfuse's) or ``"opencv"`` (the SAGE authors' colour path).
        channels: ``"bgr"`` (default, OpenCV) or ``"rgb"``: the order of colour arrays in and out.
        gray, resize_to, ir_range, vi_range, seed, method_options: as for :func:`samfuse.fuse`.
        mask_provider, mask_cache, mask_options: the masks of mask-guided methods (default provider ``regions``).
        mask_every: compute masks every N frames and reuse them in between (1: every frame).
        spec: a :class:`samfuse.assembly.PipelineSpec` instead of the pipeline arguments above (ignored then).
        Problems are one-line :class:`~samfuse.io.InputError` s (:func:`samfuse.assembly.build`).

    Example:
        >>> fuser = Fuser("average", channels="rgb")                          # doctest: +SKIP
        >>> fuser(ir_u8, vi_u8).dtype                                          # doctest: +SKIP
        dtype('uint8')
    """

    def __init__(
        self,
        method: str = DEFAULT_METHOD,
        weights: str | Path | None = None,
        *,
        backend: Literal["auto", "torch", "onnx"] = "auto",
        device: str = "cpu",
        color: ColorPath = "ycbcr",
        channels: Channels = "bgr",
        gray: bool = False,
        resize_to: ResizeTo = None,
        ir_range: ValueRange = None,
        vi_range: ValueRange = None,
        mask_provider: str | None = None,
        mask_cache: str | Path | None = None,
        mask_options: Mapping[str, Any] | None = None,
        mask_every: int = 1,
        seed: int | None = None,
        method_options: Mapping[str, Any] | None = None,
        spec: PipelineSpec | None = None,
    ) -> None:
        if spec is None:
            spec = PipelineSpec.from_arguments(
                method,
                weights,
                method_options=method_options,
                mask_provider=mask_provider,
                mask_options=mask_options,
                mask_cache=mask_cache,
                device=device,
                backend=backend,
                seed=seed,
                gray=gray,
                resize_to=resize_to,
                ir_range=ir_range,
                vi_range=vi_range,
                color=color,
            )
        pipeline = build(spec)
        self._init(pipeline, channels, mask_every)

    @classmethod
    def from_pipeline(cls, pipeline: FusionPipeline, *, channels: Channels = "bgr", mask_every: int = 1) -> Fuser:
        """A ``Fuser`` around an existing :class:`~samfuse.pipeline.FusionPipeline` (its mask source included),
        as ``samfuse fuse`` builds it."""
        fuser = cls.__new__(cls)
        fuser._init(pipeline, channels, mask_every)
        return fuser

    def _init(self, pipeline: FusionPipeline, channels: Channels, mask_every: int) -> None:
        if channels not in ("bgr", "rgb"):
            raise ValueError(f"channels must be 'bgr' or 'rgb', not {channels!r}")
        if int(mask_every) < 1:
            raise ValueError(f"mask_every must be at least 1, not {mask_every}")
        self.pipeline = pipeline
        self.channels: Channels = channels
        self.mask_every = int(mask_every)
        self.frames = 0  # frames fused so far
        self.mask_updates = 0  # times the masks were computed
        self._masks: np.ndarray | None = None
        self._masks_at = 0
        self._lock = threading.Lock()

    @property
    def method(self) -> Any:
        """The built :class:`~samfuse.models.base.FusionMethod`."""
        return self.pipeline.method

    def reset(self) -> None:
        """Forget the masks kept between frames (the next frame computes new ones)."""
        with self._lock:
            self._masks = None

    def __call__(self, ir: np.ndarray, vi: np.ndarray) -> np.ndarray:
        """Fuse one pair of frames; the result has the visible frame's dtype and layout, in ``channels`` order."""
        ir_a, vi_a = np.asarray(ir), np.asarray(vi)
        if self.channels == "bgr":
            ir_a, vi_a = _flip(ir_a), _flip(vi_a)
        out = self.fuse_rgb(ir_a, vi_a)
        out = _like(out, vi_a, gray=self.pipeline.gray)
        return np.ascontiguousarray(_flip(out)) if self.channels == "bgr" else out

    def fuse_rgb(self, ir: Any, vi: Any, names: Sequence[str] = ("IR", "VIS")) -> np.ndarray:
        """The pipeline's own output for RGB (or grey) arrays: float32 in [0, 1] (uint8 with ``color="opencv"``),
        H×W×3 for a colour visible frame, H×W for a grey one, whatever ``channels`` says. ``samfuse fuse`` writes
        ``to_uint8`` of this. Errors are :class:`~samfuse.io.InputError` lines naming ``names``."""
        return self.fuse_with_inputs(ir, vi, names)[2]

    def fuse_with_inputs(
        self, ir: Any, vi: Any, names: Sequence[str] = ("IR", "VIS")
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`fuse_rgb`, also returning the two inputs as fused (float32 in [0, 1], at the fused size, value
        ranges applied): ``(ir, vi, fused)``; ``samfuse fuse --preview`` shows them beside the result."""
        with self._lock:
            pipe = self.pipeline
            ir_a, vi_a = pipe.prepare_arrays(ir, vi, names)
            masks = None
            if pipe.method.needs_masks is not None:
                stale = self._masks is None or self.frames - self._masks_at >= self.mask_every
                if stale or self._masks.shape[-2:] != ir_a.shape[:2]:  # type: ignore[union-attr]
                    self._masks = pipe.masks_for(ir_a, vi_a, names[0])
                    self._masks_at = self.frames
                    self.mask_updates += 1
                masks = self._masks
            out = pipe.fuse_prepared(ir_a, vi_a, masks, names)
            self.frames += 1
            return ir_a, vi_a, out


def _flip(arr: np.ndarray) -> np.ndarray:
    """BGR ↔ RGB for H×W×3 (BGRA → RGB for H×W×4); other layouts unchanged. uint8, uint16 and float32 frames come
    back contiguous (``cv2.cvtColor``: one fast pass, so the steps after it read a contiguous array); other dtypes
    as a view."""
    if arr.ndim == 3 and arr.shape[2] in (3, 4) and arr.size and arr.dtype in (np.uint8, np.uint16, np.float32):
        return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB if arr.shape[2] == 3 else cv2.COLOR_BGRA2RGB)
    if arr.ndim == 3 and arr.shape[2] == 3:
        return arr[:, :, ::-1]
    if arr.ndim == 3 and arr.shape[2] == 4:
        return arr[:, :, 2::-1]
    return arr


def _like(out: np.ndarray, vi: np.ndarray, *, gray: bool) -> np.ndarray:
    """The pipeline's output in the visible frame's dtype and channel layout (see the module docstring)."""
    if out.ndim == 2 and not gray and vi.ndim == 3:
        out = np.repeat(out[:, :, None], 3 if vi.shape[2] != 1 else 1, axis=2)
    if vi.dtype == np.uint8:
        return to_uint8(out)
    if vi.dtype == np.uint16:
        if out.dtype == np.uint8:
            return out.astype(np.uint16) * 257
        return np.round(np.clip(out, 0.0, 1.0) * 65535.0).astype(np.uint16)
    if np.issubdtype(vi.dtype, np.floating):
        unit = out.astype(np.float32) / 255.0 if out.dtype == np.uint8 else out
        return unit.astype(vi.dtype, copy=False)
    return out
