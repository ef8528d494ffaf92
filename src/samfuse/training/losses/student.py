r"""Losses of the SAGE student trained **alone** (no teacher): the control every distillation run is compared
with, and samfuse's own recipes. ``o`` is the student output, ``y`` the visible luminance, ``ir`` the infrared
image, all (B, 1, H, W) in [0, 1]; ``G`` is :func:`~samfuse.training.losses.common.gradient_loss` and ``S`` the
Sobel magnitude :func:`~samfuse.training.losses.common.sobel_gradient` (zero padding, as SAGE).

* ``"sage"`` (:func:`sage_terms`): SAGE's own pixel and gradient terms with the teacher's terms removed and the
  authors' outer weight 3 kept,

  .. math:: L = 3\,[\,3\,MSE(o, y) + 2\,MSE(o, ir)\,] + 3 \cdot 9\,G(o; y, ir).

* ``"maxint"`` (:func:`max_intensity_terms`): the max-intensity recipe of SeAFusion and Dif-Fusion's lineage,

  .. math:: L = \operatorname{mean}|o - \max(y, ir)| + w_g\,\operatorname{mean}|S(o) - \max(S(y), S(ir))|,
     \quad w_g = 10.

Each returns ``(total, parts)`` with the parts detached for the log.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .common import gradient_loss, intensity_loss

__all__ = ["sage_terms", "max_intensity_terms", "STUDENT_LOSSES"]


def sage_terms(o: torch.Tensor, y: torch.Tensor, ir: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """SAGE's pixel and gradient terms without the teacher: ``3·[3·MSE(o,y) + 2·MSE(o,ir)] + 27·G(o;y,ir)``."""
    mse_y, mse_ir, grad = F.mse_loss(o, y), F.mse_loss(o, ir), gradient_loss(o, y, ir)
    total = 3 * (3 * mse_y + 2 * mse_ir) + 27 * grad
    return total, {"mse_y": mse_y.detach(), "mse_ir": mse_ir.detach(), "grad": grad.detach()}


def max_intensity_terms(
    o: torch.Tensor, y: torch.Tensor, ir: torch.Tensor, grad_weight: float = 10.0
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``mean|o − max(y, ir)| + grad_weight · mean|S(o) − max(S(y), S(ir))|``."""
    inten, grad = intensity_loss(o, y, ir), gradient_loss(o, y, ir)
    return inten + grad_weight * grad, {"int": inten.detach(), "grad": grad.detach()}


#: loss name → function ``(o, y, ir) -> (total, parts)``
STUDENT_LOSSES = {"sage": sage_terms, "maxint": max_intensity_terms}
