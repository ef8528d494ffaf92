"""The classical baselines compute what their formulas say."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samfuse.io import read_image
from samfuse.models import build
from samfuse.models.baselines import LaplacianFusion, collapse_pyramid, laplacian_pyramid
from shared_paths import DATASETS


@pytest.fixture(scope="module")
def msrs_pair() -> tuple[torch.Tensor, torch.Tensor]:
    ir = read_image(DATASETS / "MSRS/ir/00004N.png")
    vi = read_image(DATASETS / "MSRS/vi/00004N.png")
    vi_y = 0.299 * vi[..., 0] + 0.587 * vi[..., 1] + 0.114 * vi[..., 2]
    return torch.from_numpy(ir)[None, None], torch.from_numpy(vi_y)[None, None].float()


def test_average_and_weights(msrs_pair) -> None:
    ir, vi = msrs_pair
    torch.testing.assert_close(build("average")(ir, vi), 0.5 * (ir + vi))
    torch.testing.assert_close(build("average", ir_weight=0.8)(ir, vi), 0.8 * ir + 0.2 * vi)
    with pytest.raises(ValueError):
        build("average", ir_weight=1.5)


def test_max(msrs_pair) -> None:
    ir, vi = msrs_pair
    out = build("max")(ir, vi)
    torch.testing.assert_close(out, torch.where(ir > vi, ir, vi))
    assert (out >= ir).all() and (out >= vi).all()


@pytest.mark.parametrize("size", [(480, 640), (161, 351), (459, 622), (17, 9)])
def test_laplacian_pyramid_reconstructs_exactly(size: tuple[int, int]) -> None:
    x = torch.rand(1, 1, *size, generator=torch.Generator().manual_seed(1))
    pyr = laplacian_pyramid(x, 5)
    assert [t.shape[-2:] for t in pyr][0] == size
    torch.testing.assert_close(collapse_pyramid(pyr), x, atol=1e-5, rtol=0)


def test_laplacian_of_identical_inputs_is_identity(msrs_pair) -> None:
    ir, _ = msrs_pair
    torch.testing.assert_close(build("laplacian")(ir, ir), ir, atol=1e-5, rtol=0)


def test_laplacian_constant_inputs_give_their_mean() -> None:
    a = torch.full((1, 1, 64, 80), 0.2)
    b = torch.full((1, 1, 64, 80), 0.6)
    torch.testing.assert_close(build("laplacian")(a, b), torch.full_like(a, 0.4), atol=1e-6, rtol=0)


def test_laplacian_keeps_the_stronger_detail_of_each_source() -> None:
    """A bright IR square on a flat VIS and VIS stripes on a flat IR: both structures survive at full contrast."""
    ir = torch.full((1, 1, 128, 128), 0.3)
    ir[..., 40:80, 40:80] = 0.9
    vi = torch.full((1, 1, 128, 128), 0.3)
    vi[..., :, ::8] = 0.7
    fused = build("laplacian")(ir, vi)
    avg = 0.5 * (ir + vi)
    square_contrast = fused[..., 50:70, 50:70].mean() - fused[..., 100:120, 4:7].mean()
    assert square_contrast > 0.45  # the average keeps only half of the 0.6 step
    stripe_contrast = fused[..., 100:120, 8].mean() - fused[..., 100:120, 12].mean()
    assert stripe_contrast > 0.3 and (avg[..., 100:120, 8].mean() - avg[..., 100:120, 12].mean()) < 0.21


def test_laplacian_level_count_adapts_to_small_images() -> None:
    m = LaplacianFusion(levels=5)
    assert m.effective_levels(480, 640) == 5
    assert m.effective_levels(20, 300) == 2
    assert m.effective_levels(9, 9) == 1
    out = m(torch.rand(1, 1, 9, 9), torch.rand(1, 1, 9, 9))
    assert out.shape == (1, 1, 9, 9)


def test_laplacian_on_real_pair_beats_average_on_detail(msrs_pair) -> None:
    ir, vi = msrs_pair
    lap = build("laplacian")(ir, vi)[0, 0].numpy()
    avg = build("average")(ir, vi)[0, 0].numpy()

    def avg_gradient(x: np.ndarray) -> float:
        gy, gx = np.gradient(x.astype(np.float64))
        return float(np.mean(np.sqrt((gx**2 + gy**2) / 2)))

    assert avg_gradient(lap) > 1.3 * avg_gradient(avg)
