"""Pairing infrared and visible files by file stem.

``find_pairs(ir, vi)`` takes two folders (files matched by stem, extensions may differ) or two files (one
pair). Nothing is chosen silently: files without a partner, a second file with a stem already seen (``a.png``
beside ``a.jpg``: the first by name is used), a folder or broken symbolic link named like an image, and the same
folder given for both sides each give one line in :attr:`PairSet.warnings`.

For medical data the structural image (MRI) goes in the IR slot and the functional colour image (PET/SPECT) in
the visible slot, as the SAGE and SGDFuse papers do.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from samfuse.io.errors import InputError
from samfuse.io.reading import IMAGE_EXTENSIONS


@dataclass(frozen=True)
class Pair:
    """One registered pair: ``stem`` names it; ``ir`` and ``vi`` are the two files. ``size`` (w, h), when set,
    is the geometry a dataset asks its readers to restore (e.g. ``msrs-train-128``'s 640×480 originals were
    squashed to 128×128 and are read back at 171×128); None = as stored."""

    stem: str
    ir: Path
    vi: Path
    size: tuple[int, int] | None = None


@dataclass
class PairSet:
    """The pairs found, sorted by stem; the files that had no partner; the files left out for another reason
    (a second file with the same stem); and one-line ``warnings`` for everything not paired (partner warning
    included), fit to print as they are."""

    pairs: list[Pair]
    unpaired: list[Path] = field(default_factory=list)
    ignored: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.pairs)

    def __iter__(self):
        return iter(self.pairs)

    @property
    def warnings(self) -> list[str]:
        """One line per problem: the partner warning first (naming the files), then the other notes."""
        lines = []
        if self.unpaired:
            names = ", ".join(str(p) for p in self.unpaired)
            lines.append(f"{len(self.unpaired)} file(s) without a partner, skipped: {names}")
        return lines + self.notes


@dataclass
class ImageScan:
    """The image files of a folder, and one-line notes on entries named like images that are not files."""

    files: list[Path]
    notes: list[str] = field(default_factory=list)


def scan_images(folder: str | Path) -> ImageScan:
    """:func:`list_images` plus a note for each folder or broken symbolic link named like an image (ignored).

    Raises :class:`InputError` if the folder does not exist.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder")
    files: list[Path] = []
    notes: list[str] = []
    for p in folder.iterdir():
        if p.name.startswith(".") or p.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        if p.is_file():
            files.append(p)
        elif p.is_symlink() and not p.exists():
            notes.append(f"{p}: a broken symbolic link named like an image, ignored")
        elif p.is_dir():
            notes.append(f"{p}: a folder named like an image, ignored")
        else:
            notes.append(f"{p}: not a regular file, ignored")
    return ImageScan(sorted(files, key=lambda p: (p.stem, p.suffix)), sorted(notes))


def index_by_stem(files: list[Path]) -> tuple[dict[str, Path], list[Path], list[str]]:
    """Index files by stem. A stem present twice (``a.jpg`` and ``a.png``) keeps the first by name; the others
    are returned as ignored, with one note naming them all."""
    index: dict[str, Path] = {}
    ignored: dict[str, list[Path]] = {}
    for f in files:
        if f.stem in index:
            ignored.setdefault(f.stem, []).append(f)
        else:
            index[f.stem] = f
    notes = [
        f"{', '.join(str(p) for p in [index[stem], *others])} share the stem {stem!r}: using {index[stem]}, "
        f"ignoring {', '.join(str(p) for p in others)}"
        for stem, others in ignored.items()
    ]
    return index, [p for others in ignored.values() for p in others], notes


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly in ``folder`` (by extension, case-insensitive), sorted by name.

    Hidden files and non-image files (``Thumbs.db``, ``.txt``) are ignored. Raises :class:`InputError` if the
    folder does not exist.
    """
    return scan_images(folder).files


def find_pairs(ir: str | Path, vi: str | Path) -> PairSet:
    """Match IR and visible images by stem.

    * Two files: one pair, named after the IR file's stem.
    * Two folders: every stem present in both is a pair; files on one side only are returned in ``unpaired``, a
      second file with the same stem in ``ignored``; :attr:`PairSet.warnings` says so, one line each.

    Raises :class:`InputError` when a path is missing, when a file is paired with a folder, or when no pair
    is found.
    """
    ir, vi = Path(ir), Path(vi)
    for p in (ir, vi):
        if not p.exists():
            raise InputError(f"{p}: no such file or folder")
    same = os.path.samefile(ir, vi)
    if ir.is_file() and vi.is_file():
        notes = [f"{ir} and {vi} are the same file: it is paired with itself"] if same else []
        return PairSet([Pair(ir.stem, ir, vi)], notes=notes)
    if ir.is_file() != vi.is_file():
        raise InputError(f"{ir} and {vi}: give two folders or two files, not one of each")
    ir_scan, vi_scan = scan_images(ir), scan_images(vi)
    ir_index, ir_ignored, ir_notes = index_by_stem(ir_scan.files)
    vi_index, vi_ignored, vi_notes = index_by_stem(vi_scan.files)
    stems = sorted(ir_index.keys() & vi_index.keys())
    pairs = [Pair(s, ir_index[s], vi_index[s]) for s in stems]
    unpaired = sorted(
        [p for s, p in ir_index.items() if s not in vi_index] + [p for s, p in vi_index.items() if s not in ir_index]
    )
    notes = [f"{ir} and {vi} are the same folder: each image is paired with itself"] if same else []
    if same:  # one folder: its notes once
        notes += ir_scan.notes + ir_notes
    else:
        notes += ir_scan.notes + ir_notes + vi_scan.notes + vi_notes
    if not pairs:
        raise InputError(
            f"{ir} and {vi}: no pair found (no image stem is present in both folders; "
            f"{len(ir_index)} IR and {len(vi_index)} visible images)"
        )
    return PairSet(pairs, unpaired, sorted(ir_ignored + ([] if same else vi_ignored)), notes)
