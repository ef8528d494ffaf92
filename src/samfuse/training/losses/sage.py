r"""SAGE's distillation losses (``docs/sage-notes.md`` §4), with the authors' weights.

Notation: ``o`` the network being trained (B, 1, H, W), ``y`` the visible luminance, ``ir`` the infrared image,
``ref`` the other network's output (held fixed), ``vm``/``im`` the 4 masked VIS-Y / IR images (B, 4, H, W)
(:mod:`samfuse.semantics.masked`), taps the five 32-channel distillation features. ``MSE`` is the mean squared
error, ``G`` the gradient loss :func:`~samfuse.training.losses.common.gradient_loss`:

.. math::
    G(a; s_1, s_2) = \operatorname{mean}\big|\,S(a) - \max(S(s_1), S(s_2))\,\big|,\qquad
    S(x) = |S_x * x| + |S_y * x| \ \text{(3×3 Sobel, zero padding)}.

* pixel term :math:`L_{pix} = 3\,MSE(o,y) + 2\,MSE(o,ir) + 4\,MSE(o,ref)` (:func:`pixel_loss`);
* gradient term :math:`L_{grad} = 9\,G(o;y,ir) + 3\,G(o;ref,ref)` (:func:`gradient_term`);
* feature term :math:`L_{fea} = \sum_{k=1}^{5} \big(1 - \operatorname{mean}_b \cos(\operatorname{vec}(a_{k,b}),
  \operatorname{vec}(b_{k,b}))\big)` over the flattened C·H·W of each sample (:func:`feature_loss`);
* contrastive-semantic term :math:`L_{cs} = CS / 3000` with (:func:`contrastive_semantic_loss`)

  .. math::
      CS = \sum_k \frac{D(o\,VM_k,\ ref\,VM_k)}{D(o\,VM_k,\ y\,VM_k) + 10^{-7}}
         + \sum_k \frac{D(o\,IM_k,\ ref\,IM_k)}{D(o\,IM_k,\ ir\,IM_k) + 10^{-7}},\qquad
      D(a, b) = \sum_{j=1}^{2} \big\lVert IN(F_j(a)) - IN(F_j(b)) \big\rVert_F

  (anchor = ``o``, positive = ``ref``, negative = the source; the multiplier is the masked *image*, not a 0/1
  mask; a slot whose masked image is zero over the whole batch is skipped; ``IN`` = instance normalisation
  without affine, eps 1e-5; the Frobenius norm runs over the whole batch tensor; ``F1, F2`` from
  :mod:`.sage_features`).

The two objectives of the bi-level alternation (docs/sage-notes.md §5):

* student step (:func:`student_objective`), ``o`` = student, ``ref`` = teacher:
  :math:`3 L_{pix} + 3 L_{grad} + L_{cs} + 0.3\,L_{fea}`;
* teacher step (:func:`teacher_objective`), ``t`` = teacher, ``s`` = student:
  :math:`MSE(t,y) + MSE(t,ir) + 2\,G(t;y,ir) + 0.1\,L(t;\,ref=s) + 0.01\,L_{fea}(t, s)`,
  where :math:`L = 3 L_{pix} + 3 L_{grad} + L_{cs}` is the student's fusion loss with the roles swapped.
  The authors add :math:`0.3\,CE` of a frozen X-Decoder segmentation of the teacher's output against the FMB
  labels. samfuse has neither that segmenter nor labels, so the term is **off** (``seg_loss=None``); a caller
  that has a segmentation loss may pass it and it is added with the authors' weight 0.3.

Each objective detaches the other network's output and taps itself, so the gradient reaches only the network
being trained; the frozen feature extractor receives none.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .common import gradient_loss

__all__ = [
    "FeatureExtractor",
    "SageLoss",
    "pixel_loss",
    "gradient_term",
    "feature_loss",
    "feature_distance",
    "contrastive_semantic_loss",
    "fusion_loss",
    "student_objective",
    "teacher_objective",
    "CS_SCALE",
    "CS_EPS",
]

#: maps (N, 1, H, W) images to a list of feature maps (N, C, h, w)
FeatureExtractor = Callable[[torch.Tensor], Sequence[torch.Tensor]]

#: L_cs = CS · CS_SCALE (the authors divide by 3000)
CS_SCALE = 1.0 / 3000.0
#: added to the negative distance of each CS ratio
CS_EPS = 1e-7
#: student step: weight of L_fea; teacher step: weights of its own terms, of L(t; ref=s), of L_fea, of the CE
STUDENT_FEA = 0.3
TEACHER_GRAD, TEACHER_SWAPPED, TEACHER_FEA, TEACHER_SEG = 2.0, 0.1, 0.01, 0.3


@dataclass
class SageLoss:
    """An objective's value ``total`` (to call ``backward`` on) and its named parts, detached, for logging."""

    total: torch.Tensor
    parts: dict[str, torch.Tensor] = field(default_factory=dict)


