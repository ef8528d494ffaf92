"""Named datasets over ``shared/datasets``, the manifest check, and (loaded on first use, they need torch)
the training dataset ``TrainingPairs`` and its mask helpers ``CachedMasks``, ``TopKPairs``, ``ModalityMasks``."""

from typing import Any

from samfuse.data.datasets import (
    DATASETS,
    TRAINING_SET,
    Dataset,
    DatasetSpec,
    get_dataset,
    list_datasets,
    resolve_root,
)
from samfuse.data.manifest import ManifestProblem, check_manifest

__all__ = [
    "DATASETS",
    "TRAINING_SET",
    "Dataset",
    "DatasetSpec",
    "ManifestProblem",
    "check_manifest",
    "get_dataset",
    "list_datasets",
    "resolve_root",
    "TrainingPairs",
    "CachedMasks",
    "TopKPairs",
    "ModalityMasks",
]

_LAZY = {
    "TrainingPairs": "samfuse.data.training",
    "CachedMasks": "samfuse.data.masks",
    "TopKPairs": "samfuse.data.masks",
    "ModalityMasks": "samfuse.data.masks",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'samfuse.data' has no attribute {name!r}")
