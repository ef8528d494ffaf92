"""Shared fixtures. Paths to the read-only ``shared/`` folder live in ``shared_paths.py`` (importable by tests)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as samfuse does, in case a test imports torch first
# fuse, eval and masks take their shard from a launcher's or scheduler's variables (samfuse.shard): the tests run
# unsharded wherever they run (tests/cli/test_shard.py sets them where it means to)
for _name in ("RANK", "WORLD_SIZE", "SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX", "SAMFUSE_SHARD_COUNT"):
    os.environ.pop(_name, None)

import pytest  # noqa: E402

from shared_paths import DATASETS, SHARED  # noqa: E402


@pytest.fixture(scope="session")
def shared() -> Path:
    return SHARED


@pytest.fixture(scope="session")
def datasets() -> Path:
    return DATASETS
