"""SGDFuse's stage-1 and stage-2 losses on a real MSRS crop (values checked against their formulas)."""

from __future__ import annotations

import pytest
import torch

from samfuse.io import read_image
from samfuse.training.losses.sgdfuse import (
    epsilon_loss,
    gradient_loss,
    intensity_loss,
    mask_weight,
    max_targets,
    sobel_magnitude,
    stage1_loss,
    stage2_loss,
)
from shared_paths import DATASETS


@pytest.fixture(scope="module")
def crop() -> tuple[torch.Tensor, torch.Tensor]:
    """MSRS 00004N, 48×64 at (200, 300), both in [−1, 1]: IR (2,1,·,·), VIS (2,3,·,·) (second = flipped)."""
    ir = torch.from_numpy(read_image(DATASETS / "MSRS/ir/00004N.png")[200:248, 300:364])[None, None]
    vi = torch.from_numpy(read_image(DATASETS / "MSRS/vi/00004N.png")[200:248, 300:364]).permute(2, 0, 1)[None]
    ir, vi = torch.cat([ir, ir.flip(-1)]) * 2 - 1, torch.cat([vi, vi.flip(-1)]) * 2 - 1
    return ir.float(), vi.float()


def test_sobel_magnitude_of_a_ramp() -> None:
    x = (0.25 * torch.arange(10.0)).expand(1, 2, 6, 10).contiguous()
    s = sobel_magnitude(x)
    # unnormalised Sobel: a ramp of slope 0.25 gives |Sx| = 8·0.25 = 2 inside, |Sy| = 0
    assert torch.allclose(s[..., 1:-1], torch.full_like(s[..., 1:-1], 2.0))
    assert torch.allclose(s[..., 0], torch.full_like(s[..., 0], 1.0))  # replicated border: half the slope


def test_stage1_terms_on_real_data(crop) -> None:
    ir, vi = crop
    t_int, t_grad = max_targets(ir.expand_as(vi), vi)
    # F = the per-pixel max: no intensity loss; F = V: the loss is mean(relu(I − V))
    assert float(intensity_loss(t_int, t_int)) == 0.0
    assert float(stage1_loss(vi, ir, vi).terms["int"]) == pytest.approx(float(torch.relu(ir - vi).mean()), rel=1e-6)
    assert float(stage1_loss(vi, ir, vi).terms["int"]) > 0.005  # the IR is brighter than VIS somewhere here
    g = gradient_loss(vi, t_grad)
    assert float(g) == pytest.approx(float((t_grad - sobel_magnitude(vi)).mean()), rel=1e-6)
    out = stage1_loss(vi, ir, vi, lambda_int=2.0, lambda_grad=0.5)
    assert out.terms["total"] == pytest.approx(2.0 * out.terms["int"] + 0.5 * out.terms["grad"], rel=1e-6)
    f = vi.clone().requires_grad_(True)
    stage1_loss(f, ir, vi).total.backward()
    assert f.grad is not None and float(f.grad.abs().sum()) > 0
    y = stage1_loss(vi, ir, vi, space="y")  # luminance variant: one channel, same kind of value
    assert 0 < y.terms["int"] < 1


def test_stage2_reduces_to_stage1_for_empty_masks(crop) -> None:
    ir, vi = crop
    fused = (vi + ir) / 2
    eps, eps_hat = torch.randn(2, 3, 48, 64), torch.randn(2, 3, 48, 64)
    zero = torch.zeros(2, 1, 48, 64)
    s1 = stage1_loss(fused, ir, vi)
    s2 = stage2_loss(eps_hat, eps, fused, ir, vi, zero, zero, torch.tensor([5, 99]))
    assert s2.terms["int"] == pytest.approx(s1.terms["int"]) and s2.terms["grad"] == pytest.approx(s1.terms["grad"])
    l_eps = float((eps_hat - eps).abs().mean())
    assert s2.terms["eps"] == pytest.approx(l_eps)
    assert s2.terms["total"] == pytest.approx(l_eps + 1.5 * s1.terms["int"] + 1.0 * s1.terms["grad"], rel=1e-6)
    assert float(epsilon_loss(eps_hat, eps, "l2")) == pytest.approx(float((eps_hat - eps).square().mean()))


