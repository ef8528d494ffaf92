"""The mask-provider contract: one image in, binary masks sorted by area (largest first) out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from samfuse.io.bt601 import rgb_luma
from samfuse.io.writing import to_uint8

__all__ = [
    "MaskSet",
    "MaskProvider",
    "ProviderError",
    "as_uint8",
    "as_rgb_uint8",
    "as_grey_float",
    "WORKING_SIDE",
    "shrink_to",
    "grow_labels",
]

#: Longest side at which the weight-free providers segment (as SAM works at 1024 px); masks come back at the
#: image's own size. Bounds time and memory for large images (a 6000×4000 frame: see docs/semantics.md).
WORKING_SIDE = 1024


class ProviderError(Exception):
    """A provider cannot run (missing checkpoint, wrong model, no CUDA...); ``str(err)`` is one line."""


@dataclass(frozen=True, eq=False)
class MaskSet:
    """Binary masks of one image.

    ``masks``: (N, H, W) bool, sorted by area (pixel count), largest first; ties keep the provider's order.
    ``scores``: (N,) float32, the provider's confidence per mask, or NaN where it has none.
    ``total``: how many masks the provider found when only the largest were built (:meth:`MaskProvider.
    generate_top`); None means all of them are here (see :attr:`found`).
    """

    masks: np.ndarray
    scores: np.ndarray
    total: int | None = None

    def __post_init__(self) -> None:
        if self.masks.ndim != 3 or self.masks.dtype != np.bool_:
            raise ValueError(f"masks must be (N, H, W) bool, got {self.masks.shape} {self.masks.dtype}")
        if self.scores.shape != (self.masks.shape[0],):
            raise ValueError(f"scores must be ({self.masks.shape[0]},), got {self.scores.shape}")

    @classmethod
    def from_masks(
        cls,
        masks: Sequence[np.ndarray] | np.ndarray,
        scores: Sequence[float] | np.ndarray | None = None,
        shape: tuple[int, int] | None = None,
    ) -> MaskSet:
        """Build a set from any masks (non-zero = inside), sorting them by area, largest first (stable).

        ``shape`` (H, W) is needed only when ``masks`` is empty.
        """
        if len(masks) == 0:
            if shape is None:
                raise ValueError("shape is required for an empty mask set")
            return cls.empty(shape)
        arr = np.stack([np.asarray(m) != 0 for m in masks]) if not isinstance(masks, np.ndarray) else masks != 0
        sc = (
            np.full(arr.shape[0], np.nan, dtype=np.float32)
            if scores is None
            else np.asarray(scores, dtype=np.float32).reshape(-1)
        )
        area = arr.reshape(arr.shape[0], -1).sum(axis=1)
        order = np.argsort(-area, kind="stable")
        return cls(np.ascontiguousarray(arr[order]), sc[order])

    @classmethod
    def from_labels(
        cls, labels: np.ndarray, scores: dict[int, float] | None = None, limit: int | None = None
    ) -> MaskSet:
        """One mask per non-zero label of an (H, W) label map of non-negative integers, sorted by area (ties:
        smaller label first). With ``limit`` only the ``limit`` largest are built (:attr:`total` counts all), so
        memory is ``limit`` masks, not one per label."""
        counts = np.bincount(labels.ravel().astype(np.intp, copy=False))
        counts[0] = 0
        ids = np.flatnonzero(counts)
        if ids.size == 0:
            return cls.empty(labels.shape)
        ids = ids[np.argsort(-counts[ids], kind="stable")]
        total = int(ids.size)
        if limit is not None:
            ids = ids[:limit]
        masks = np.empty((ids.size, *labels.shape), dtype=bool)
        for i, label in enumerate(ids):
            np.equal(labels, label, out=masks[i])
        sc = np.full(ids.size, np.nan, dtype=np.float32)
        if scores is not None:
            sc[:] = [scores.get(int(i), np.nan) for i in ids]
        return cls(masks, sc, None if total == ids.size else total)

    @classmethod
    def empty(cls, shape: tuple[int, ...]) -> MaskSet:
        h, w = int(shape[0]), int(shape[1])
        return cls(np.zeros((0, h, w), dtype=bool), np.zeros(0, dtype=np.float32))

    @property
    def found(self) -> int:
        """How many masks the provider found (``len(self)`` unless only the largest were kept)."""
        return len(self) if self.total is None else self.total

    @property
    def shape(self) -> tuple[int, int]:
        """Image size (H, W)."""
        return int(self.masks.shape[1]), int(self.masks.shape[2])

    @property
    def areas(self) -> np.ndarray:
        """Pixel count of each mask, (N,) int64, non-increasing."""
        return self.masks.reshape(len(self), -1).sum(axis=1).astype(np.int64)

    def __len__(self) -> int:
        return int(self.masks.shape[0])

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self.masks)

    def __getitem__(self, index: Any) -> MaskSet | np.ndarray:
        """An int gives one (H, W) mask; a slice or index array gives a sub-set (order kept)."""
        if isinstance(index, int | np.integer):
            return self.masks[index]
        return MaskSet(self.masks[index], self.scores[index])

    def top(self, k: int | None) -> MaskSet:
        """The ``k`` largest masks (all when ``k`` is None); :attr:`found` is kept."""
        if k is None or k >= len(self):
            return self
        return MaskSet(self.masks[:k], self.scores[:k], self.found)

    def to_list(self) -> list[dict[str, Any]]:
        """``[{"segmentation": (H, W) bool, "area": int, "score": float}, ...]``, largest first."""
        return [
            {"segmentation": m, "area": int(a), "score": float(s)}
            for m, a, s in zip(self.masks, self.areas, self.scores, strict=True)
        ]


def as_uint8(image: np.ndarray) -> np.ndarray:
    """Any image to uint8, shape kept (:func:`samfuse.io.to_uint8`: uint16 ``round(x / 257)``, float
    ``round(255 · clip(x, 0, 1))``, bool ``{0, 255}``)."""
    return to_uint8(image)


def as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """HxW or HxWx{1,3} image -> HxWx3 uint8 (via :func:`as_uint8`; grey replicated to three channels)."""
    img = as_uint8(image)
    if img.ndim == 2:
        return np.ascontiguousarray(np.repeat(img[:, :, None], 3, axis=2))
    if img.ndim == 3 and img.shape[2] == 1:
        return np.ascontiguousarray(np.repeat(img, 3, axis=2))
    if img.ndim == 3 and img.shape[2] == 3:
        return np.ascontiguousarray(img)
    raise ValueError(f"expected an HxW or HxWx3 image, got shape {img.shape}")


def as_grey_float(image: np.ndarray) -> np.ndarray:
    """HxW or HxWx3 uint8 -> HxW float32 in [0, 1]; colour uses BT.601 luma (:func:`samfuse.io.bt601.rgb_luma`)."""
    img = as_rgb_uint8(image).astype(np.float32) / 255.0
    if np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 0], img[..., 2]):
        return img[..., 0].copy()
    return rgb_luma(img).astype(np.float32)


def shrink_to(image: np.ndarray, max_side: int) -> np.ndarray:
    """``image`` resized (area averaging) so that its longer side is at most ``max_side``; unchanged if it is."""
    import cv2

    h, w = image.shape[:2]
    if max(h, w) <= max_side:
        return image
    f = max_side / max(h, w)
    size = (max(1, round(w * f)), max(1, round(h * f)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def grow_labels(labels: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """An (h, w) int32 label map brought to ``shape[:2]`` by nearest-neighbour resizing (unchanged if equal)."""
    import cv2

    h, w = int(shape[0]), int(shape[1])
    if labels.shape == (h, w):
        return labels
    return cv2.resize(labels.astype(np.int32, copy=False), (w, h), interpolation=cv2.INTER_NEAREST)


class MaskProvider(ABC):
    """Maps one image (H×W or H×W×3 uint8) to a :class:`MaskSet`.

    Providers are pure: the same image and the same :meth:`params` give the same masks, which is what lets
    :class:`~samfuse.semantics.cache.MaskCache` key on ``(image hash, name, model, params)``.
    """

    name: ClassVar[str] = ""
    #: Bumped when the provider's masks change for the same :meth:`params` (a new algorithm): the mask cache
    #: records it and recomputes, with one note, what an older version made (:class:`~samfuse.semantics.MaskCache`).
    version: ClassVar[int] = 1

    @property
    def model(self) -> str:
        """Model identity for the cache key (e.g. ``"vit_t:<sha256>"``); empty for weight-free providers."""
        return ""

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """Every parameter that changes the output, as a JSON-serialisable dict."""

    @abstractmethod
    def generate(self, image: np.ndarray) -> MaskSet:
        """Compute the masks of ``image``."""

    def generate_top(self, image: np.ndarray, k: int | None) -> MaskSet:
        """The ``k`` largest masks of ``image`` (all when None), :attr:`MaskSet.found` counting all.

        The same masks as ``generate(image).top(k)``; providers override it to build only ``k`` full-size masks
        (a 6000×4000 mask is 24 MB).
        """
        return self.generate(image).top(k)

    def __call__(self, image: np.ndarray) -> MaskSet:
        return self.generate(image)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"
