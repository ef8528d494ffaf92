"""Named datasets and the manifest check."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from samfuse.cli.main import main
from samfuse.data import check_manifest, get_dataset, list_datasets, resolve_root
from samfuse.io import InputError
from shared_paths import DATASETS

COUNTS = {
    "msrs": 106,
    "msrs-train": 5,
    "roadscene": 221,
    "tno": 13,
    "m3fd": 8,
    "llvip": 6,
    "mri-pet": 42,
    "mri-spect": 37,
    "mri-ct": 11,
    "train": 226,
    "msrs-train-128": 1003,
    "msrs-val-128": 80,
    "train-all": 1224,
}


@pytest.mark.parametrize(("name", "count"), sorted(COUNTS.items()))
def test_dataset_pair_counts(name: str, count: int) -> None:
    ds = get_dataset(name, DATASETS)
    assert len(ds) == count
    assert all(p.ir.is_file() and p.vi.is_file() and p.ir.stem == p.vi.stem for p in ds.pairs)


def test_every_name_is_listed() -> None:
    assert set(list_datasets()) == set(COUNTS)


def test_training_set_is_roadscene_plus_msrs_train() -> None:
    train = get_dataset("train", DATASETS)
    assert train.members == ("roadscene", "msrs-train")
    stems = {p.stem for p in train.pairs}
    assert {"00001D", "FLIR_00006"} <= stems and "00004N" not in stems  # no MSRS test pair leaks in


def test_medical_slots_mri_is_ir() -> None:
    pair = get_dataset("mri-pet", DATASETS).pairs[0]
    assert pair.ir.parent.name == "mri" and pair.vi.parent.name == "pet"


def test_root_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SAMFUSE_DATA_ROOT", str(DATASETS))
    assert resolve_root() == DATASETS
    monkeypatch.setenv("SAMFUSE_DATA_ROOT", str(tmp_path / "nope"))
    with pytest.raises(InputError, match="SAMFUSE_DATA_ROOT"):
        resolve_root()


def test_unknown_dataset() -> None:
    with pytest.raises(InputError, match="unknown dataset"):
        get_dataset("imagenet", DATASETS)


def test_manifest_check_passes_on_the_real_files() -> None:
    checked, problems = check_manifest(DATASETS, ["tno", "mri-ct"])
    assert checked == 2 * 13 + 2 * 11 and problems == []


def test_manifest_check_finds_changed_and_missing_files(tmp_path: Path) -> None:
    root = tmp_path / "datasets"
    shutil.copytree(DATASETS / "MRI_CT", root / "MRI_CT")
    shutil.copy(DATASETS / "manifest.csv", root / "manifest.csv")
    victim = root / "MRI_CT/ct/11.png"
    data = bytearray(victim.read_bytes())
    data[-20] ^= 0xFF
    victim.write_bytes(bytes(data))
    (root / "MRI_CT/mri/13.png").unlink()
    checked, problems = check_manifest(root, ["mri-ct"])
    assert checked == 22
    reasons = {p.path.name + ":" + p.path.parent.name: p.reason for p in problems}
    assert reasons == {"11.png:ct": "sha256 differs from the manifest", "13.png:mri": "missing"}
    result = CliRunner().invoke(main, ["data", "check", "--data-root", str(root), "mri-ct"])
    assert result.exit_code == 1 and "20 files ok, 2 failed" in result.stderr


def test_data_list_command() -> None:
    result = CliRunner().invoke(main, ["data", "list", "--data-root", str(DATASETS)])
    assert result.exit_code == 0
    assert any(ln.split()[:2] == ["msrs", "106"] for ln in result.stdout.splitlines())
