"""``msrs-train-128`` / ``msrs-val-128``: the MSRS training split, its held-out validation pairs, read at 171×128."""

from __future__ import annotations

import numpy as np

from samfuse.data import get_dataset
from samfuse.data.datasets import NOT_VALIDATION, validation_stems
from samfuse.data.training import TrainingPairs, read_pair
from samfuse.io import read_raw
from shared_paths import DATASETS


def test_validation_is_held_out_balanced_and_deterministic() -> None:
    train, val = get_dataset("msrs-train-128"), get_dataset("msrs-val-128")
    t, v = {p.stem for p in train.pairs}, {p.stem for p in val.pairs}
    assert len(t) == 1003 and len(v) == 80 and not t & v
    assert sum(s.endswith("N") for s in v) == 40 and sum(s.endswith("D") for s in v) == 40
    assert not v & NOT_VALIDATION and not v & {p.stem for p in get_dataset("train").pairs}
    assert v == validation_stems(sorted(t | v))
    all_training = {p.stem for p in get_dataset("train-all").pairs}
    assert t <= all_training and not v & all_training


def test_pairs_are_read_back_at_4_3() -> None:
    pair = get_dataset("msrs-val-128").pairs[0]
    assert pair.size == (171, 128)
    stored = read_raw(DATASETS / "MSRS-train-128" / "vi" / f"{pair.stem}.png")
    assert stored.shape == (128, 128, 3)
    ir, vi = read_pair(pair)
    assert ir.shape == (128, 171) and vi.shape == (128, 171, 3) and vi.dtype == np.uint8
    item = TrainingPairs([pair], (128, 128), seed=0)[0]
    assert item["ir"].shape == (1, 128, 128) and item["vi"].shape == (3, 128, 128)
