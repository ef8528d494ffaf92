"""The shipped SGDFuse weights (``samfuse/models/sgdfuse/weights``) on a real MSRS pair, through the pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from samfuse.io import read_raw
from samfuse.models import build
from samfuse.models.sgdfuse.shipped import MODEL_CARD, SGDFUSE
from samfuse.pipeline import FusionPipeline
from samfuse.semantics import MaskSource
from shared_paths import DATASETS

PAIR = "00004N"


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ir = read_raw(DATASETS / "MSRS/ir" / f"{PAIR}.png")
    vi = read_raw(DATASETS / "MSRS/vi" / f"{PAIR}.png")
    masks = MaskSource.create("regions")("modality_mask", ir, vi)
    return ir, vi, masks


def test_the_shipped_file_and_its_card_are_in_the_package() -> None:
    assert SGDFUSE.is_file() and SGDFUSE.stat().st_size < 5_000_000
    card = MODEL_CARD.read_text()
    assert SGDFUSE.name in card and "regions" in card


def test_shipped_sgdfuse_fuses_a_real_msrs_pair_in_colour_deterministically(pair) -> None:  # noqa: ANN001
    ir, vi, masks = pair
    fused = {}
    for seed in (0, 0, 1):
        pipeline = FusionPipeline("sgdfuse", seed=seed)  # the shipped weights: no --weights
        fused.setdefault(seed, []).append(pipeline.fuse_arrays(ir, vi, masks=masks))
    a, b = fused[0]
    assert a.shape == (480, 640, 3) and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0
    np.testing.assert_array_equal(a, b)  # same seed, identical image
    assert np.abs(a - fused[1][0]).max() > 0  # another seed, another sample
    # the refined image stays close to stage 1's F1 (the refiner starts from F1 noised to an intermediate step)
    stage1 = FusionPipeline(build("sgdfuse-stage1")).fuse_arrays(ir, vi)
    assert np.abs(a - stage1).mean() < 0.1
