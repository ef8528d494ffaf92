"""SGDFuse's losses (docs/sgdfuse-notes.md §1 and §5; decisions 7 and 11).

Notation: V the visible image (B,3,H,W), I the IR image (B,1,H,W, broadcast to the 3 RGB channels), F the
fused image, all in the networks' range [−1, 1] (the authors' loader scales both inputs to [−1, 1]);
``max`` is the per-pixel, per-channel maximum; S(x) = |Sobel_x ∗ x| + |Sobel_y ∗ x| per channel (unnormalised
3×3 Sobel kernels, replicated border; :func:`sobel_magnitude`); ``mean`` averages over every element.
The Sobel magnitude, the element-wise max and the weighted mean are :mod:`samfuse.training.losses.common`'s
(shared with SAGE; SGDFuse pads by replication, SAGE with zeros).

Stage 1 (Dif-Fusion's ``fs_loss.py`` after SeAFusion)::

    L_int  = mean |F − max(V, I)|
    L_grad = mean | S(F) − max(S(V), S(I)) |
    L_1    = λ_int · L_int + λ_grad · L_grad            (λ_int = λ_grad = 1)

Stage 2, with the binary masks M_ir, M_vis ∈ {0, 1} (B,1,H,W) and the weight map W = 1 + M_ir + M_vis::

    L_int^M  = mean( W ⊙ |F − max(V, I)| )
    L_grad^M = mean( W ⊙ |S(F) − max(S(V), S(I))| )
    L_ε      = mean |ε̂ − ε|        (L1, SR3's loss; "l2": mean (ε̂ − ε)²)
    L_2      = L_ε + 1.5 · L_int^M + 1.0 · L_grad^M

The fusion terms count only for the samples whose timestep is t ≤ 100 in the note's 1-based counting, i.e.
t ≤ 99 in samfuse's 0-based timesteps (``fusion_max_t``; a noisier decoder cannot render an image); their
mean runs over those samples, and they are 0 when there are none. With empty masks W = 1 and
the stage-2 fusion terms equal the stage-1 ones, so eroded or dilated masks degrade gracefully.

Options: ``target="regional"`` (the note's alternative) aims at I inside M_ir, at V inside M_vis ∖ M_ir and
at max(V, I) elsewhere, for both the intensity and the gradient target; ``space="y"`` computes every term on
the BT.601 luminance (kornia) instead of per RGB channel.

"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from samfuse.io.colour import luma
from samfuse.training.losses.common import max_intensity, sobel_gradient, weighted_mean

__all__ = [
    "sobel_magnitude",
    "max_targets",
    "mask_weight",
    "intensity_loss",
    "gradient_loss",
    "epsilon_loss",
    "stage1_loss",
    "stage2_loss",
    "LossTerms",
]

Target = Literal["max", "regional"]
Space = Literal["rgb", "y"]


def sobel_magnitude(x: torch.Tensor) -> torch.Tensor:
    """S(x) = |Sobel_x ∗ x| + |Sobel_y ∗ x| per channel (kernels [[−1,0,1],[−2,0,2],[−1,0,1]] and its
    transpose, unnormalised, border replicated); (B,C,H,W) → (B,C,H,W). ``common.sobel_gradient`` with
    ``border="replicate"`` (kornia's ``spatial_gradient`` padding)."""
    return sobel_gradient(x, border="replicate")


def _luma(x: torch.Tensor) -> torch.Tensor:
    """[−1, 1] RGB → [−1, 1] BT.601 Y (a 1-channel input is already luminance)."""
    if x.shape[1] == 1:
        return x
    return luma((x + 1) / 2) * 2 - 1


def _in_space(fused: torch.Tensor, ir: torch.Tensor, vis: torch.Tensor, space: Space):
    if space == "y":
        return _luma(fused), ir, _luma(vis)
    if space != "rgb":
        raise ValueError(f"space must be 'rgb' or 'y', got {space!r}")
    return fused, ir.expand_as(vis), vis


def max_targets(
    ir: torch.Tensor,
    vis: torch.Tensor,
    m_ir: torch.Tensor | None = None,
    m_vis: torch.Tensor | None = None,
    target: Target = "max",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Intensity and gradient targets: max(V, I) and max(S(V), S(I)) (``target="regional"``: I in M_ir, V in
    M_vis ∖ M_ir, the max elsewhere). ``ir`` must already have V's channel count."""
    t_int = max_intensity(vis, ir)
    s_vis, s_ir = sobel_magnitude(vis), sobel_magnitude(ir)
    t_grad = max_intensity(s_vis, s_ir)  # = common.max_gradient(vis, ir, "replicate"), Sobels kept for "regional"
    if target == "regional":
        if m_ir is None or m_vis is None:
            raise ValueError("target='regional' needs both masks")
        in_ir, in_vis = m_ir > 0.5, (m_vis > 0.5) & ~(m_ir > 0.5)
        t_int = torch.where(in_ir, ir, torch.where(in_vis, vis, t_int))
        t_grad = torch.where(in_ir, s_ir, torch.where(in_vis, s_vis, t_grad))
    elif target != "max":
        raise ValueError(f"target must be 'max' or 'regional', got {target!r}")
    return t_int, t_grad


def mask_weight(m_ir: torch.Tensor, m_vis: torch.Tensor) -> torch.Tensor:
    """W = 1 + M_ir + M_vis (values 1, 2 or 3), (B,1,H,W)."""
    return 1.0 + m_ir.float() + m_vis.float()


def intensity_loss(fused: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """mean(W ⊙ |F − target|) (W = 1 when ``weight`` is None)."""
    return weighted_mean((fused - target).abs(), weight)


def gradient_loss(fused: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """mean(W ⊙ |S(F) − target|) with ``target`` a gradient magnitude map (e.g. max(S(V), S(I)))."""
    return weighted_mean((sobel_magnitude(fused) - target).abs(), weight)


def epsilon_loss(pred: torch.Tensor, noise: torch.Tensor, kind: Literal["l1", "l2"] = "l1") -> torch.Tensor:
    """L_ε = mean|ε̂ − ε| (``"l1"``, SR3) or mean(ε̂ − ε)² (``"l2"``, Dif-Fusion)."""
    if kind == "l1":
        return F.l1_loss(pred, noise)
    if kind == "l2":
        return F.mse_loss(pred, noise)
    raise ValueError(f"kind must be 'l1' or 'l2', got {kind!r}")


def _item(x: torch.Tensor) -> float:
    return float(x.detach())


@dataclass(frozen=True)
class LossTerms:
    """The total (to back-propagate) and its terms (detached floats for logging)."""

    total: torch.Tensor
    terms: dict[str, float]


def stage1_loss(
    f1: torch.Tensor,
    ir: torch.Tensor,
    vis: torch.Tensor,
    lambda_int: float = 1.0,
    lambda_grad: float = 1.0,
    space: Space = "rgb",
) -> LossTerms:
    """L_1 = λ_int · mean|F1 − max(V, I)| + λ_grad · mean|S(F1) − max(S(V), S(I))| (module docstring)."""
    f, i, v = _in_space(f1, ir, vis, space)
    t_int, t_grad = max_targets(i.expand_as(v), v)
    l_int, l_grad = intensity_loss(f, t_int), gradient_loss(f, t_grad)
    total = lambda_int * l_int + lambda_grad * l_grad
    return LossTerms(total, {"int": _item(l_int), "grad": _item(l_grad), "total": _item(total)})


def stage2_loss(
    eps_pred: torch.Tensor,
    noise: torch.Tensor,
    fused: torch.Tensor | None,
    ir: torch.Tensor,
    vis: torch.Tensor,
    m_ir: torch.Tensor,
    m_vis: torch.Tensor,
    timesteps: torch.Tensor,
    lambda_int: float = 1.5,
    lambda_grad: float = 1.0,
    eps_kind: Literal["l1", "l2"] = "l1",
    fusion_max_t: int = 99,
    target: Target = "max",
    space: Space = "rgb",
) -> LossTerms:
    """L_2 = L_ε + λ_int · L_int^M + λ_grad · L_grad^M, fusion terms only where ``timesteps ≤ fusion_max_t``.

    ``timesteps``: (B,) integer timesteps of the samples (0-based, so the default 99 is the note's t ≤ 100);
    ``fused``: HFAH's output (may be None when no sample qualifies); masks (B,1,H,W) in {0, 1}.
    """
    l_eps = epsilon_loss(eps_pred, noise, eps_kind)
    gate = timesteps.reshape(-1).to(eps_pred.device) <= fusion_max_t
    zero = eps_pred.new_zeros(())
    l_int, l_grad = zero, zero
    if fused is not None and bool(gate.any()):
        sel = gate.nonzero().reshape(-1)
        f, i, v = _in_space(fused[sel], ir[sel], vis[sel], space)
        mi, mv = m_ir[sel], m_vis[sel]
        t_int, t_grad = max_targets(i.expand_as(v), v, mi, mv, target)
        w = mask_weight(mi, mv)
        l_int, l_grad = intensity_loss(f, t_int, w), gradient_loss(f, t_grad, w)
    total = l_eps + lambda_int * l_int + lambda_grad * l_grad
    return LossTerms(
        total,
        {
            "eps": _item(l_eps),
            "int": _item(l_int),
            "grad": _item(l_grad),
            "total": _item(total),
            "gated": int(gate.sum()),
        },
    )
