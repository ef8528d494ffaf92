"""Named datasets: registered pairs under one data root (by default ``shared/datasets`` beside the repo).

The root is, in order: the ``root`` argument (CLI ``--data-root``), ``$SAMFUSE_DATA_ROOT``, then the first of
``./shared/datasets`` and ``../shared/datasets`` (relative to the working directory) and the ``shared/datasets``
folder beside this source checkout that exists.

Training sets: ``train`` (= ``roadscene`` + ``msrs-train``, the original set), ``msrs-train-128`` (the whole MSRS
training split at 128×128, less the validation pairs), and ``train-all`` (both). ``msrs-val-128`` is the held-out
validation split of the MSRS training split (80 pairs, 40 day + 40 night) that no training set contains: every
recipe, step count or shipped weight is chosen on it, never on ``msrs`` (the 106 MSRS test pairs), which is the
headline evaluation set and is only used for the final tables.

The 128×128 sets are 640×480 originals squashed by a Lanczos resize; their pairs carry ``size = (171, 128)``
(:attr:`samfuse.io.Pair.size`) and training and validation read them back at that 4:3 geometry (bicubic).
For the medical sets the structural image (MRI) is the "IR" side and the functional image (PET/SPECT) or CT
the "visible" side.
"""

from __future__ import annotations

import dataclasses
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
    #: read the images back at this (w, h) (None = as stored)
    read_size: tuple[int, int] | None = None
    #: "all", or which side of the validation split (:func:`validation_stems`): "train" or "val"
    split: str = "all"


#: pairs of the MSRS training split held out for validation: this many day ("D") and night ("N") stems each
VALIDATION_PER_KIND = 40
#: never validation: the five pairs that ``msrs-train`` (and so ``train``) holds at full size
NOT_VALIDATION = frozenset({"00001D", "00556D", "00633D", "00881N", "01023N"})


def validation_stems(stems: list[str], per_kind: int = VALIDATION_PER_KIND) -> set[str]:
    """The held-out validation stems of the MSRS training split: ``per_kind`` day (``…D``) and ``per_kind`` night
    (``…N``) stems, evenly spaced over each kind's sorted list (deterministic, no random state), none of
    :data:`NOT_VALIDATION`."""
    import numpy as np

    chosen: set[str] = set()
    for kind in ("D", "N"):
        group = sorted(s for s in stems if s.endswith(kind) and s not in NOT_VALIDATION)
        if group:
            idx = np.linspace(0, len(group) - 1, min(per_kind, len(group))).round().astype(int)
            chosen |= {group[i] for i in idx}
    return chosen


DATASETS: dict[str, DatasetSpec] = {
    s.name: s
    for s in (
        DatasetSpec("msrs", "MSRS", "ir", "vi", "MSRS test subset, 106 pairs 640×480 (headline evaluation set)"),
        DatasetSpec("msrs-train", "MSRS", "train/ir", "train/vi", "MSRS training pairs, 5 pairs 640×480"),
        DatasetSpec(
            "msrs-train-128",
            "MSRS-train-128",
            "ir",
            "vi",
            "MSRS training split at 128×128 less the validation pairs: 1,003 pairs, read at 171×128",
            read_size=(171, 128),
            split="train",
        ),
        DatasetSpec(
            "msrs-val-128",
            "MSRS-train-128",
            "ir",
            "vi",
            "validation: 80 held-out pairs (40 day, 40 night) of the MSRS training split, read at 171×128",
            read_size=(171, 128),
            split="val",
        ),
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
TRAINING_SET: dict[str, tuple[str, ...]] = {
    "train": ("roadscene", "msrs-train"),
    "train-all": ("roadscene", "msrs-train-128"),
}


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
    if spec.split != "all":
        val = validation_stems([p.stem for p in pairs])
        pairs = [p for p in pairs if (p.stem in val) == (spec.split == "val")]
    if spec.read_size is not None:
        pairs = [dataclasses.replace(p, size=spec.read_size) for p in pairs]
    return Dataset(name, base, pairs, (name,))
