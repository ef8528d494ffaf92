"""Pairing by stem: mixed extensions, unpaired files, empty folders, single files."""

from __future__ import annotations

from pathlib import Path

import pytest

from samfuse.io import InputError, find_pairs, list_images
from shared_paths import DATASETS


def touch(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        (folder / n).write_bytes(b"x")


def test_pairs_by_stem_with_mixed_extensions(tmp_path: Path) -> None:
    touch(tmp_path / "ir", "a.png", "b.tif", "c.BMP", "d.tiff", "only_ir.png", "Thumbs.db", ".hidden.png")
    touch(tmp_path / "vi", "a.jpg", "b.jpeg", "c.png", "d.JPG", "only_vi.jpg", "notes.txt")
    found = find_pairs(tmp_path / "ir", tmp_path / "vi")
    assert [p.stem for p in found.pairs] == ["a", "b", "c", "d"]
    assert found.pairs[1].ir.name == "b.tif" and found.pairs[1].vi.name == "b.jpeg"
    assert sorted(p.name for p in found.unpaired) == ["only_ir.png", "only_vi.jpg"]


def test_duplicate_stem_is_reported_not_guessed(tmp_path: Path) -> None:
    touch(tmp_path / "ir", "a.png", "a.jpg", "b.png")
    touch(tmp_path / "vi", "a.png", "b.png")
    found = find_pairs(tmp_path / "ir", tmp_path / "vi")
    assert [p.stem for p in found.pairs] == ["a", "b"]
    assert found.unpaired == [] and [p.name for p in found.ignored] == ["a.png"]  # the second 'a' is left out
    ir = tmp_path / "ir"
    assert found.warnings == [f"{ir}/a.jpg, {ir}/a.png share the stem 'a': using {ir}/a.jpg, ignoring {ir}/a.png"]


def test_no_pair_is_an_error(tmp_path: Path) -> None:
    touch(tmp_path / "ir", "a.png")
    touch(tmp_path / "vi", "b.png")
    with pytest.raises(InputError, match="no pair found"):
        find_pairs(tmp_path / "ir", tmp_path / "vi")


def test_empty_folders_are_an_error(tmp_path: Path) -> None:
    (tmp_path / "ir").mkdir()
    (tmp_path / "vi").mkdir()
    with pytest.raises(InputError, match="0 IR and 0 visible"):
        find_pairs(tmp_path / "ir", tmp_path / "vi")


def test_missing_folder_and_mixed_file_folder(tmp_path: Path) -> None:
    touch(tmp_path / "ir", "a.png")
    with pytest.raises(InputError, match="no such file or folder"):
        find_pairs(tmp_path / "ir", tmp_path / "nope")
    with pytest.raises(InputError, match="two folders or two files"):
        find_pairs(tmp_path / "ir" / "a.png", tmp_path / "ir")


def test_single_files_form_one_pair() -> None:
    found = find_pairs(DATASETS / "TNO/ir/01.png", DATASETS / "TNO/vi/01.png")
    assert len(found) == 1 and found.pairs[0].stem == "01"


@pytest.mark.parametrize(("folder", "count"), [("MSRS", 106), ("RoadScene", 221), ("TNO", 13), ("LLVIP", 6)])
def test_real_dataset_folders_pair_completely(folder: str, count: int) -> None:
    found = find_pairs(DATASETS / folder / "ir", DATASETS / folder / "vi")
    assert len(found) == count and not found.unpaired


def test_list_images_filters_and_sorts(tmp_path: Path) -> None:
    touch(tmp_path, "b.png", "a.JPG", "c.txt", "Thumbs.db")
    assert [p.name for p in list_images(tmp_path)] == ["a.JPG", "b.png"]
    with pytest.raises(InputError, match="not a folder"):
        list_images(tmp_path / "b.png")