def test_mask_weighting_and_gating(crop) -> None:
    ir, vi = crop
    fused = (vi + ir) / 2
    eps = torch.zeros(2, 3, 48, 64)
    ones, zero = torch.ones(2, 1, 48, 64), torch.zeros(2, 1, 48, 64)
    assert torch.equal(mask_weight(ones, ones), torch.full_like(ones, 3.0))
    base = stage2_loss(eps, eps, fused, ir, vi, zero, zero, torch.tensor([0, 0]))
    full_ir = stage2_loss(eps, eps, fused, ir, vi, ones, zero, torch.tensor([0, 0]))
    assert full_ir.terms["int"] == pytest.approx(2 * base.terms["int"], rel=1e-6)  # W = 2 everywhere
    # a mask over part of the image weighs that part: W = 1 + M
    part = zero.clone()
    part[..., :24, :] = 1
    err = (fused - torch.maximum(vi, ir)).abs()
    want = float(((1 + part) * err).mean())
    assert stage2_loss(eps, eps, fused, ir, vi, part, zero, torch.tensor([0, 0])).terms["int"] == pytest.approx(want)
    # gating: 0-based t > 99 (the note's t > 100) carries no fusion term; one qualifying sample: its mean alone
    late = stage2_loss(eps, eps, fused, ir, vi, zero, zero, torch.tensor([100, 999]))
    assert late.terms["int"] == 0.0 and late.terms["grad"] == 0.0 and late.terms["gated"] == 0
    one = stage2_loss(eps, eps, fused, ir, vi, zero, zero, torch.tensor([50, 999]))
    assert one.terms["int"] == pytest.approx(stage1_loss(fused[:1], ir[:1], vi[:1]).terms["int"])


def test_regional_target(crop) -> None:
    ir, vi = crop
    m_ir, m_vis = torch.zeros(2, 1, 48, 64), torch.zeros(2, 1, 48, 64)
    m_ir[..., :10, :] = 1
    m_vis[..., 5:20, :] = 1
    t_int, t_grad = max_targets(ir.expand_as(vi), vi, m_ir, m_vis, target="regional")
    assert torch.equal(t_int[..., :10, :], ir.expand_as(vi)[..., :10, :])  # IR inside M_ir (even where M_vis)
    assert torch.equal(t_int[..., 10:20, :], vi[..., 10:20, :])  # VIS in M_vis ∖ M_ir
    assert torch.equal(t_int[..., 20:, :], torch.maximum(vi, ir)[..., 20:, :])  # max elsewhere
    assert torch.equal(t_grad[..., 10:20, :], sobel_magnitude(vi)[..., 10:20, :])
    with pytest.raises(ValueError, match="needs both masks"):
        max_targets(ir, vi, target="regional")


def test_merged_sobel_equals_kornia_spatial_gradient_and_differs_from_sage_only_at_the_border(crop) -> None:
    """The merge onto ``losses/common.py`` kept SGDFuse's formula: replicated border, bit for bit what kornia's
    ``spatial_gradient`` (the module's former implementation) gives; SAGE's zero padding differs on the border."""
    import kornia

    from samfuse.training.losses.common import sobel_gradient

    _, vi = crop
    before = kornia.filters.spatial_gradient(vi, mode="sobel", order=1, normalized=False).abs().sum(dim=2)
    assert torch.equal(sobel_magnitude(vi), before)
    sage = sobel_gradient(vi)
    assert torch.equal(sage[..., 1:-1, 1:-1], before[..., 1:-1, 1:-1])
    assert not torch.equal(sage[..., 0, :], before[..., 0, :])
