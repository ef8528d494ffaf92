"""The 168-image reference sweeps, computed once per session (2 processes) and shared by the reference tests."""

from __future__ import annotations

import pytest

from samfuse.metrics.reference import sweep
from shared_paths import REFERENCE


@pytest.fixture(scope="session")
def vifb_sweep() -> tuple[list[dict[str, str]], list[dict[str, float]]]:
    """(reference rows, our values) for all 168 rows of the VIFB MATLAB CSV."""
    return sweep(REFERENCE, "vifb", jobs=2)


@pytest.fixture(scope="session")
def cddfuse_sweep() -> tuple[list[dict[str, str]], list[dict[str, float]]]:
    """(reference rows, our values) for all 168 rows of the CDDFuse evaluator CSV."""
    return sweep(REFERENCE, "cddfuse", jobs=2)
