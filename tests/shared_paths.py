"""Where the read-only ``shared/`` folder is: beside the repository (CI has it too), or ``$SAMFUSE_SHARED``."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SAMFUSE_SHARED", REPO.parent / "shared"))
DATASETS = SHARED / "datasets"
REFERENCE = SHARED / "reference"

if not DATASETS.is_dir():
    raise RuntimeError(f"{SHARED}: the shared data folder is missing (set SAMFUSE_SHARED)")
