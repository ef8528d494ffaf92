"""Named datasets: registered pairs under one data root (by default ``shared/datasets`` beside the repo).

The root is, in order: the ``root`` argument (CLI ``--data-root``), ``$SAMFUSE_DATA_ROOT``, then the first of
``./shared/datasets`` and ``../shared/datasets`` (relative to the working directory) and the ``shared/datasets``
folder beside this source checkout that exists.

Everything that trains uses ``train`` (= ``roadscene`` + ``msrs-train``); benchmarks report on the others, with
``msrs`` (the 106 MSRS test pairs) the headline evaluation set. For the medical sets the structural image (MRI)
is the "IR" side and the functional image (PET/SPECT) or CT the "visible" side.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from samfuse.io import InputError, Pair, find_pairs

ENV_ROOT = "SAMFUSE_DATA_ROOT"


@dataclass(frozen=True)
class DatasetSpec:
    """Where one set lives under the root: ``folder/ir_dir`` and ``folder/vi_dir``."""

    name: str
    folder: str
    ir_dir: str
    vi_dir: str
    description: str


DATASETS: dict[str, DatasetSpec] = {
    s.name: s
    for s in (
        DatasetSpec("msrs", "MSRS", "ir", "vi", "MSRS test subset, 106 pairs 640×480 (headline evaluation set)"),
        DatasetSpec("msrs-train", "MSRS", "train/ir", "train/vi", "MSRS training pairs, 5 pairs 640×480"),
        DatasetSpec("roadscene", "RoadScene", "ir", "vi", "RoadScene (FLIR), 221 JPEG pairs, odd sizes"),
        DatasetSpec("tno", "TNO", "ir", "vi", "TNO, 13 grey pairs (CDDFuse selection)"),
        DatasetSpec("m3fd", "M3FD", "ir", "vi", "M3FD, 8 pairs 1024×768"),
        DatasetSpec("llvip", "LLVIP", "ir", "vi", "LLVIP, 6 night pairs 1280×1024 JPEG"),
        DatasetSpec("mri-pet", "MRI_PET", "mri", "pet", "MRI (IR slot) + PET (visible slot), 42 pairs 256×256"),
        DatasetSpec("mri-spect", "MRI_SPECT", "mri", "spect", "MRI + SPECT, 37 pairs 256×256"),
        DatasetSpec("mri-ct", "MRI_CT", "mri", "ct", "MRI + CT (grey), 11 pairs 256×256"),
    )
}

#: The training set: every trainer uses it.
TRAINING_SET: dict[str, tuple[str, ...]] = {"train": ("roadscene", "msrs-train")}


@dataclass
class Dataset:
    """A named list of pairs; ``members`` names the sets it is made of."""

    name: str
    root: Path
    pairs: list[Pair]
    members: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.pairs)


def _candidate_roots() -> list[Path]:
    here = Path(__file__).resolve()
    return [Path("shared/datasets"), Path("../shared/datasets")] + [
        p / "shared" / "datasets" for p in here.parents[3:5]
    ]


def resolve_root(root: str | Path | None = None) -> Path:
    """The data root (see the module docstring); :class:`InputError` if none exists."""
    if root is not None:
        path = Path(root)
        if not path.is_dir():
            raise InputError(f"{path}: data root is not a folder")
        return path
    env = os.environ.get(ENV_ROOT)
    if env:
        path = Path(env)
        if not path.is_dir():
            raise InputError(f"{path}: ${ENV_ROOT} is not a folder")
        return path
    for cand in _candidate_roots():
        if cand.is_dir():
            return cand
    raise InputError(f"no data root found: pass --data-root or set ${ENV_ROOT} to the datasets folder")


def list_datasets() -> dict[str, str]:
    """Dataset names → descriptions (the training set included)."""
    names = {n: s.description for n, s in DATASETS.items()}
    for name, members in TRAINING_SET.items():
        names[name] = "training set = " + " + ".join(members)
    return names


def get_dataset(name: str, root: str | Path | None = None) -> Dataset:
    """The pairs of a named dataset (see :data:`DATASETS` and :data:`TRAINING_SET`)."""
    base = resolve_root(root)
    if name in TRAINING_SET:
        members = TRAINING_SET[name]
        pairs = [p for m in members for p in get_dataset(m, base).pairs]
        return Dataset(name, base, pairs, members)
    if name not in DATASETS:
        raise InputError(f"unknown dataset {name!r} (known: {', '.join(list_datasets())})")
    spec = DATASETS[name]
    folder = base / spec.folder
    pairs = find_pairs(folder / spec.ir_dir, folder / spec.vi_dir).pairs
    return Dataset(name, base, pairs, (name,))
