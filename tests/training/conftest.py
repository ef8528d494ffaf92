"""Four real training pairs of ``train`` (two RoadScene JPEGs, one of them 161 rows high, two MSRS-train PNGs),
linked into IR and VIS folders, for the training-loop tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared_paths import DATASETS

PAIRS = [
    ("RoadScene", "FLIR_00006.jpg"),
    ("RoadScene", "FLIR_06974.jpg"),  # 597x161: smaller than a 192-row crop
    ("MSRS/train", "00001D.png"),
    ("MSRS/train", "01023N.png"),
]


@pytest.fixture(scope="session")
def pair_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("train_pairs")
    for side in ("ir", "vi"):
        (root / side).mkdir()
        for folder, name in PAIRS:
            (root / side / name).symlink_to(DATASETS / folder / side / name)
    return root / "ir", root / "vi"
