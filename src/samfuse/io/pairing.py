"""Pairing infrared and visible files by file stem.

``find_pairs(ir, vi)`` takes two folders (files matched by stem, extensions may differ) or two files (one
pair). For medical data the structural image (MRI) goes in the IR slot and the functional colour image
(PET/SPECT) in the visible slot, as the SAGE and SGDFuse papers do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from samfuse.io.errors import InputError
from samfuse.io.reading import IMAGE_EXTENSIONS


@dataclass(frozen=True)
class Pair:
    """One registered pair: ``stem`` names it; ``ir`` and ``vi`` are the two files."""

    stem: str
    ir: Path
    vi: Path


@dataclass
class PairSet:
    """The pairs found, sorted by stem, and the files that had no partner."""

    pairs: list[Pair]
    unpaired: list[Path] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.pairs)

    def __iter__(self):
        return iter(self.pairs)


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly in ``folder`` (by extension, case-insensitive), sorted by name.

    Hidden files and non-image files (``Thumbs.db``, ``.txt``) are ignored. Raises :class:`InputError` if the
    folder does not exist.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder")
    files = [
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
    ]
    return sorted(files, key=lambda p: (p.stem, p.suffix))


def _by_stem(files: list[Path]) -> tuple[dict[str, Path], list[Path]]:
    """Index files by stem; a stem present twice (``a.png`` and ``a.jpg``) is ambiguous and reported."""
    index: dict[str, Path] = {}
    clashes: list[Path] = []
    for f in files:
        if f.stem in index:
            clashes.append(f)
        else:
            index[f.stem] = f
    return index, clashes


def find_pairs(ir: str | Path, vi: str | Path) -> PairSet:
    """Match IR and visible images by stem.

    * Two files: one pair, named after the IR file's stem.
    * Two folders: every stem present in both is a pair; files on one side only (or a second file with the
      same stem) are returned in ``unpaired``.

    Raises :class:`InputError` when a path is missing, when a file is paired with a folder, or when no pair
    is found.
    """
    ir, vi = Path(ir), Path(vi)
    for p in (ir, vi):
        if not p.exists():
            raise InputError(f"{p}: no such file or folder")
    if ir.is_file() and vi.is_file():
        return PairSet([Pair(ir.stem, ir, vi)])
    if ir.is_file() != vi.is_file():
        raise InputError(f"{ir} and {vi}: give two folders or two files, not one of each")
    ir_index, ir_clash = _by_stem(list_images(ir))
    vi_index, vi_clash = _by_stem(list_images(vi))
    stems = sorted(ir_index.keys() & vi_index.keys())
    pairs = [Pair(s, ir_index[s], vi_index[s]) for s in stems]
    unpaired = sorted(
        [p for s, p in ir_index.items() if s not in vi_index]
        + [p for s, p in vi_index.items() if s not in ir_index]
        + ir_clash
        + vi_clash
    )
    if not pairs:
        raise InputError(
            f"{ir} and {vi}: no pair found (no image stem is present in both folders; "
            f"{len(ir_index)} IR and {len(vi_index)} visible images)"
        )
    return PairSet(pairs, unpaired)
