"""Integrity check of the data root against ``manifest.csv`` (size and sha256 of every file)."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from samfuse.data.datasets import DATASETS, TRAINING_SET, resolve_root
from samfuse.io import InputError
from samfuse.io.digest import file_sha256


@dataclass(frozen=True)
class ManifestProblem:
    """One file that does not match: ``path`` and ``reason`` (missing, size, sha256)."""

    path: Path
    reason: str


def _sets_for(names: Iterable[str]) -> set[tuple[str, str]]:
    """(manifest set, modality) pairs covered by dataset names."""
    wanted: set[tuple[str, str]] = set()
    for name in names:
        for member in TRAINING_SET.get(name, (name,)):
            if member not in DATASETS:
                raise InputError(f"unknown dataset {member!r}")
            spec = DATASETS[member]
            wanted |= {(spec.folder, spec.ir_dir), (spec.folder, spec.vi_dir)}
    return wanted


def check_manifest(
    root: str | Path | None = None,
    names: Iterable[str] | None = None,
    progress: Callable[[Iterable], Iterable] = iter,
) -> tuple[int, list[ManifestProblem]]:
    """Hash the files listed in ``root/manifest.csv`` (only those of ``names`` when given).

    Returns (number of files checked, problems). Files not in the manifest (e.g. M3FD, documented as
    unlisted) are not checked.
    """
    base = resolve_root(root)
    manifest = base / "manifest.csv"
    if not manifest.is_file():
        raise InputError(f"{manifest}: no manifest in the data root")
    with open(manifest, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if names is not None:
        wanted = _sets_for(names)
        rows = [r for r in rows if (r["set"], r["modality"]) in wanted]
    problems: list[ManifestProblem] = []
    for row in progress(rows):
        path = base / row["set"] / row["modality"] / row["name"]
        if not path.is_file():
            problems.append(ManifestProblem(path, "missing"))
        elif path.stat().st_size != int(row["bytes"]):
            problems.append(ManifestProblem(path, f"size {path.stat().st_size} bytes, expected {row['bytes']}"))
        elif file_sha256(path) != row["sha256"]:
            problems.append(ManifestProblem(path, "sha256 differs from the manifest"))
    return len(rows), problems
