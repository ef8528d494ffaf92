"""The BT.601 luma written once: the NumPy helper, kornia's tensor path and the call sites agree."""

from __future__ import annotations

import numpy as np
import torch

from samfuse.io.bt601 import BT601, rgb_luma
from samfuse.io.colour import luma


def test_weights_and_dtypes() -> None:
    assert BT601 == (0.299, 0.587, 0.114)
    px = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]], dtype=np.uint8)
    y = rgb_luma(px)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y[0], [0.299 * 255, 0.587 * 255, 0.114 * 255, 255.0])
    assert rgb_luma(px.astype(np.float32) / 255).dtype == np.float32


def test_same_as_kornia() -> None:
    rgb = np.random.default_rng(0).random((8, 9, 3), dtype=np.float32)
    t = torch.from_numpy(rgb.transpose(2, 0, 1).copy())[None]
    np.testing.assert_allclose(luma(t)[0, 0].numpy(), rgb_luma(rgb), atol=1e-6)
