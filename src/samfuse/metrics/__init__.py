"""Fusion metrics that reproduce the reference toolkits (VIFB MATLAB, CDDFuse's evaluator), vectorised.

Profiles: ``CONVENTIONS["vifb"]`` and ``CONVENTIONS["cddfuse"]`` bind a reader, metric functions and
parameters; :func:`evaluate` and :func:`evaluate_files` run one. The metric functions themselves live in
one module per family (``information``, ``statistics``, ``similarity``, ``structural``, ``gradient``, ``vif``,
``perceptual``); see ``docs/metrics.md`` for every convention and the measured agreement.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from samfuse.metrics.conventions import CONVENTIONS, Convention, Metric
from samfuse.metrics.errors import MetricShapeError, MetricSizeError
from samfuse.metrics.gradient import nabf, qabf
from samfuse.metrics.information import entropy_cddfuse, entropy_vifb, mi_cddfuse, mi_vifb
from samfuse.metrics.structural import ms_ssim, ssim_gaussian, ssim_skimage019
from samfuse.metrics.vif import viff, vifp

__all__ = [
    "CONVENTIONS",
    "Convention",
    "Metric",
    "MetricShapeError",
    "MetricSizeError",
    "entropy_cddfuse",
    "entropy_vifb",
    "evaluate",
    "evaluate_files",
    "get_convention",
    "mi_cddfuse",
    "mi_vifb",
    "ms_ssim",
    "nabf",
    "qabf",
    "ssim_gaussian",
    "ssim_skimage019",
    "vifp",
    "viff",
]


def get_convention(name: str) -> Convention:
    """The profile called ``name`` (``vifb`` or ``cddfuse``); ValueError listing the names otherwise."""
    try:
        return CONVENTIONS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown convention {name!r} (available: {', '.join(CONVENTIONS)})") from None


def evaluate(
    ir: np.ndarray,
    vi: np.ndarray,
    fused: np.ndarray,
    convention: str = "cddfuse",
    metrics: Sequence[str] | None = None,
) -> dict[str, float]:
    """Metrics of arrays already read the convention's way (see :mod:`samfuse.metrics.reading`)."""
    return get_convention(convention).evaluate(ir, vi, fused, metrics)


def evaluate_files(
    ir: str | Path,
    vi: str | Path,
    fused: str | Path,
    convention: str = "cddfuse",
    metrics: Sequence[str] | None = None,
) -> dict[str, float]:
    """Read three files with the convention's reader and compute its metrics (default: its CSV columns)."""
    return get_convention(convention).evaluate_files(ir, vi, fused, metrics)
