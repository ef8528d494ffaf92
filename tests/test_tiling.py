"""Issue 25: large images are fused in overlapping, blended tiles above a method's pixel budget (samfuse.tiling),
so memory stays bounded. The seams are checked on a real MSRS pair with a small budget (tiles of 288 pixels), tiled
against untiled: the CNN methods match to float rounding, and no method's gradient is larger at a tile boundary
than elsewhere."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samfuse.io import read_raw
from samfuse.models import build
from samfuse.pipeline import FusionPipeline
from samfuse.tiling import ALIGN, DEFAULT_OVERLAP, blend_weights, tile_for_budget, tile_spans, tiled_forward
from shared_paths import DATASETS

PAIR = DATASETS / "MSRS"
BUDGET = 256 * 256  # tiles of tile_for_budget(BUDGET) = 288 pixels on a 640×480 image: 3 × 4 tiles


@pytest.mark.parametrize("size", [1, 100, 288, 289, 640, 3000, 4000])
def test_spans_cover_the_side_aligned_and_overlapping(size: int) -> None:
    tile = tile_for_budget(BUDGET)
    spans = tile_spans(size, tile, DEFAULT_OVERLAP)
    assert spans[0][0] == 0 and spans[-1][1] == size
    assert all(a % ALIGN == 0 for a, _ in spans)
    for (a0, b0), (a1, b1) in zip(spans, spans[1:], strict=False):
        assert a0 < a1 and b0 - a1 >= DEFAULT_OVERLAP and b1 - a1 <= tile + ALIGN - 1
    weight = sum(torch.nn.functional.pad(blend_weights(s, size, DEFAULT_OVERLAP), (s[0], size - s[1])) for s in spans)
    assert float(weight.min()) > 0.5  # every pixel is covered with weight


def test_tiled_forward_of_a_pointwise_function_is_the_function() -> None:
    x = torch.rand(1, 2, 700, 1000)
    out = tiled_forward(lambda a, b: a * 2 + b, [x[:, :1], x[:, 1:]], tile=288)
    assert torch.allclose(out, x[:, :1] * 2 + x[:, 1:], atol=1e-6)


def _pair() -> tuple[np.ndarray, np.ndarray]:
    return read_raw(PAIR / "ir" / "00081D.png"), read_raw(PAIR / "vi" / "00081D.png")


def _seams(tiled: np.ndarray, whole: np.ndarray) -> tuple[float, float]:
    """Mean |horizontal gradient| of the tiled output over the untiled one's, in the blend zones of the tile
    boundaries and elsewhere (1.0 and 1.0: no seam)."""
    cols = tile_spans(whole.shape[1], tile_for_budget(BUDGET), DEFAULT_OVERLAP)
    zone = np.zeros(whole.shape[1] - 1, bool)
    for a, _ in cols[1:]:
        zone[a : a + DEFAULT_OVERLAP] = True
    gt, gw = np.abs(np.diff(tiled, axis=1)), np.abs(np.diff(whole, axis=1))
    return float(gt[:, zone].mean() / gw[:, zone].mean()), float(gt[:, ~zone].mean() / gw[:, ~zone].mean())


def test_sage_tiled_matches_untiled_on_a_real_pair_without_seams() -> None:
    ir, vi = _pair()
    whole = FusionPipeline("sage", tile_pixels=0).fuse_arrays(ir, vi)
    tiled = FusionPipeline("sage", tile_pixels=BUDGET).fuse_arrays(ir, vi)
    assert tiled.shape == whole.shape
    assert float(np.abs(tiled - whole).max()) < 1e-5  # the CNN's reach is inside the blend margin: float rounding
    at_seams, elsewhere = _seams(tiled[..., 0], whole[..., 0])
    assert abs(at_seams - 1) < 1e-4 and abs(elsewhere - 1) < 1e-4


def test_a_global_attention_method_tiles_close_and_without_seams() -> None:
    """sgdfuse-stage1's transposed (channel) attention sees one tile's statistics: close, not exact; measured
    max 7.3 and mean 0.65 grey levels at this tile size (1 MP tiles differ less)."""
    ir, vi = _pair()
    whole = FusionPipeline("sgdfuse-stage1", tile_pixels=0, gray=True).fuse_arrays(ir, vi)
    tiled = FusionPipeline("sgdfuse-stage1", tile_pixels=BUDGET, gray=True).fuse_arrays(ir, vi)
    diff = np.abs(tiled - whole) * 255
    assert float(diff.mean()) < 1.0 and float(diff.max()) < 12
    at_seams, elsewhere = _seams(tiled, whole)
    assert at_seams < 1.01 and elsewhere < 1.01  # no stronger gradient at the tile boundaries


def test_within_the_budget_nothing_changes_and_budgets_are_declared() -> None:
    ir, vi = _pair()
    assert np.array_equal(
        FusionPipeline("sage").fuse_arrays(ir, vi), FusionPipeline("sage", tile_pixels=0).fuse_arrays(ir, vi)
    )
    for name in ("sage", "seafusion", "sgdfuse-stage1", "sgdfuse", "sage-teacher"):
        assert build(name).tile_pixels is not None, name
    for name in ("average", "max", "laplacian"):
        assert build(name).tile_pixels is None, name
    with pytest.raises(ValueError, match="tile_pixels must be 0"):
        FusionPipeline("sage", tile_pixels=-5)


def test_masks_are_cut_with_the_tiles() -> None:
    """A method that needs masks gets each tile's part of them (here: a stand-in that returns the masks' first
    channel, so the tiled output must be exactly the mask)."""
    from samfuse.models.base import FusionMethod

    class MaskEcho(FusionMethod):
        needs_masks = "modality_mask"
        tile_pixels = BUDGET

        def forward(self, ir, vi, masks=None):  # noqa: ANN001, ANN201
            return masks[:, :1]

    ir, vi = _pair()
    m = np.zeros((2, *ir.shape[:2]), np.float32)
    m[0, 100:300, 50:500] = 1.0
    out = FusionPipeline(MaskEcho(), gray=True).fuse_arrays(ir, vi, masks=m)
    assert np.array_equal(out, m[0])