def pixel_loss(o: torch.Tensor, y: torch.Tensor, ir: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """:math:`L_{pix} = 3\\,MSE(o,y) + 2\\,MSE(o,ir) + 4\\,MSE(o,ref)`."""
    return 3 * F.mse_loss(o, y) + 2 * F.mse_loss(o, ir) + 4 * F.mse_loss(o, ref)


def gradient_term(o: torch.Tensor, y: torch.Tensor, ir: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """:math:`L_{grad} = 9\\,G(o;y,ir) + 3\\,G(o;ref,ref)`, ``G`` = :func:`~.common.gradient_loss`."""
    return 9 * gradient_loss(o, y, ir) + 3 * gradient_loss(o, ref, ref)


def feature_loss(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> torch.Tensor:
    """Feature term :math:`L_{fea} = \\sum_k (1 - \\operatorname{mean}_b \\cos(a_{k,b}, b_{k,b}))`.

    ``a``, ``b``: the same number of (B, C, h, w) tensors, pairwise the same shape; the cosine is taken per
    sample over the flattened C·h·w (``F.cosine_similarity``, eps 1e-8). 0 when ``a == b``; at most 2 per tap.
    """
    if len(a) != len(b):
        raise ValueError(f"feature_loss: {len(a)} taps against {len(b)}")
    total = a[0].new_zeros(())
    for x, z in zip(a, b, strict=True):
        if x.shape != z.shape:
            raise ValueError(f"feature_loss: tap shapes differ, {tuple(x.shape)} against {tuple(z.shape)}")
        total = total + (1 - F.cosine_similarity(x.flatten(1), z.flatten(1), dim=1).mean())
    return total


def _features(extractor: FeatureExtractor, x: torch.Tensor) -> list[torch.Tensor]:
    """Instance-normalised features; without autograd when ``x`` needs no gradient."""
    if x.requires_grad:
        return [F.instance_norm(f) for f in extractor(x)]
    with torch.no_grad():
        return [F.instance_norm(f) for f in extractor(x)]


def _distances(fa: list[torch.Tensor], fb: list[torch.Tensor], groups: int) -> torch.Tensor:
    """Per group g of ``len/groups`` consecutive samples: ``Σ_j ‖fa_j[g] − fb_j[g]‖_F`` → (groups,)."""
    d = fa[0].new_zeros(groups)
    for a, b in zip(fa, fb, strict=True):
        d = d + torch.linalg.vector_norm((a - b).reshape(groups, -1), dim=1)
    return d


def feature_distance(a: torch.Tensor, b: torch.Tensor, extractor: FeatureExtractor) -> torch.Tensor:
    """:math:`D(a, b) = \\sum_j \\lVert IN(F_j(a)) - IN(F_j(b)) \\rVert_F`, the norm over the whole batch tensor."""
    return _distances(_features(extractor, a), _features(extractor, b), 1)[0]


def contrastive_semantic_loss(
    o: torch.Tensor,
    ref: torch.Tensor,
    y: torch.Tensor,
    ir: torch.Tensor,
    vm: torch.Tensor,
    im: torch.Tensor,
    extractor: FeatureExtractor,
) -> torch.Tensor:
    """``CS`` (the sum of ratios in the module docstring; ``L_cs = CS / 3000``), a 0-dim tensor.

    All masked slots of one modality go through the extractor in one batch (instance normalisation is per
    sample, so the result is the same as one slot at a time). Positive and negative features are computed
    without autograd when their inputs need no gradient.
    """
    cs = o.new_zeros(())
    for masked, negative in ((vm, y), (im, ir)):
        slots = [k for k in range(masked.shape[1]) if bool(masked[:, k].any())]
        if not slots:
            continue
        mult = torch.cat([masked[:, k : k + 1] for k in slots])  # (K·B, 1, H, W), slot-major
        rep = len(slots)
        anchor = _features(extractor, o.repeat(rep, 1, 1, 1) * mult)
        pos = _features(extractor, ref.repeat(rep, 1, 1, 1) * mult)
        neg = _features(extractor, negative.repeat(rep, 1, 1, 1) * mult)
        cs = cs + (_distances(anchor, pos, rep) / (_distances(anchor, neg, rep) + CS_EPS)).sum()
    return cs


def fusion_loss(
    o: torch.Tensor,
    y: torch.Tensor,
    ir: torch.Tensor,
    ref: torch.Tensor,
    vm: torch.Tensor,
    im: torch.Tensor,
    extractor: FeatureExtractor,
    cs_weight: float = 1.0,
) -> SageLoss:
    """The authors' ``Losses.cal``: :math:`L = 3 L_{pix} + 3 L_{grad} + w_{cs}\\,CS/3000`; ``ref`` is detached.

    ``cs_weight`` (:math:`w_{cs}`, 1 for the authors) scales L_cs; 0 turns it off without running the extractor
    (the L_cs ablation)."""
    ref = ref.detach()
    pix = pixel_loss(o, y, ir, ref)
    grad = gradient_term(o, y, ir, ref)
    if cs_weight == 0:
        cs = o.new_zeros(())
    else:
        cs = contrastive_semantic_loss(o, ref, y, ir, vm, im, extractor) * (CS_SCALE * cs_weight)
    total = 3 * pix + 3 * grad + cs
    return SageLoss(total, {"pix": pix.detach(), "grad": grad.detach(), "cs": cs.detach()})


def student_objective(
    s: torch.Tensor,
    s_taps: Sequence[torch.Tensor],
    t: torch.Tensor,
    t_taps: Sequence[torch.Tensor],
    y: torch.Tensor,
    ir: torch.Tensor,
    vm: torch.Tensor,
    im: torch.Tensor,
    extractor: FeatureExtractor,
    cs_weight: float = 1.0,
) -> SageLoss:
    """Student step: :math:`3 L_{pix} + 3 L_{grad} + L_{cs} + 0.3\\,L_{fea}(s, t)` with ``ref = t`` (detached).

    ``cs_weight`` scales L_cs (see :func:`fusion_loss`)."""
    fus = fusion_loss(s, y, ir, t, vm, im, extractor, cs_weight)
    fea = feature_loss(s_taps, [x.detach() for x in t_taps])
    total = fus.total + STUDENT_FEA * fea
    return SageLoss(total, {**fus.parts, "fea": fea.detach(), "total": total.detach()})


def teacher_objective(
    t: torch.Tensor,
    t_taps: Sequence[torch.Tensor],
    s: torch.Tensor,
    s_taps: Sequence[torch.Tensor],
    y: torch.Tensor,
    ir: torch.Tensor,
    vm: torch.Tensor,
    im: torch.Tensor,
    extractor: FeatureExtractor,
    seg_loss: torch.Tensor | None = None,
    cs_weight: float = 1.0,
) -> SageLoss:
    """Teacher step: :math:`MSE(t,y) + MSE(t,ir) + 2G(t;y,ir) + 0.1\\,L(t;ref=s) + 0.01\\,L_{fea}(t,s)`.

    ``s`` and ``s_taps`` are detached. ``seg_loss`` (the authors' X-Decoder cross-entropy; off in samfuse, see
    the module docstring) is added with weight 0.3 when given. ``cs_weight`` scales L_cs (:func:`fusion_loss`).
    """
    own = F.mse_loss(t, y) + F.mse_loss(t, ir) + TEACHER_GRAD * gradient_loss(t, y, ir)
    swapped = fusion_loss(t, y, ir, s, vm, im, extractor, cs_weight)
    fea = feature_loss(t_taps, [x.detach() for x in s_taps])
    total = own + TEACHER_SWAPPED * swapped.total + TEACHER_FEA * fea
    parts = {"own": own.detach(), **{f"swapped_{k}": v for k, v in swapped.parts.items()}, "fea": fea.detach()}
    if seg_loss is not None:
        total = total + TEACHER_SEG * seg_loss
        parts["seg"] = seg_loss.detach()
    parts["total"] = total.detach()
    return SageLoss(total, parts)
