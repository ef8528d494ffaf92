"""Named datasets over ``shared/datasets`` and the manifest check."""

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
]
