"""Mask products (SAGE top-K pairs, SGDFuse one channel per modality) and the MaskSet container."""

from __future__ import annotations

import numpy as np
import pytest

from samfuse.io import read_raw
from samfuse.semantics import MaskSet, get_provider, modality_mask, top_k_pairs
from shared_paths import DATASETS


def _rect(h: int, w: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


def test_maskset_sorts_by_area_stably() -> None:
    a, b, c = _rect(10, 10, 0, 2, 0, 2), _rect(10, 10, 0, 5, 0, 5), _rect(10, 10, 5, 7, 5, 7)
    ms = MaskSet.from_masks([a, b, c], [0.1, 0.2, 0.3])
    assert ms.areas.tolist() == [25, 4, 4]
    assert ms.scores.tolist() == pytest.approx([0.2, 0.1, 0.3])  # tie a/c keeps the given order
    assert np.array_equal(ms[1], a) and len(ms.top(2)) == 2 and ms.shape == (10, 10)
    labels = np.array([[0, 1, 1], [2, 2, 2]])
    assert MaskSet.from_labels(labels).areas.tolist() == [3, 2]
    with pytest.raises(ValueError):
        MaskSet(np.zeros((2, 3, 3), np.uint8), np.zeros(2, np.float32))


def test_top_k_pairs_pairs_by_rank_and_fills_empty_slots() -> None:
    h, w = 20, 20
    ir = MaskSet.from_masks([_rect(h, w, 0, 10, 0, 10), _rect(h, w, 0, 3, 0, 3), _rect(h, w, 15, 20, 15, 20)])
    vi = MaskSet.from_masks([_rect(h, w, 0, 20, 0, 20), _rect(h, w, 10, 14, 10, 14)])
    pairs = top_k_pairs(ir, vi, k=4)
    assert pairs.ir.shape == pairs.vi.shape == (4, h, w)
    assert pairs.valid.tolist() == [True, True, False, False]  # min(n_ir, n_vis) = 2 pairs
    assert np.array_equal(pairs.ir[0], ir[0]) and np.array_equal(pairs.vi[0], vi[0])  # largest with largest
    assert np.array_equal(pairs.ir[1], ir[1]) and np.array_equal(pairs.vi[1], vi[1])
    assert not pairs.ir[2:].any() and not pairs.vi[2:].any()


def test_top_k_pairs_skips_empty_pairs_and_honours_limit() -> None:
    h, w = 8, 8
    masks = [_rect(h, w, 0, 8 - i, 0, 8) for i in range(6)]
    ir = MaskSet.from_masks(masks)
    vi_list = list(MaskSet.from_masks(masks).masks)
    vi_list[1] = np.zeros((h, w), bool)  # an empty VIS mask at rank 1 (kept in place)
    vi = MaskSet(np.stack(vi_list), np.full(6, np.nan, np.float32))
    pairs = top_k_pairs(ir, vi, k=4)
    assert pairs.valid.all()
    assert [int(m.sum()) for m in pairs.ir] == [64, 48, 40, 32]  # rank 1 (56 px) skipped
    assert not top_k_pairs(ir, vi, k=4, skip_empty=False).vi[1].any()
    assert top_k_pairs(ir, vi, k=4, limit=3).valid.tolist() == [True, True, False, False]
    with pytest.raises(ValueError, match="image size"):
        top_k_pairs(ir, MaskSet.empty((4, 4)))


def test_modality_mask_rule_on_synthetic_scene() -> None:
    h, w = 100, 100
    ir = np.full((h, w), 30, np.uint8)
    ir[10:20, 10:20] = 220  # warm object, 1 % of the image
    sky = _rect(h, w, 0, 100, 50, 100)  # 50 %: too large
    speck = _rect(h, w, 90, 92, 0, 2)  # 0.04 %: too small
    warm = _rect(h, w, 10, 20, 10, 20)  # 1 %, warm
    cold = _rect(h, w, 60, 80, 10, 30)  # 4 %, cold
    masks = MaskSet.from_masks([sky, speck, warm, cold])
    vis = modality_mask(masks, modality="vis")
    assert np.array_equal(vis, warm | cold)
    irm = modality_mask(masks, ir, modality="ir")
    assert np.array_equal(irm, warm)
    assert np.array_equal(modality_mask(masks, modality="vis", max_share=0.6), sky | warm | cold)
    assert np.array_equal(modality_mask(masks, modality="vis", min_share=0.0001), warm | cold | speck)
    with pytest.raises(ValueError, match="needs the IR image"):
        modality_mask(masks, modality="ir")
    assert not modality_mask(MaskSet.empty((h, w)), modality="vis").any()


def test_modality_mask_on_msrs_regions() -> None:
    """On a real night pair the IR channel is a small warm subset; the VIS channel drops the large stuff."""
    ir = read_raw(DATASETS / "MSRS/ir/00004N.png")
    regions = get_provider("regions")
    m_ir = modality_mask(regions(ir), ir, modality="ir")
    m_all = modality_mask(regions(ir), ir, modality="vis")
    assert m_ir.any() and np.all(m_all[m_ir])  # warm segments are a subset of the size-selected ones
    assert m_ir.mean() < m_all.mean() < 0.5
    assert m_ir[260, 535]  # the pedestrian on the right (see test_providers)
