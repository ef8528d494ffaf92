"""Erosion, dilation (kornia morphology) and random mask drop."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from samfuse.semantics import MaskSet, dilate, drop_masks, erode


def test_square_erode_dilate_exact() -> None:
    m = np.zeros((30, 30), bool)
    m[10:20, 5:25] = True  # 10 x 20 rectangle
    for k in (3, 5, 7):
        r = k // 2
        e, d = erode(m, k), dilate(m, k)
        assert e.sum() == (10 - 2 * r) * (20 - 2 * r)
        assert d.sum() == (10 + 2 * r) * (20 + 2 * r)
    assert np.array_equal(erode(m, 1), m)
    with pytest.raises(ValueError, match="odd"):
        erode(m, 4)


def test_matches_scipy_inside_and_keeps_border_masks() -> None:
    rng = np.random.default_rng(0)
    m = ndi.binary_opening(rng.random((64, 80)) > 0.4, np.ones((3, 3)))
    k = 5
    ref_e = ndi.binary_erosion(m, np.ones((k, k)), border_value=1)  # geodesic border: outside ignored
    ref_d = ndi.binary_dilation(m, np.ones((k, k)))
    assert np.array_equal(erode(m, k), ref_e)
    assert np.array_equal(dilate(m, k), ref_d)
    full = np.ones((10, 10), bool)
    assert erode(full, 5).all()  # a mask touching the border is not eaten from outside


def test_maskset_perturbation_resorts_and_keeps_scores() -> None:
    big = np.zeros((40, 40), bool)
    big[5:35, 5:8] = True  # thin 30 x 3: 90 px -> 28 x 1 after a 3x3 erosion
    small = np.zeros((40, 40), bool)
    small[20:28, 20:28] = True  # 64 px -> 36 px
    ms = MaskSet.from_masks([big, small], [0.9, 0.1])
    er = erode(ms, 3)
    assert er.areas.tolist() == [36, 28] and er.scores.tolist() == pytest.approx([0.1, 0.9])
    di = dilate(ms, 3)
    assert di.areas.tolist() == [32 * 5, 10 * 10]


def test_drop_masks() -> None:
    ms = MaskSet.from_masks([np.ones((4, 4), bool)] * 200, np.arange(200, dtype=np.float32))
    kept = drop_masks(ms, 0.3, seed=1)
    assert 110 < len(kept) < 170
    assert np.all(np.diff(kept.scores) > 0)  # order kept
    assert np.array_equal(drop_masks(ms, 0.3, seed=1).scores, kept.scores)  # seeded
    slots = drop_masks(ms, 0.3, seed=1, keep_slots=True)
    assert len(slots) == 200 and int((slots.areas == 0).sum()) == 200 - len(kept)
    assert len(drop_masks(ms, 0.0)) == 200 and len(drop_masks(ms, 1.0)) == 0
