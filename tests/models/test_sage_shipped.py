"""The SAGE weights samfuse ships (trained here; samfuse/models/sage/weights/MODEL_CARD.md) load and fuse."""

from __future__ import annotations

import numpy as np
import torch

import samfuse
from samfuse.io import read_raw
from samfuse.io.checkpoint import load_state_dict
from samfuse.models import build
from samfuse.models.pretrained import PRETRAINED
from samfuse.models.sage.shipped import DISTILLED_CARD, MODEL_CARD, STUDENT, TEACHER
from shared_paths import DATASETS, REFERENCE


def test_shipped_files_are_small_and_documented() -> None:
    assert STUDENT.stat().st_size < 1_000_000 and TEACHER.stat().st_size < 6_000_000
    card = DISTILLED_CARD.read_text()
    for fact in ("regions", "FilterBankFeatures", "--profile cpu --out RUN", "wall time", "msrs"):
        assert fact in card, fact
    card = MODEL_CARD.read_text()  # the default, sage.alone
    for fact in ("sage.alone", "--set loss=maxint --set output=unit", "msrs-train-128", "from scratch", "wall time"):
        assert fact in card, fact


def test_sage_is_trained_here_not_the_authors_file() -> None:
    authors = load_state_dict(REFERENCE / "sage" / "sage_student_official.pt")
    for tag, updates in (("sage.alone", 2471), ("sage.distilled", 1800)):
        ours = load_state_dict(PRETRAINED[tag].path)
        assert ours.keys() == authors.keys()
        weights = [k for k in ours if k.endswith(".weight")]
        assert not any(torch.equal(ours[k].float(), authors[k].float().cpu()) for k in weights)
        assert int(ours[next(k for k in ours if k.endswith("num_batches_tracked"))]) == updates  # student updates
    assert PRETRAINED["sage.alone"].path == STUDENT


def test_sage_fuses_a_real_pair_out_of_the_box() -> None:
    ir = read_raw(DATASETS / "MSRS/ir/00107D.png")[100:261, 200:393]  # odd 161×193 crop
    vi = read_raw(DATASETS / "MSRS/vi/00107D.png")[100:261, 200:393]
    out = samfuse.fuse(ir, vi, method="sage")
    assert out.shape == (161, 193, 3) and out.min() >= 0 and out.max() <= 1
    # not flat, and not a copy of the visible image
    assert out.std() > 0.05
    assert not np.allclose(out, vi / 255.0, atol=0.02)


def test_sage_teacher_runs_with_the_shipped_weights() -> None:
    teacher = build("sage-teacher")
    assert sum(p.numel() for p in teacher.parameters()) == 2_639_505
    assert next(teacher.parameters()).dtype == torch.float32  # fp16 file, float32 model
