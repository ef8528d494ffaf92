"""Atomic writes and the colour round trip."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from samfuse import fuse
from samfuse.io import merge_luma, read_raw, split_luma, to_uint8, write_image
from shared_paths import DATASETS


def test_write_then_read_back(tmp_path: Path) -> None:
    rgb = read_raw(DATASETS / "MSRS/vi/00004N.png")
    assert write_image(tmp_path / "x.png", rgb / 255.0)
    np.testing.assert_array_equal(read_raw(tmp_path / "x.png"), rgb)


def test_existing_file_is_kept_unless_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "x.png"
    write_image(target, np.zeros((8, 8), np.float32))
    before = target.read_bytes()
    assert write_image(target, np.ones((8, 8), np.float32)) is False
    assert target.read_bytes() == before
    assert write_image(target, np.ones((8, 8), np.float32), overwrite=True) is True
    assert read_raw(target).min() == 255


def test_interrupted_write_leaves_nothing_half_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "x.png"
    write_image(target, np.zeros((16, 16), np.float32))
    before = target.read_bytes()

    def interrupted(src: str, dst: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_image(target, np.ones((16, 16), np.float32), overwrite=True)
    with pytest.raises(KeyboardInterrupt):
        write_image(tmp_path / "new.png", np.ones((16, 16), np.float32))
    assert target.read_bytes() == before  # the old complete file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.png"]  # no temp file, no partial new file


def test_to_uint8_rounds_and_clips() -> None:
    x = np.array([-0.5, 0.0, 0.5 / 255, 1.49 / 255, 1.0, 3.0], np.float32)
    np.testing.assert_array_equal(to_uint8(x), [0, 0, 0, 1, 255, 255])


def test_split_merge_luma_round_trip() -> None:
    rgb = torch.from_numpy(read_raw(DATASETS / "RoadScene/vi/FLIR_00006.jpg")).permute(2, 0, 1)[None] / 255.0
    y, cbcr = split_luma(rgb)
    expected_y = 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]
    torch.testing.assert_close(y[:, 0], expected_y, atol=1e-5, rtol=0)
    torch.testing.assert_close(merge_luma(y, cbcr), rgb, atol=1e-5, rtol=0)


@pytest.mark.parametrize("rel", ["MSRS/vi/00004N.png", "MSRS/vi/00107D.png", "RoadScene/vi/FLIR_00006.jpg"])
def test_fusing_vis_with_itself_returns_vis(rel: str) -> None:
    vi = read_raw(DATASETS / rel)
    out = to_uint8(fuse(vi, vi, method="average"))
    assert out.shape == vi.shape
    assert np.abs(out.astype(int) - vi.astype(int)).max() <= 1


def test_grey_visible_gives_grey_output() -> None:
    ir = read_raw(DATASETS / "TNO/ir/01.png")
    vi = read_raw(DATASETS / "TNO/vi/01.png")
    out = fuse(ir, vi, method="average")
    assert out.shape == ir.shape[:2]
    np.testing.assert_allclose(out, (ir[..., 0] / 255.0 + vi[..., 0] / 255.0) / 2, atol=1e-6)


def test_gray_flag_returns_fused_luminance() -> None:
    ir = read_raw(DATASETS / "MSRS/ir/00004N.png")
    vi = read_raw(DATASETS / "MSRS/vi/00004N.png")
    colour = fuse(ir, vi, method="max")
    grey = fuse(ir, vi, method="max", gray=True)
    assert colour.shape == (480, 640, 3) and grey.shape == (480, 640)
    y_vi = (0.299 * vi[..., 0] + 0.587 * vi[..., 1] + 0.114 * vi[..., 2]) / 255.0
    np.testing.assert_allclose(grey, np.maximum(ir / 255.0, y_vi), atol=1e-5)
