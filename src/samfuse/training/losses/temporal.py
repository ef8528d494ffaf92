r"""A temporal-consistency term for training a fusion network on still pairs: two views of a pair that differ
by a small camera move stand in for two consecutive video frames (issue 23).

:func:`paired_views` resamples a batch twice (bilinear, :func:`torch.nn.functional.grid_sample`), identically
for every modality: view A by a random sub-pixel translation :math:`u`, view B by :math:`u + \delta` and a zoom
:math:`1 + z` about the centre, with :math:`\delta \sim U(-d, d)^2` pixels and :math:`z \sim U(-\zeta, \zeta)`.
That is the motion of :func:`samfuse.video.synthetic.pan_zoom_frames` (a slowly panning, zooming window), and
both views are resampled, as every frame of such a clip is.

:func:`flicker_loss` is the training form of the ``flicker`` figure of :mod:`samfuse.metrics.temporal`: with
:math:`F_A, F_B` the network's outputs on the two views and :math:`A, B` the two sources,

.. math::

    \mathcal{L}_{\mathrm{flk}} = \big\langle \max\big(0,\ |F_B - F_A|
        - \max(|A_B - A_A|,\ |B_B - B_A|)\big) \big\rangle_{\Omega}

over the interior :math:`\Omega` (a ``margin``-pixel border is left out, where the resampling reads the
replicated edge). It is zero for any output that changes, pixel by pixel, no more than one of its sources: it
does not ask for a blurred or frozen output, only for no change of the network's own.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["paired_views", "flicker_loss"]


def _grid(
    batch: int, h: int, w: int, shift: torch.Tensor, zoom: torch.Tensor, device: torch.device
) -> torch.Tensor:
    """Sampling grid (B, H, W, 2) of a translation by ``shift`` (B, 2) pixels (x, y) and a zoom ``zoom`` (B,)."""
    theta = torch.zeros(batch, 2, 3)
    theta[:, 0, 0] = 1.0 / zoom
    theta[:, 1, 1] = 1.0 / zoom
    theta[:, 0, 2] = 2.0 * shift[:, 0] / w  # normalised coordinates span 2 over W pixels
    theta[:, 1, 2] = 2.0 * shift[:, 1] / h
    return F.affine_grid(theta.to(device), [batch, 1, h, w], align_corners=False)


def paired_views(
    images: list[torch.Tensor], generator: torch.Generator, max_shift: float = 2.0, max_zoom: float = 0.01
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Two views (A, B) of each (B, C, H, W) tensor in ``images`` (all of one batch size and H×W), moved alike.

    ``generator`` (CPU) draws the motion, so a seeded generator gives the same views on a resumed run.
    """
    b, _, h, w = images[0].shape
    u = torch.rand(b, 2, generator=generator) - 0.5
    delta = (torch.rand(b, 2, generator=generator) * 2 - 1) * max_shift
    zoom = 1.0 + (torch.rand(b, generator=generator) * 2 - 1) * max_zoom
    dev = images[0].device
    grid_a = _grid(b, h, w, u, torch.ones(b), dev)
    grid_b = _grid(b, h, w, u + delta, zoom, dev)

    def sample(x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    return [sample(x, grid_a) for x in images], [sample(x, grid_b) for x in images]


def flicker_loss(
    fused_a: torch.Tensor,
    fused_b: torch.Tensor,
    sources_a: list[torch.Tensor],
    sources_b: list[torch.Tensor],
    margin: int = 8,
) -> torch.Tensor:
    """:math:`\\mathcal{L}_{\\mathrm{flk}}` (module docstring); all tensors (B, 1, H, W), sources in the same order
    in both lists. ``margin`` pixels at each border are left out."""
    change = (fused_b - fused_a).abs()
    source_change = torch.stack([(b - a).abs() for a, b in zip(sources_a, sources_b, strict=True)]).amax(dim=0)
    excess = F.relu(change - source_change)
    if margin:
        excess = excess[..., margin:-margin, margin:-margin]
    return excess.mean()
