r"""Losses of a student distilled from a frozen teacher's output (``samfuse train sage-rt``).

``o`` is the student output, ``t`` the teacher output (no gradient, clamped to [0, 1] as the teacher method
fuses), ``y`` the visible luminance and ``ir`` the infrared image, all (B, 1, H, W); ``G`` is
:func:`~samfuse.training.losses.common.gradient_loss` (Sobel magnitudes, zero padding, as SAGE).

SAGE's student loss (docs/sage-notes.md §4) without its SAM terms (:math:`L_{cs}`, :math:`L_{fea}`) splits into a
source part and a teacher part, both with the authors' weights (outer weight 3 included):

.. math::
    L_{src} &= 3\,[\,3\,MSE(o, y) + 2\,MSE(o, ir)\,] + 27\,G(o; y, ir) \quad
        (= :func:`~samfuse.training.losses.student.sage_terms`) \\
    L_{t} &= 12\,MSE(o, t) + 9\,G(o; t, t) \\
    L &= w_{src} L_{src} + w_t L_t + w_{1}\,\mathrm{mean}|o - t|

:math:`w_{src} = w_t = 1, w_1 = 0` is SAGE's own student loss (less the SAM terms). The L1 term pulls the student
onto the teacher where the squared error is too flat to do so (differences of a few grey levels).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .common import gradient_loss
from .student import sage_terms

__all__ = ["distill_terms"]


def distill_terms(
    o: torch.Tensor,
    y: torch.Tensor,
    ir: torch.Tensor,
    t: torch.Tensor,
    *,
    source_weight: float = 1.0,
    teacher_weight: float = 1.0,
    l1_weight: float = 0.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``w_src·L_src + w_t·(12·MSE(o,t) + 9·G(o;t,t)) + w_1·mean|o − t|`` and its detached parts (module docs)."""
    src, parts = sage_terms(o, y, ir)
    mse_t, grad_t, l1_t = F.mse_loss(o, t), gradient_loss(o, t, t), F.l1_loss(o, t)
    total = source_weight * src + teacher_weight * (12 * mse_t + 9 * grad_t) + l1_weight * l1_t
    return total, {**parts, "mse_t": mse_t.detach(), "grad_t": grad_t.detach(), "l1_t": l1_t.detach()}
