"""MaskCache: keys, format, atomicity, top-K limits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from samfuse.semantics import MaskCache, MaskProvider, MaskSet, get_provider, image_hash, provider_key


class Counting(MaskProvider):
    """Deterministic masks of a few thresholds; counts how often it runs."""

    name = "counting"

    def __init__(self, levels: tuple[int, ...] = (50, 100, 150, 200)) -> None:
        self.levels = levels
        self.calls = 0

    def params(self) -> dict[str, Any]:
        return {"levels": list(self.levels)}

    def generate(self, image: np.ndarray) -> MaskSet:
        self.calls += 1
        levels = [t for t in self.levels if (image > t).any()]
        return MaskSet.from_masks([image > t for t in levels], [t / 255 for t in levels], shape=image.shape[:2])


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (37, 53), dtype=np.uint8)  # odd width: bit packing pads


def test_round_trip_is_exact_and_compact(tmp_path: Path, image: np.ndarray) -> None:
    cache = MaskCache(tmp_path)
    p = Counting()
    masks, hit = cache.get_or_compute(image, p)
    assert not hit and p.calls == 1
    again, hit = cache.get_or_compute(image, p)
    assert hit and p.calls == 1
    assert np.array_equal(again.masks, masks.masks) and np.array_equal(again.scores, masks.scores)
    path = cache.path(image, p)
    assert path.parent.name == provider_key(p) and path.stem == image_hash(image)
    with np.load(path, allow_pickle=False) as data:
        assert data["packed"].shape == (4, 37, 7) and data["packed"].dtype == np.uint8
        meta = json.loads(str(data["meta"]))
    assert meta["provider"] == "counting" and meta["params"] == {"levels": [50, 100, 150, 200]}
    assert json.loads((path.parent / "provider.json").read_text())["params"] == meta["params"]
    assert not list(tmp_path.rglob("*.tmp"))  # atomic writes leave no temporary files


def test_parameter_or_image_change_misses(tmp_path: Path, image: np.ndarray) -> None:
    cache = MaskCache(tmp_path)
    cache.get_or_compute(image, Counting())
    other = Counting((50, 100, 150, 201))
    assert cache.get(image, other) is None
    _, hit = cache.get_or_compute(image, other)
    assert not hit and other.calls == 1
    changed = image.copy()
    changed[0, 0] ^= 1
    assert cache.get(changed, Counting()) is None
    assert cache.get(image.astype(np.uint16), Counting()) is None  # same values, other dtype
    # real providers: a parameter change gives another key, the same parameters the same key
    assert provider_key(get_provider("regions")) == provider_key(get_provider("regions"))
    assert provider_key(get_provider("regions")) != provider_key(get_provider("regions", merge_threshold=9.0))
    assert provider_key(get_provider("thermal")) != provider_key(get_provider("thermal", k_low=3.0))


def test_top_k_limit(tmp_path: Path, image: np.ndarray) -> None:
    cache = MaskCache(tmp_path)
    p = Counting()
    masks, _ = cache.get_or_compute(image, p, top_k=2)
    assert len(masks) == 2
    assert len(cache.get(image, p, top_k=1)) == 1
    assert cache.get(image, p, top_k=3) is None  # only 2 of 4 stored
    assert cache.get(image, p) is None
    few = Counting((100,))
    cache.get_or_compute(image, few, top_k=20)
    assert len(cache.get(image, few)) == 1  # all masks fit under the limit: complete


def test_corrupt_entry_is_a_miss(tmp_path: Path, image: np.ndarray) -> None:
    cache = MaskCache(tmp_path)
    p = Counting()
    cache.get_or_compute(image, p)
    cache.path(image, p).write_bytes(b"not a zip file")
    assert cache.get(image, p) is None
    masks, hit = cache.get_or_compute(image, p)
    assert not hit and len(masks) == 4 and cache.get(image, p) is not None


def test_empty_mask_set_round_trip(tmp_path: Path) -> None:
    cache = MaskCache(tmp_path)
    p = Counting((255,))  # nothing is > 255
    img = np.zeros((5, 6), np.uint8)
    masks, _ = cache.get_or_compute(img, p)
    assert len(masks) == 0 and masks.shape == (5, 6)
    got = cache.get(img, p)
    assert got is not None and got.masks.shape == (0, 5, 6)
