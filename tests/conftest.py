"""Shared fixtures. Paths to the read-only ``shared/`` folder live in ``shared_paths.py`` (importable by tests)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as samfuse does, in case a test imports torch first

import pytest  # noqa: E402

from shared_paths import DATASETS, SHARED  # noqa: E402


@pytest.fixture(scope="session")
def shared() -> Path:
    return SHARED


@pytest.fixture(scope="session")
def datasets() -> Path:
    return DATASETS
