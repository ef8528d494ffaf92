"""The temporal-consistency training term (issue 23): two views a small camera move apart, and the flicker loss
that is the ``flicker`` figure of :mod:`samfuse.metrics.temporal` in training form."""

from __future__ import annotations

import torch

from samfuse.io import read_image
from samfuse.training.losses.temporal import flicker_loss, paired_views
from shared_paths import DATASETS


def real_pair(h: int = 64, w: int = 80) -> tuple[torch.Tensor, torch.Tensor]:
    """A real MSRS pair (00004N), cropped: luminance and IR as (1, 1, h, w) in [0, 1]."""
    ir = read_image(DATASETS / "MSRS/ir/00004N.png")[200 : 200 + h, 300 : 300 + w]
    vi = read_image(DATASETS / "MSRS/vi/00004N.png")[200 : 200 + h, 300 : 300 + w]
    y = torch.from_numpy(vi).float() @ torch.tensor([0.299, 0.587, 0.114])
    return y[None, None], torch.from_numpy(ir).float()[None, None]


def test_views_move_both_modalities_alike_and_are_seeded() -> None:
    y, ir = real_pair()
    (ya, ia), (yb, ib) = paired_views([y, ir], torch.Generator().manual_seed(3), max_shift=2.0, max_zoom=0.01)
    (ya2, _), (yb2, _) = paired_views([y, ir], torch.Generator().manual_seed(3), max_shift=2.0, max_zoom=0.01)
    assert torch.equal(ya, ya2) and torch.equal(yb, yb2)
    assert ya.shape == yb.shape == y.shape and not torch.equal(ya, yb)
    # no move between the views: B is A
    (ya0, ia0), (yb0, ib0) = paired_views([y, ir], torch.Generator().manual_seed(3), max_shift=0.0, max_zoom=0.0)
    assert torch.allclose(ya0, yb0, atol=1e-6) and torch.allclose(ia0, ib0, atol=1e-6)
    # the sampled view is the pair moved by under a pixel: close to it, not equal
    assert 0 < float((ya0 - y)[..., 2:-2, 2:-2].abs().mean()) < 0.05


def test_flicker_loss_is_zero_for_pixelwise_rules_and_counts_added_change() -> None:
    y, ir = real_pair()
    (ya, ia), (yb, ib) = paired_views([y, ir], torch.Generator().manual_seed(0))
    for rule in (lambda a, b: (a + b) / 2, torch.maximum, lambda a, b: a):
        assert float(flicker_loss(rule(ya, ia), rule(yb, ib), [ya, ia], [yb, ib])) == 0.0
    noise = torch.rand(ya.shape, generator=torch.Generator().manual_seed(1)) * 0.1
    loss = float(flicker_loss((ya + ia) / 2, (yb + ib) / 2 + noise, [ya, ia], [yb, ib]))
    assert 0.02 < loss < 0.05  # most of E|noise| = 0.05 shows as change beyond the sources
    # a contrast stretch about mid-grey moves more than its source: counted
    stretched = float(flicker_loss(2 * ya - 0.5, 2 * yb - 0.5, [ya, ia], [yb, ib]))
    assert stretched > 0.001
