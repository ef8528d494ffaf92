"""Shared loss pieces: Sobel gradient magnitude (zero padding), max targets, intensity and gradient losses."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from samfuse.io import read_image
from samfuse.training.losses.common import (
    gradient_loss,
    intensity_loss,
    max_gradient,
    max_intensity,
    sobel_gradient,
)
from shared_paths import DATASETS


@pytest.fixture(scope="module")
def pair() -> tuple[torch.Tensor, torch.Tensor]:
    ir = read_image(DATASETS / "TNO/ir/" / sorted(p.name for p in (DATASETS / "TNO/ir").iterdir())[0])
    vi = read_image(DATASETS / "TNO/vi/" / sorted(p.name for p in (DATASETS / "TNO/vi").iterdir())[0])
    ir_t = torch.from_numpy(ir[:40, :56].copy())[None, None]
    vi_t = torch.from_numpy((vi if vi.ndim == 2 else vi.mean(-1))[:40, :56].copy())[None, None]
    return ir_t.float(), vi_t.float()


def test_sobel_equals_the_authors_zero_padded_conv(pair) -> None:
    # the authors' GradientLoss kernels, F.conv2d with padding=1 (zero padding)
    kx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])[None, None]
    ky = torch.tensor([[1.0, 2, 1], [0, 0, 0], [-1, -2, -1]])[None, None]
    for x in pair:
        ref = F.conv2d(x, kx, padding=1).abs() + F.conv2d(x, ky, padding=1).abs()
        torch.testing.assert_close(sobel_gradient(x), ref)
        assert sobel_gradient(x).abs().sum() > 0


def test_sobel_hand_computed_on_a_constant_image() -> None:
    c = 0.5
    s = sobel_gradient(torch.full((1, 1, 4, 5), c))
    # zero padding: interior 0; corners |3c| + |3c|; edge centres 4c in one direction, 0 in the other
    assert s[0, 0, 1:-1, 1:-1].abs().max() == 0
    for i, j in ((0, 0), (0, 4), (3, 0), (3, 4)):
        assert s[0, 0, i, j].item() == pytest.approx(6 * c)
    assert s[0, 0, 0, 2].item() == pytest.approx(4 * c)  # top edge: Sy sees 1+2+1, Sx cancels
    assert s[0, 0, 2, 0].item() == pytest.approx(4 * c)


def test_per_channel_and_max_targets(pair) -> None:
    ir, vi = pair
    both = torch.cat((ir, vi), 1)
    torch.testing.assert_close(sobel_gradient(both), torch.cat((sobel_gradient(ir), sobel_gradient(vi)), 1))
    torch.testing.assert_close(max_intensity(ir, vi), torch.where(ir > vi, ir, vi))
    torch.testing.assert_close(max_gradient(ir, vi), torch.maximum(sobel_gradient(ir), sobel_gradient(vi)))


def test_losses_vanish_on_their_targets_and_match_hand_values(pair) -> None:
    ir, vi = pair
    f = torch.maximum(ir, vi)
    assert intensity_loss(f, ir, vi).item() == 0
    assert gradient_loss(ir, ir, ir).item() == 0
    assert intensity_loss(torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)).item() == 1
    # weighted: only where W = 1; mean over all pixels
    w = torch.zeros_like(ir)
    w[..., :20, :] = 1
    g = gradient_loss(vi, ir, ir, weight=w)
    ref = ((sobel_gradient(vi) - sobel_gradient(ir)).abs() * w).mean()
    torch.testing.assert_close(g, ref)
    assert gradient_loss(vi, ir, ir, weight=torch.zeros_like(ir)).item() == 0


def test_gradient_reaches_the_fused_image(pair) -> None:
    ir, vi = pair
    f = (0.5 * (ir + vi)).requires_grad_()
    (intensity_loss(f, ir, vi) + gradient_loss(f, ir, vi)).backward()
    assert f.grad is not None and f.grad.abs().sum() > 0 and torch.isfinite(f.grad).all()
