"""Per-item outcome bookkeeping for batch commands (moved to :mod:`samfuse.batch`; kept here for imports)."""

from __future__ import annotations

from samfuse.batch import BatchReport

__all__ = ["BatchReport"]
