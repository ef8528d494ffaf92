"""On-disk mask cache: masks are computed once per (image, provider, model, parameters) and reused.

Layout under ``root``::

    root/<provider>-<model>-<h12>/provider.json      what the folder holds (provider, model, parameters, version)
    root/<provider>-<model>-<h12>/<image sha256>.npz one file per image

``h12`` = the first 12 hex digits of sha256 over the JSON of ``{format, provider, model, params}`` (sorted
keys), so any parameter change selects another folder: a miss, never a stale hit.  The provider's ``version`` (bumped
when its algorithm changes) is not in the folder name but in ``provider.json`` and in every entry, which is the
folder's provenance record (:mod:`samfuse.io.provenance`): entries made by another version are recomputed, and the
first time a cache folder is found to hold them one :class:`StaleMasksWarning` says so.  The image key is the
sha256 of the decoded pixels (dtype, shape and bytes), so renaming or re-encoding a file losslessly keeps
its masks.

File format (``numpy.savez_compressed``, read with ``allow_pickle=False``):
``packed`` = ``np.packbits(masks, axis=-1)``, (N, H, ⌈W/8⌉) uint8 (bit-packed, then deflated);
``shape`` = (N, H, W) int64; ``scores`` = (N,) float32; ``meta`` = a JSON string with the provider, model,
parameters, version (absent in entries written before versions existed: version 1), image sha256, ``limit``
(how many of the largest masks were kept, −1 = all) and ``total`` (how many the provider found).  Writes are
atomic (temporary file in the same folder + ``os.replace``), so an interrupted run never leaves a truncated entry.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from samfuse.io.errors import InputError
from samfuse.io.provenance import describe_difference, first_difference, read_record, write_record
from samfuse.io.writing import atomic_write

from .base import MaskProvider, MaskSet

__all__ = ["MaskCache", "StaleMasksWarning", "image_hash", "provider_key"]

FORMAT = 1


class StaleMasksWarning(UserWarning):
    """A mask cache folder holds masks made by another version of the provider (recomputed); said once."""


def provider_record(provider: MaskProvider) -> dict[str, Any]:
    """What a cache folder's masks depend on (``provider.json``): format, provider, model, parameters, version."""
    return {
        "format": FORMAT,
        "provider": provider.name,
        "model": provider.model,
        "params": provider.params(),
        "version": provider.version,
    }


def image_hash(image: np.ndarray) -> str:
    """sha256 (hex) of an image's decoded content: ``"<dtype>|<shape>|"`` followed by its C-order bytes."""
    arr = np.ascontiguousarray(image)
    h = hashlib.sha256(f"{arr.dtype.str}|{arr.shape}|".encode())
    h.update(arr.tobytes())
    return h.hexdigest()


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._" else "_" for c in text) or "none"


def provider_key(provider: MaskProvider) -> str:
    """Folder name ``<provider>-<model>-<h12>`` for a provider instance (see the module docstring)."""
    spec = {"format": FORMAT, "provider": provider.name, "model": provider.model, "params": provider.params()}
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
    model = provider.model.split(":")[0] if provider.model else "none"
    return f"{_safe(provider.name)}-{_safe(model)}-{digest}"


class MaskCache:
    """Masks on disk under ``root`` (see the module docstring for the layout and format)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.hits = 0
        self.misses = 0
        self._checked: set[Path] = set()

    def _check_folder(self, provider: MaskProvider) -> None:
        """Compare the folder's ``provider.json`` with ``provider`` once; one warning when it was made by another
        version (its entries are then recomputed one by one, see :meth:`get`), and the record brought up to date."""
        folder = self.folder(provider)
        if folder in self._checked:
            return
        self._checked.add(folder)
        now = json.loads(json.dumps(provider_record(provider), sort_keys=True))
        try:
            stored = read_record(folder / "provider.json")
        except InputError:
            stored = None
        if stored is None:
            return
        stored.setdefault("version", 1)
        diff = first_difference(stored, now)
        if diff is not None:
            warnings.warn(
                f"mask cache {folder}: its masks were made with {describe_difference(diff)}; they are computed "
                "again as they are needed",
                StaleMasksWarning,
                stacklevel=3,
            )
            write_record(folder / "provider.json", now)

    def folder(self, provider: MaskProvider) -> Path:
        return self.root / provider_key(provider)

    def path(self, image: np.ndarray | str, provider: MaskProvider) -> Path:
        """File of ``image`` (an array, or its :func:`image_hash`) for ``provider``."""
        key = image if isinstance(image, str) else image_hash(image)
        return self.folder(provider) / f"{key}.npz"

    def get(self, image: np.ndarray | str, provider: MaskProvider, top_k: int | None = None) -> MaskSet | None:
        """Cached masks (the ``top_k`` largest, all when None), or None on a miss.

        An entry that kept only its ``limit`` largest masks serves a request for ``top_k ≤ limit``, or any
        request when the provider found no more than ``limit``.  An unreadable entry is a miss.
        """
        path = self.path(image, provider)
        self._check_folder(provider)
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                if int(meta.get("version", 1)) != provider.version:  # made by another version: recomputed
                    self.misses += 1
                    return None
                n, h, w = (int(v) for v in data["shape"])
                limit, total = int(meta["limit"]), int(meta["total"])
                complete = limit < 0 or total <= limit
                if not complete and (top_k is None or top_k > limit):
                    self.misses += 1
                    return None
                masks = np.unpackbits(data["packed"], axis=-1, count=w).astype(bool).reshape(n, h, w)
                scores = data["scores"].astype(np.float32)
        except (OSError, ValueError, KeyError, json.JSONDecodeError):
            self.misses += 1
            return None
        self.hits += 1
        return MaskSet(masks, scores, total if total > n else None).top(top_k)

    def put(self, image: np.ndarray | str, provider: MaskProvider, masks: MaskSet, top_k: int | None = None) -> Path:
        """Store the ``top_k`` largest of ``masks`` (all when None) atomically; returns the file."""
        key = image if isinstance(image, str) else image_hash(image)
        path = self.path(key, provider)
        kept = masks.top(top_k)
        meta = {
            "format": FORMAT,
            "provider": provider.name,
            "model": provider.model,
            "params": provider.params(),
            "version": provider.version,
            "image_sha256": key,
            "limit": -1 if top_k is None else int(top_k),
            "total": masks.found,
        }
        info = self.folder(provider) / "provider.json"
        if not info.exists():
            write_record(info, provider_record(provider))
        n, h, w = len(kept), *kept.shape
        arrays = {
            "packed": np.packbits(kept.masks, axis=-1),
            "shape": np.array([n, h, w], dtype=np.int64),
            "scores": kept.scores.astype(np.float32),
            "meta": np.array(json.dumps(meta, sort_keys=True)),
        }
        atomic_write(path, lambda f: np.savez_compressed(f, **arrays))
        return path

    def get_or_compute(
        self, image: np.ndarray, provider: MaskProvider, top_k: int | None = None
    ) -> tuple[MaskSet, bool]:
        """``(masks, was_cached)``: from the cache, or computed by ``provider`` and stored."""
        key = image_hash(image)
        cached = self.get(key, provider, top_k)
        if cached is not None:
            return cached, True
        masks = provider.generate_top(image, top_k)
        self.put(key, provider, masks, top_k)
        return masks.top(top_k), False
