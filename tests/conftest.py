"""Shared fixtures. Paths to the read-only ``shared/`` folder live in ``shared_paths.py`` (importable by tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared_paths import DATASETS, SHARED


@pytest.fixture(scope="session")
def shared() -> Path:
    return SHARED


@pytest.fixture(scope="session")
def datasets() -> Path:
    return DATASETS
