"""The one-call Python API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from samfuse.assembly import PipelineSpec, build
from samfuse.batch import DEFAULT_METHOD
from samfuse.io.colour import ColorPath
from samfuse.io.reading import ValueRange
from samfuse.pipeline import ResizeTo


def fuse(
    ir: np.ndarray | torch.Tensor,
    vi: np.ndarray | torch.Tensor,
    method: str = DEFAULT_METHOD,
    weights: str | Path | None = None,
    device: str = "cpu",
    gray: bool = False,
    resize_to: ResizeTo = None,
    ir_range: ValueRange = None,
    vi_range: ValueRange = None,
    masks: Any = None,
    color: ColorPath = "ycbcr",
    mask_provider: str | None = None,
    mask_cache: str | Path | None = None,
    mask_options: dict[str, Any] | None = None,
    seed: int | None = None,
    method_options: dict[str, Any] | None = None,
    *,
    spec: PipelineSpec | None = None,
) -> np.ndarray:
    """Fuse an infrared and a visible image given as arrays.

    ``ir``: H×W (or grey-as-H×W×3); ``vi``: H×W grey or H×W×3 RGB; uint8, uint16 or float in [0, 1].
    Returns float32 in [0, 1]: H×W×3 RGB if ``vi`` is colour and ``gray`` is false, else H×W.
    ``ir_range`` / ``vi_range``: map ``(lo, hi)`` to [0, 1] for that image (e.g. ``ir_range=(0, 16383)`` for 14-bit
    thermal in 16-bit files), or ``"minmax"``; None maps by bit depth (x/255, x/65535).
    ``color="opencv"``: the SAGE authors' colour path (OpenCV YCrCb on 8-bit input, their inverse, their
    ``x·255 + 0.5`` truncation); the result is then uint8 (see :mod:`samfuse.pipeline`).
    Methods that need masks: pass ``masks=`` (the product array), or let the pipeline compute them with
    ``mask_provider=`` (``"regions"`` when None, as everywhere; ``"thermal"``; ``"sam"`` with
    ``mask_options={"checkpoint": FILE}``) and optionally ``mask_cache=`` (a folder shared with ``samfuse masks``;
    None: in memory), the same wiring as ``samfuse fuse --masks``.
    ``seed``: for methods that sample (:func:`samfuse.models.samples`, e.g. ``sgdfuse``), the sampling seed.
    ``method_options``: the method's own options (its builder's keyword arguments, listed by
    :func:`samfuse.models.method_options`), e.g. ``{"steps": 20}`` or ``{"guidance": False}`` for ``sgdfuse``.
    ``spec``: a :class:`samfuse.assembly.PipelineSpec` instead of the arguments above (which are then ignored):
    the pipeline ``samfuse fuse`` builds from the same options. Problems are one-line
    :class:`~samfuse.io.InputError` s (:func:`samfuse.assembly.build`).
    For many pairs, build the pipeline once (``samfuse.assembly.build(spec)``) and call ``fuse_arrays``.
    """
    if spec is None:
        spec = PipelineSpec.from_arguments(
            method,
            weights,
            method_options=method_options,
            mask_provider=mask_provider,
            mask_options=mask_options,
            mask_cache=mask_cache,
            device=device,
            seed=seed,
            gray=gray,
            resize_to=resize_to,
            ir_range=ir_range,
            vi_range=vi_range,
            color=color,
        )
    return build(spec).fuse_arrays(ir, vi, masks=masks)
