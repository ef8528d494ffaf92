"""The pipeline's colour conversions on arrays (OpenCV, one pass) against kornia's tensor path they replace on the CPU,
and the one-pass 8-bit conversions (``to_unit_float``, ``to_uint8``) against their formulas."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samfuse.io import read_raw, to_uint8, to_unit_float
from samfuse.io.colour import merge_luma, merge_luma_array, split_luma, split_luma_array
from samfuse.pipeline import FusionPipeline, _to_array, _to_tensor
from shared_paths import DATASETS

PAIRS = ["00081D", "00004N"]  # a day and a night pair of MSRS


def _pair(name: str, crop: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A real MSRS pair as float32 in [0, 1]: IR H×W, visible H×W×3 RGB (a 320×240 crop, or the whole frame)."""
    ir, vi = (read_raw(DATASETS / "MSRS" / side / f"{name}.png") for side in ("ir", "vi"))
    if crop:
        ir, vi = ir[120:360, 160:480], vi[120:360, 160:480]
    return to_unit_float(ir if ir.ndim == 2 else ir[:, :, 0]), to_unit_float(vi)


def _assert_8bit_close(got: np.ndarray, ref: np.ndarray) -> None:
    """At most one grey level apart, on fewer than 0.1 % of the values (float32 rounding at a .5 boundary)."""
    diff = np.abs(to_uint8(got).astype(int) - to_uint8(ref).astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3, (diff.max(), (diff > 0).mean())


@pytest.mark.parametrize("name", PAIRS)
def test_array_conversions_match_kornia(name: str) -> None:
    ir, vi = _pair(name)
    vi_t = torch.from_numpy(vi).permute(2, 0, 1)[None]
    y_ref, cbcr_ref = split_luma(vi_t)
    y, ycrcb = split_luma_array(vi)
    # the method sees kornia's luma bit for bit
    assert y.dtype == np.float32 and y.flags.c_contiguous and np.array_equal(y, y_ref[0, 0].numpy())
    # OpenCV's chroma (Y, Cr, Cb order): kornia's up to float32 rounding
    cb_ref, cr_ref = cbcr_ref[0, 0].numpy(), cbcr_ref[0, 1].numpy()
    assert np.abs(ycrcb[:, :, 1] - cr_ref).max() <= 3e-7 and np.abs(ycrcb[:, :, 2] - cb_ref).max() <= 3e-7
    # a fused luma unlike the visible one (so the chroma is put back on other values), then back to RGB
    fused = np.clip(0.55 * ir + 0.45 * y + 0.05, 0.0, 1.0).astype(np.float32)
    ref = _to_array(merge_luma(torch.from_numpy(fused)[None, None], cbcr_ref))
    got = merge_luma_array(fused, ycrcb)
    assert got.shape == vi.shape and got.dtype == np.float32
    assert float(got.min()) >= 0.0 and float(got.max()) <= 1.0
    assert np.abs(got - ref).max() <= 1e-6
    _assert_8bit_close(got, ref)
    # the round trip of the visible image itself
    _, ycrcb = split_luma_array(vi)
    np.testing.assert_allclose(merge_luma_array(y, ycrcb), vi, atol=2e-6, rtol=0)


@pytest.mark.parametrize("method", ["sage-rt", "average"])
def test_pipeline_cpu_path_gives_kornias_image(method: str) -> None:
    """``FusionPipeline`` on the CPU (array colour path) against the same pipeline step by step through kornia."""
    ir, vi = _pair(PAIRS[0], crop=False)
    pipe = FusionPipeline(method)
    ir_t, (y, cbcr) = _to_tensor(ir, pipe.device), split_luma(_to_tensor(vi, pipe.device))
    with torch.inference_mode():
        ref = _to_array(merge_luma(pipe.method(ir_t, y).clamp(0.0, 1.0), cbcr))
    got = pipe.fuse_arrays(ir, vi)
    assert got.shape == (480, 640, 3) and got.dtype == np.float32
    assert np.abs(got - ref).max() <= 1e-6
    _assert_8bit_close(got, ref)
    # gray=True: the method's output on kornia's luma, unchanged
    with torch.inference_mode():
        luma_ref = _to_array(pipe.method(ir_t, y).clamp(0.0, 1.0))
    assert np.array_equal(FusionPipeline(pipe.method, gray=True).fuse_arrays(ir, vi), luma_ref)


def test_to_unit_float_8bit_is_the_division() -> None:
    u8 = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    u8[0, :3] = [[0, 1, 2], [127, 128, 129], [253, 254, 255]]
    for arr in (u8, u8[:, :, 0], u8[:, :, :1], u8[::-2, 1::3], u8[:, :, ::-1], u8.reshape(-1), u8[:0]):
        got = to_unit_float(arr)
        assert got.shape == arr.shape and got.dtype == np.float32
        assert np.array_equal(got, arr.astype(np.float32) / 255.0)


def test_to_uint8_float_is_the_formula() -> None:
    # every float32 near each rounding boundary (k + 0.5) / 255, special values, and values outside [0, 1]
    near = [np.float32((k + 0.5) / 255) + np.arange(-40, 41, dtype=np.float32) * np.spacing(np.float32(0.5))
            for k in range(255)]  # fmt: skip
    special = np.array([np.inf, -np.inf, -0.0, 0.0, 1.0, 2.0, -1.0, 1e-45, 3e38, -3e38], np.float32)
    values = np.concatenate([*near, special, np.random.default_rng(1).random(30_000, dtype=np.float32) * 1.4 - 0.2])
    for arr in (values, values[: 3 * 4000].reshape(40, 100, 3), values[:4000].reshape(40, 100)[:, ::-3]):
        expected = np.round(np.clip(arr.astype(np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)
        assert np.array_equal(to_uint8(arr), expected)
        assert np.array_equal(to_uint8(arr.astype(np.float64)), expected)
