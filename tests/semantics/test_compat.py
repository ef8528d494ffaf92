"""The torchvision/timm stand-ins: NMS against a plain reference, transforms, timm layers, installation."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from samfuse.semantics import compat


def _reference_nms(boxes: np.ndarray, scores: np.ndarray, thr: float) -> list[int]:
    """Textbook greedy NMS written independently with plain Python floats."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    keep: list[int] = []
    for i in order:
        x1, y1, x2, y2 = boxes[i]
        ok = True
        for j in keep:
            a1, b1, a2, b2 = boxes[j]
            iw = max(0.0, min(x2, a2) - max(x1, a1))
            ih = max(0.0, min(y2, b2) - max(y1, b1))
            inter = iw * ih
            union = (x2 - x1) * (y2 - y1) + (a2 - a1) * (b2 - b1) - inter
            if inter / union > thr:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


def _random_boxes(rng: np.random.Generator, n: int) -> np.ndarray:
    xy = rng.uniform(0, 100, size=(n, 2))
    wh = rng.uniform(1, 40, size=(n, 2))
    return np.concatenate([xy, xy + wh], axis=1)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("thr", [0.3, 0.5, 0.7])
def test_nms_matches_plain_reference(seed: int, thr: float) -> None:
    rng = np.random.default_rng(seed)
    boxes = _random_boxes(rng, 300)
    scores = rng.random(300)
    got = compat.nms(torch.tensor(boxes, dtype=torch.float32), torch.tensor(scores, dtype=torch.float32), thr)
    want = _reference_nms(boxes.astype(np.float32).astype(float), scores.astype(np.float32).astype(float), thr)
    assert got.dtype == torch.int64
    assert got.tolist() == want
    assert 10 < len(want) < 300  # the case really suppresses something and keeps something


def test_nms_hand_case() -> None:
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10.0]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95])
    # box 3 (0.95) kills 0 (IoU 1) and 1 (IoU 81/119 = 0.68 > 0.5); box 2 is disjoint
    assert compat.nms(boxes, scores, 0.5).tolist() == [3, 2]
    assert compat.nms(boxes, scores, 0.7).tolist() == [3, 1, 2]
    assert compat.nms(torch.zeros((0, 4)), torch.zeros(0), 0.5).tolist() == []


def test_batched_nms_is_per_category() -> None:
    rng = np.random.default_rng(5)
    boxes = _random_boxes(rng, 200)
    scores = rng.random(200)
    idxs = rng.integers(0, 4, 200)
    got = compat.batched_nms(
        torch.tensor(boxes, dtype=torch.float32),
        torch.tensor(scores, dtype=torch.float32),
        torch.tensor(idxs),
        0.5,
    ).tolist()
    b32, s32 = boxes.astype(np.float32).astype(float), scores.astype(np.float32).astype(float)
    want: list[int] = []
    for c in range(4):
        sel = np.nonzero(idxs == c)[0]
        want += [int(sel[i]) for i in _reference_nms(b32[sel], s32[sel], 0.5)]
    want.sort(key=lambda i: -s32[i])
    assert got == want
    # the same boxes without categories suppress more
    assert len(compat.nms(torch.tensor(b32), torch.tensor(s32), 0.5)) < len(got)


def test_box_area_and_transforms() -> None:
    assert compat.box_area(torch.tensor([[1.0, 2.0, 4.0, 6.0]])).tolist() == [12.0]
    img = np.zeros((30, 40, 3), dtype=np.uint8)
    img[:15] = 200
    out = np.array(compat.resize(compat.to_pil_image(img), (60, 80)))
    assert out.shape == (60, 80, 3)
    assert out[0, 0, 0] == 200 and out[-1, -1, 0] == 0


def test_timm_layers() -> None:
    dp = compat.DropPath(0.5)
    x = torch.ones(1000, 3)
    dp.eval()
    assert torch.equal(dp(x), x)
    dp.train()
    torch.manual_seed(0)
    y = dp(x)
    assert set(torch.unique(y).tolist()) == {0.0, 2.0}  # survivors scaled by 1 / (1 - p)
    assert 400 < int((y[:, 0] == 0).sum()) < 600
    assert compat.to_2tuple(7) == (7, 7) and compat.to_2tuple((1, 2)) == (1, 2)
    t = compat.trunc_normal_(torch.empty(10000), std=1.0)
    assert float(t.abs().max()) <= 2.0 and 0.7 < float(t.std()) < 1.0
    assert compat.register_model(len) is len


def test_install_makes_sam_packages_importable() -> None:
    used = compat.install()
    assert used == compat.install()  # idempotent
    import mobile_sam  # noqa: F401
    import segment_anything  # noqa: F401

    if used["torchvision"] == "shim":
        assert sys.modules["torchvision.ops.boxes"].batched_nms is compat.batched_nms
    if used["timm"] == "shim":
        assert sys.modules["timm.models.layers"].DropPath is compat.DropPath
