"""Colour fidelity (``CF``, samfuse.metrics.colour) on real MSRS pairs: the ycbcr colour path keeps the visible
chroma (CF ≤ 2), a fused image that dropped the colour does not."""

from __future__ import annotations

import numpy as np
import pytest

from samfuse.io import read_raw
from samfuse.metrics import CONVENTIONS
from samfuse.metrics.colour import chroma, colour_fidelity
from shared_paths import DATASETS

MSRS = DATASETS / "MSRS"
STEM = "00107D"  # a day scene with colour


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray]:
    return read_raw(MSRS / "ir" / f"{STEM}.png"), read_raw(MSRS / "vi" / f"{STEM}.png")


def test_chroma_of_grey_is_neutral() -> None:
    cb, cr = chroma(np.full((4, 5), 77.0))
    assert np.all(cb == 128) and np.all(cr == 128)
    cb, cr = chroma(np.full((4, 5, 3), 77.0))  # equal channels: grey
    assert np.allclose(cb, 128) and np.allclose(cr, 128)


def test_ycbcr_fusion_keeps_colour_dropping_it_does_not(pair: tuple[np.ndarray, np.ndarray]) -> None:
    import samfuse

    ir, vi = pair
    fused = np.round(samfuse.fuse(ir, vi, method="laplacian") * 255).astype(np.uint8)
    assert colour_fidelity(vi, fused) <= 2.0
    assert colour_fidelity(vi, vi) == 0.0
    grey = np.round(samfuse.fuse(ir, vi, method="laplacian", gray=True) * 255)
    lost = colour_fidelity(vi, np.repeat(grey[..., None], 3, axis=2))
    cb, cr = chroma(vi)
    assert lost == pytest.approx(np.mean(np.abs(cb - 128) + np.abs(cr - 128)), rel=1e-9)
    assert lost > 4.0


def test_cf_in_every_convention_reads_colour_files(tmp_path, pair: tuple[np.ndarray, np.ndarray]) -> None:
    import cv2

    ir, vi = pair
    shifted = np.clip(vi.astype(int) + np.array([6, 0, 0]), 0, 255).astype(np.uint8)  # more red
    path = tmp_path / "f.png"
    cv2.imwrite(str(path), shifted[..., ::-1])
    want = colour_fidelity(vi, shifted)
    assert want > 1.0
    for conv in CONVENTIONS.values():
        assert not conv.metrics["CF"].higher_is_better and "CF" not in conv.default
        got = conv.evaluate_files(MSRS / "ir" / f"{STEM}.png", MSRS / "vi" / f"{STEM}.png", path, ["CF"])
        assert got["CF"] == pytest.approx(want, rel=1e-12)
