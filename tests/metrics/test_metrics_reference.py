"""Every metric of both profiles against the reference toolkits' own values (8 methods × 21 VIFB images)."""

from __future__ import annotations

import numpy as np
import pytest

VIFB_STRICT = ["EN", "SD", "SF", "AG", "MI", "Qabf", "SSIM", "PSNR", "RMSE", "CE", "EI"]
CDDFUSE = ["EN", "SD", "SF", "AG", "MI", "SCD", "VIF", "Qabf", "SSIM", "MSE", "CC", "PSNR"]
# Reproduced bit for bit: float32 arithmetic in NumPy 1.21's reduction order (see samfuse.metrics._float32).
CDDFUSE_BIT_EXACT = ["SD", "SF", "AG", "SCD", "MSE", "CC"]


def _relative(rows, ours, name: str) -> np.ndarray:
    ref = np.array([float(r[name]) for r in rows])
    val = np.array([o[name] for o in ours])
    assert np.all(np.isfinite(val)), name
    return np.abs(val - ref) / np.abs(ref)


def test_sweeps_cover_all_rows(vifb_sweep, cddfuse_sweep):
    for rows, ours in (vifb_sweep, cddfuse_sweep):
        assert len(rows) == len(ours) == 168
        assert {r["method"] for r in rows} == {"ADF", "CBF", "DLF", "GFF", "IFCNN", "MSVD", "SeAFusion", "U2Fusion"}


@pytest.mark.parametrize("name", VIFB_STRICT)
def test_vifb_matches_matlab(vifb_sweep, name):
    rel = _relative(*vifb_sweep, name)
    assert np.mean(rel <= 1e-4) >= 0.99, f"{name}: max rel {rel.max():.2e}"


@pytest.mark.parametrize("name", ["Qcb", "Qcv"])
def test_vifb_qcb_qcv_match_matlab(vifb_sweep, name):
    rel = _relative(*vifb_sweep, name)
    assert np.mean(rel <= 1e-3) >= 0.99, f"{name}: max rel {rel.max():.2e}"


def test_vifb_rounds_to_the_csv_digits(vifb_sweep):
    """Stronger than 1e-4: every value rounds to the CSV's 5 significant digits (%.5g)."""
    rows, ours = vifb_sweep
    for name in VIFB_STRICT + ["Qcb", "Qcv"]:
        for r, o in zip(rows, ours, strict=True):
            ref = float(r[name])
            half_unit = 0.5 * 10 ** (np.floor(np.log10(abs(ref))) - 4)
            assert abs(o[name] - ref) <= half_unit * (1 + 1e-9), (name, r["method"], r["image"], o[name], ref)


@pytest.mark.parametrize("name", CDDFUSE)
def test_cddfuse_matches_evaluator(cddfuse_sweep, name):
    rel = _relative(*cddfuse_sweep, name)
    assert np.mean(rel <= 1e-6) >= 0.99, f"{name}: max rel {rel.max():.2e}"


@pytest.mark.parametrize("name", CDDFUSE_BIT_EXACT)
def test_cddfuse_float32_metrics_are_bit_identical(cddfuse_sweep, name):
    rows, ours = cddfuse_sweep
    assert [o[name] for o in ours] == [float(r[name]) for r in rows]
