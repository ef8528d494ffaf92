"""TrainingPairs and CachedMasks on real pairs of ``train``: crops are real sub-images, masks move with them,
randomness is a function of (seed, epoch, index), small images are padded or skipped, bad pairs left out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch

from samfuse.data import CachedMasks, ModalityMasks, TopKPairs, TrainingPairs, get_dataset
from samfuse.io import Pair, read_image
from samfuse.semantics import MaskProvider, MaskSet
from shared_paths import DATASETS

ROAD = DATASETS / "RoadScene"
MSRS = DATASETS / "MSRS" / "train"


def pair(folder: Path, name: str) -> Pair:
    return Pair(Path(name).stem, folder / "ir" / name, folder / "vi" / name)


PAIRS = [pair(ROAD, "FLIR_00006.jpg"), pair(ROAD, "FLIR_06974.jpg"), pair(MSRS, "00001D.png")]


def bright(index: int, p: Pair, ir_raw: np.ndarray, vi_raw: np.ndarray) -> np.ndarray:
    """A mask source derived from the pixels: IR above mid-grey, VIS red above mid-grey."""
    ir = ir_raw if ir_raw.ndim == 2 else ir_raw[..., 0]
    return np.stack([ir > 127, vi_raw[..., 0] > 127])


def find(sub: np.ndarray, full: np.ndarray) -> list[tuple[int, int, str]]:
    """Positions (top, left, flip) where the grey ``sub`` equals a window of ``full`` exactly (flip: "", "h")."""
    hits = []
    for flip, s in (("", sub), ("h", sub[:, ::-1])):
        score = cv2.matchTemplate(full.astype(np.float32), np.ascontiguousarray(s, np.float32), cv2.TM_SQDIFF)
        top, left = np.unravel_index(int(np.argmin(score)), score.shape)  # best match, then exact check
        h, w = s.shape
        if np.array_equal(full[top : top + h, left : left + w], s):
            hits.append((int(top), int(left), flip))
    return hits


def test_samples_are_real_crops_in_0_1_with_luma() -> None:
    ds = TrainingPairs(PAIRS[2:], crop=(24, 32), seed=5)
    s = ds[0]
    assert s["ir"].shape == (1, 24, 32) and s["vi"].shape == (3, 24, 32) and s["vi_y"].shape == (1, 24, 32)
    assert all(s[k].dtype == torch.float32 for k in ("ir", "vi", "vi_y")) and s["stem"] == "00001D"
    ir_full = read_image(PAIRS[2].ir)
    vi_full = read_image(PAIRS[2].vi)
    hits = find(s["ir"][0].numpy(), ir_full)
    assert hits, "the IR sample is not a window of the IR image"
    top, left, flip = hits[0]
    vi_win = vi_full[top : top + 24, left : left + 32]
    vi_win = vi_win[:, ::-1] if flip else vi_win
    np.testing.assert_array_equal(s["vi"].permute(1, 2, 0).numpy(), vi_win)  # same window, same flip
    y = 0.299 * vi_win[..., 0] + 0.587 * vi_win[..., 1] + 0.114 * vi_win[..., 2]
    np.testing.assert_allclose(s["vi_y"][0].numpy(), y, atol=1e-6)


def test_randomness_is_a_function_of_seed_epoch_index() -> None:
    a = TrainingPairs(PAIRS, crop=(64, 96), seed=1)
    b = TrainingPairs(PAIRS, crop=(64, 96), seed=1)
    b.set_epoch(3)
    b.set_epoch(0)
    assert all(torch.equal(a[i]["ir"], b[i]["ir"]) for i in range(3))
    a.set_epoch(1)
    assert not torch.equal(a[2]["ir"], b[2]["ir"])  # another epoch, another crop
    c = TrainingPairs(PAIRS, crop=(64, 96), seed=2)
    assert not torch.equal(c[2]["ir"], b[2]["ir"])


def test_masks_move_with_the_images_through_crop_flips_and_padding() -> None:
    def half_ir(index: int, p: Pair, ir_raw: np.ndarray, vi_raw: np.ndarray) -> np.ndarray:
        ir = ir_raw if ir_raw.ndim == 2 else ir_raw[..., 0]
        return ir[None].astype(np.float32) / 510  # an "extra" input: IR / 2

    ds = TrainingPairs(PAIRS, crop=(192, 256), seed=0, vflip=True, masks=bright, extras={"half": half_ir})
    for epoch in range(3):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            s = ds[i]
            assert s["masks"].shape == (2, 192, 256) and s["masks"].dtype == torch.float32
            # the mask recomputed from the cropped pixels equals the cropped mask: same window, same flips
            assert torch.equal(s["masks"][0] > 0.5, s["ir"][0] * 255 > 127.5)
            assert torch.equal(s["masks"][1] > 0.5, s["vi"][0] * 255 > 127.5)
            torch.testing.assert_close(s["half"], s["ir"] / 2)  # extras follow the same window and flips


def test_images_smaller_than_the_crop_are_padded_or_skipped() -> None:
    padded = TrainingPairs(PAIRS[1:2], crop=(192, 256), seed=0)  # FLIR_06974 is 597x161
    s = padded[0]
    assert s["ir"].shape == (1, 192, 256) and padded.sizes == [(161, 597)]
    # reflection: row 161 + k mirrors row 159 - k of the (horizontally windowed) image
    full = read_image(PAIRS[1].ir)
    assert find(s["ir"][0, :161].numpy(), full), "the top 161 rows are not a window of the image"
    np.testing.assert_array_equal(s["ir"][0, 161:170].numpy(), s["ir"][0].numpy()[159:150:-1])
    with pytest.raises(Exception, match="no usable training pair"):
        TrainingPairs(PAIRS[1:2], crop=(192, 256), small="skip")
    ds = TrainingPairs(PAIRS, crop=(192, 256), small="skip")
    assert len(ds) == 2 and len(ds.skipped) == 1 and "FLIR_06974.jpg: image is 597x161, smaller" in ds.skipped[0]


def test_bad_pairs_are_left_out_with_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    mismatch = Pair("mix", PAIRS[0].ir, PAIRS[2].vi)
    ds = TrainingPairs([*PAIRS, Pair("broken", broken, PAIRS[0].vi), mismatch], crop=(64, 64))
    assert len(ds) == 3 and len(ds.problems) == 2
    assert ds.problems[0].startswith(f"{broken}: ") and "\n" not in ds.problems[0]
    assert "FLIR_00006.jpg: IR is 500x329," in ds.problems[1] and "visible 00001D.png is 640x480" in ds.problems[1]


class Levels(MaskProvider):
    name = "levels-test"

    def __init__(self) -> None:
        self.calls = 0

    def params(self) -> dict[str, Any]:
        return {"levels": [60, 120]}

    def generate(self, image: np.ndarray) -> MaskSet:
        self.calls += 1
        g = image if image.ndim == 2 else image[..., 1]
        return MaskSet.from_masks([g > 60, g > 120], shape=g.shape)


def test_cached_masks_compute_once_and_feed_the_products(tmp_path: Path) -> None:
    provider = Levels()
    source = CachedMasks(provider, tmp_path, TopKPairs(k=3))
    assert source.prepare(PAIRS) == (6, 0) and provider.calls == 6
    assert source.prepare(PAIRS) == (0, 6) and provider.calls == 6  # all from the cache
    ds = TrainingPairs(PAIRS, crop=(96, 128), seed=0, masks=source)
    for epoch in range(2):
        ds.set_epoch(epoch)
        m = ds[2]["masks"]
        assert m.shape == (6, 96, 128)
        assert bool((m[2] == 1).all()) and bool((m[5] == 1).all())  # 2 pairs only: slot 3 is all ones
        g = ds[2]["vi"][1] * 255
        assert torch.equal(m[3] > 0.5, g > 60.5)  # VIS rank-1 mask is (G > 60), cropped like the image
    assert provider.calls == 6  # epochs never ran the provider
    zeros = CachedMasks(provider, tmp_path, TopKPairs(k=3, empty="zeros"))
    m = TrainingPairs(PAIRS, crop=(96, 128), seed=0, masks=zeros)[2]["masks"]
    assert float(m[2].sum()) == 0.0 and float(m[5].sum()) == 0.0
    two = CachedMasks(provider, tmp_path, ModalityMasks(min_share=0.0, max_share=1.0))
    m = TrainingPairs(PAIRS, crop=(96, 128), masks=two)[0]["masks"]
    assert m.shape == (2, 96, 128) and set(m.unique().tolist()) <= {0.0, 1.0}


def test_train_set_reads_every_pair() -> None:
    ds = TrainingPairs(get_dataset("train").pairs, crop=(192, 256), seed=0)
    assert len(ds) == 226 and ds.problems == [] and ds.skipped == []
    assert sum(1 for h, w in ds.sizes if h < 192) == 4  # padded RoadScene pairs
