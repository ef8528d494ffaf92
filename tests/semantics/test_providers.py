"""Weight-free providers on real images, and the registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from samfuse.io import read_raw
from samfuse.semantics import (
    MaskProvider,
    MaskSet,
    UnknownProviderError,
    get_provider,
    list_providers,
    register_provider,
)
from samfuse.semantics.registry import _REGISTRY
from shared_paths import DATASETS

MSRS = DATASETS / "MSRS"


def person_boxes(stem: str) -> list[tuple[int, int, int, int]]:
    """Person boxes (x0, y0, x1, y1), pixels, of MSRS/detection/infrared/<stem>.txt (YOLO, 640x480)."""
    boxes = []
    for line in (MSRS / "detection/infrared" / f"{stem}.txt").read_text().splitlines():
        parts = line.split()
        if not parts or parts[0] != "0":
            continue
        cx, cy, w, h = (float(v) for v in parts[1:5])
        boxes.append(
            (int((cx - w / 2) * 640), int((cy - h / 2) * 480), int((cx + w / 2) * 640) + 1, int((cy + h / 2) * 480) + 1)
        )
    return boxes


def test_registry_lists_builtins_and_accepts_new_providers() -> None:
    names = list_providers()
    assert {"sam", "regions", "thermal"} <= set(names)
    assert all(isinstance(d, str) and d for d in names.values())
    with pytest.raises(UnknownProviderError, match="available: .*regions"):
        get_provider("nope")

    @register_provider("test-halves", "left and right halves")
    class Halves(MaskProvider):
        name = "test-halves"

        def params(self) -> dict[str, int]:
            return {}

        def generate(self, image: np.ndarray) -> MaskSet:
            h, w = image.shape[:2]
            left = np.zeros((h, w), bool)
            left[:, : w // 3] = True
            return MaskSet.from_masks([left, ~left])

    try:
        masks = get_provider("test-halves")(np.zeros((4, 9), np.uint8))
        assert masks.areas.tolist() == [24, 12]  # sorted by area although produced small-first
        with pytest.raises(ValueError, match="already registered"):
            register_provider("test-halves")(Halves)
    finally:
        _REGISTRY.pop("test-halves")


def test_thermal_finds_the_pedestrian_checked_by_eye() -> None:
    """MSRS 00004N (night): the tall pedestrian on the right, box x 509-562, y 204-347 (looked at the IR
    image and the detection label): one warm mask lies inside that box and fills much of it."""
    ir = read_raw(MSRS / "ir/00004N.png")
    masks = get_provider("thermal")(ir)
    assert 5 <= len(masks) <= 30
    x0, y0, x1, y1 = 509, 204, 563, 348
    inside = [
        i
        for i, m in enumerate(masks.masks)
        if m[y0:y1, x0:x1].sum() > 0.95 * m.sum()  # the mask lies in the box
    ]
    assert len(inside) >= 1
    best = max(inside, key=lambda i: masks.masks[i][y0:y1, x0:x1].sum())
    person = masks.masks[best]
    assert person[260, 535]  # the torso
    assert 0.35 < person[y0:y1, x0:x1].mean() < 0.8  # a silhouette, not the whole box
    assert masks.scores[best] > 5  # more than 5 robust sigma warmer than the background
    assert not masks.masks[:, 400:, :].any()  # nothing on the (cold) road in the bottom of the image


def test_thermal_recall_on_all_msrs_person_boxes() -> None:
    """Over the 106 MSRS test IR images, most labelled pedestrians are touched by a warm mask."""
    provider = get_provider("thermal")
    hit = total = 0
    shares = []
    for path in sorted((MSRS / "ir").glob("*.png")):
        masks = provider(read_raw(path))
        union = masks.masks.any(axis=0) if len(masks) else np.zeros((480, 640), bool)
        shares.append(union.mean())
        for x0, y0, x1, y1 in person_boxes(path.stem):
            total += 1
            hit += union[y0:y1, x0:x1].mean() > 0.1
    assert total == 329
    assert hit / total > 0.85  # measured: 301 / 329 (benchmarks/thermal_recall.py)
    assert 0.01 < float(np.mean(shares)) < 0.06  # salient objects, not half the image


def test_thermal_synthetic_and_flat() -> None:
    rng = np.random.default_rng(0)
    img = rng.normal(40, 3, (120, 160)).clip(0, 255).astype(np.uint8)
    yy, xx = np.mgrid[:120, :160]
    disk = (yy - 60) ** 2 + (xx - 100) ** 2 <= 12**2
    img[disk] = 200
    masks = get_provider("thermal")(img)
    assert len(masks) == 1
    found = masks.masks[0]
    grown = (yy - 60) ** 2 + (xx - 100) ** 2 <= 15**2  # the 1-px Gaussian blur widens the edge a little
    assert found[disk].all() and not found[~grown].any()
    assert len(get_provider("thermal")(np.full((50, 50), 90, np.uint8))) == 0


def test_regions_on_msrs_day_visible_checked_by_eye() -> None:
    """MSRS 00081D visible: the road is the largest region, the manhole cover (ellipse at x 259-419,
    y 419-442) is a region of its own, the white wall (around x 270, y 80) another."""
    vi = read_raw(MSRS / "vi/00081D.png")
    masks = get_provider("regions")(vi)
    assert 20 <= len(masks) <= 150
    assert np.array_equal(masks.masks.sum(axis=0), np.ones((480, 640)))  # a partition of the image
    share = masks.areas / (480 * 640)
    assert share[-1] >= 0.001 and 0.15 < share[0] < 0.6
    road = masks.masks[0]
    assert road[380, 400] and road[460, 600]
    manhole = int(np.nonzero(masks.masks[:, 430, 340])[0][0])
    assert manhole != 0 and not masks.masks[manhole, 380, 400]
    ys, xs = np.nonzero(masks.masks[manhole])
    assert abs(xs.min() - 259) <= 8 and abs(xs.max() - 419) <= 8 and abs(ys.min() - 419) <= 5
    assert abs(ys.max() - 442) <= 5
    wall = int(np.nonzero(masks.masks[:, 80, 270])[0][0])
    assert wall not in (0, manhole) and masks.masks[wall, 20:140, 230:320].mean() > 0.9


@pytest.mark.parametrize(
    ("path", "lo", "hi"),
    [("MSRS/ir/00854N.png", 10, 80), ("MSRS/vi/00854N.png", 5, 80), ("M3FD/vi/00001.png", 20, 150)],
)
def test_regions_are_object_sized_and_deterministic(path: str, lo: int, hi: int) -> None:
    img = read_raw(DATASETS / path)
    provider = get_provider("regions")
    masks = provider(img)
    assert lo <= len(masks) <= hi
    assert masks.masks.shape[1:] == img.shape[:2]
    assert np.all(masks.areas >= 0.001 * img.shape[0] * img.shape[1])
    assert np.all(np.isnan(masks.scores))
    assert np.array_equal(provider(img).masks, masks.masks)  # deterministic


def test_regions_grey_and_replicated_grey_agree(tmp_path: Path) -> None:
    ir = read_raw(MSRS / "ir/00854N.png")[:240, :320]
    provider = get_provider("regions")
    a = provider(ir)
    b = provider(np.repeat(ir[:, :, None], 3, axis=2))
    assert len(a) > 3 and np.array_equal(a.masks, b.masks)
