"""The SAGE authors' colour path (``color="opencv"``), checked against an independent NumPy transcription."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import samfuse
from samfuse.io import read_raw
from samfuse.io.colour import authors_to_uint8, authors_ycrcb_to_rgb, opencv_ycrcb, unit_tensor
from samfuse.pipeline import FusionPipeline
from shared_paths import DATASETS


def numpy_authors_inverse(f: np.ndarray, cr: np.ndarray, cb: np.ndarray) -> np.ndarray:
    """docs/sage-notes.md §6 written out per channel in float64, then ×255 + 0.5, clamp, truncate."""
    f, cr, cb = (a.astype(np.float64) for a in (f, cr, cb))
    rgb = np.stack(
        [f + 1.403 * (cr - 0.5), f - 0.714 * (cr - 0.5) - 0.344 * (cb - 0.5), f + 1.773 * (cb - 0.5)], axis=-1
    )
    return np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8)


def test_opencv_ycrcb_known_values() -> None:
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [128, 128, 128]]], np.uint8)
    ycc = opencv_ycrcb(rgb)
    # Y = .299R + .587G + .114B; Cr = (R−Y)·.713 + 128; Cb = (B−Y)·.564 + 128, rounded and saturated
    np.testing.assert_array_equal(ycc[0, 0], [76, 255, 85])
    np.testing.assert_array_equal(ycc[0, 1], [150, 21, 43])
    np.testing.assert_array_equal(ycc[0, 2], [29, 107, 255])
    np.testing.assert_array_equal(ycc[0, 3], [128, 128, 128])


def test_inverse_matches_independent_transcription_on_a_real_image() -> None:
    vi = read_raw(DATASETS / "MSRS/vi/00107D.png")[100:300, 200:460]
    ycc = unit_tensor(opencv_ycrcb(vi))
    gen = torch.Generator().manual_seed(0)
    f = ycc[:, :1] + 0.3 * torch.rand(ycc[:, :1].shape, generator=gen) - 0.45  # goes below 0, as tanh can
    ours = authors_to_uint8(authors_ycrcb_to_rgb(f, ycc[:, 1:]))
    ref = numpy_authors_inverse(f[0, 0].numpy(), ycc[0, 1].numpy(), ycc[0, 2].numpy())
    diff = np.abs(ours.astype(int) - ref.astype(int))
    assert diff.max() <= 1 and (diff == 0).mean() > 0.999
    assert (f < 0).any()  # the unclamped range was exercised


def test_truncation_not_rounding() -> None:
    x = torch.tensor([[[[-0.2, 0.0, 0.5 / 255, 1.4999 / 255, 1.5 / 255, 254.6 / 255, 1.2]]]])
    np.testing.assert_array_equal(authors_to_uint8(x)[0], [0, 0, 1, 1, 2, 255, 255])


@pytest.mark.parametrize("rel", ["MSRS/vi/00107D.png", "RoadScene/vi/FLIR_00006.jpg"])
def test_visible_through_their_path_moves_by_at_most_two_levels(rel: str) -> None:
    """Their inverse is not OpenCV's exact inverse: pushing the unchanged Y through it is off by ≤ 2 LSB."""
    vi = read_raw(DATASETS / rel)
    y = opencv_ycrcb(vi)[..., 0]
    out = samfuse.fuse(y, vi, method="average", color="opencv")  # average(Y, Y) = Y exactly
    assert out.dtype == np.uint8 and out.shape == vi.shape
    diff = np.abs(out.astype(int) - vi.astype(int))
    assert diff.max() <= 2 and 0.2 < diff.mean() < 1.0


def test_opencv_path_works_for_every_method_grey_and_16_bit() -> None:
    ir = read_raw(DATASETS / "MSRS/ir/00004N.png")[:120, :160]
    vi = read_raw(DATASETS / "MSRS/vi/00004N.png")[:120, :160]
    for method in ("average", "max", "laplacian"):
        out8 = FusionPipeline(method, color="opencv").fuse_arrays(ir, vi)
        out16 = FusionPipeline(method, color="opencv").fuse_arrays(
            ir.astype(np.uint16) * 257, vi.astype(np.uint16) * 257
        )
        np.testing.assert_array_equal(out8, out16)  # 16-bit input is quantised to 8 bits first, losslessly here
        assert out8.dtype == np.uint8 and out8.shape == vi.shape
    grey = FusionPipeline("max", color="opencv", gray=True).fuse_arrays(ir, vi)
    y = opencv_ycrcb(vi)[..., 0]
    np.testing.assert_array_equal(grey, np.maximum(ir, y))  # x/255·255 + 0.5 truncates back to x


def test_grey_visible_is_taken_as_three_equal_channels() -> None:
    ir = read_raw(DATASETS / "TNO/ir/01.png")[..., 0]
    vi = read_raw(DATASETS / "TNO/vi/01.png")[..., 0]
    out = FusionPipeline("average", color="opencv").fuse_arrays(ir, vi)
    assert out.shape == (*vi.shape, 3)  # their script writes RGB; Cr = Cb = 128 tints by at most one level
    f = (ir.astype(np.float32) / 255 + vi.astype(np.float32) / 255) / 2
    half = np.full_like(f, 128 / 255)
    np.testing.assert_array_equal(out, numpy_authors_inverse(f, half, half))


def test_unknown_colour_path() -> None:
    with pytest.raises(ValueError, match="unknown colour path 'lab'"):
        FusionPipeline("average", color="lab")  # type: ignore[arg-type]
