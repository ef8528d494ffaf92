"""The default method of ``samfuse fuse`` is the one the rank-sum rule (``samfuse.selection``) picks on the recorded
validation table (``benchmarks/results/validation.json``, made by ``benchmarks/validation.py`` on
``msrs-val-128``) among the default candidates: re-checked here, so a new table or new weights that change the
winner fail this test until the default follows."""

from __future__ import annotations

import json
from pathlib import Path

from samfuse.batch import DEFAULT_METHOD
from samfuse.selection import HEADLINE, best, default_candidates

TABLE = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "validation.json"


def test_default_method_is_the_validation_winner() -> None:
    record = json.loads(TABLE.read_text())
    assert record["data"] == "msrs-val-128"  # chosen on validation, never on the msrs test set
    candidates = default_candidates()
    missing = set(candidates) - set(record["rows"])
    assert not missing, f"candidates not in the validation table: {sorted(missing)}"
    rows = {k: record["rows"][k] for k in candidates}
    assert all(len(r) and all(m in r for m in HEADLINE) for r in rows.values())
    assert best(rows) == DEFAULT_METHOD


def test_api_pipeline_and_fuser_use_the_same_default() -> None:
    import inspect

    import samfuse
    from samfuse.pipeline import FusionPipeline

    assert inspect.signature(samfuse.fuse).parameters["method"].default == DEFAULT_METHOD
    assert inspect.signature(FusionPipeline).parameters["method"].default == DEFAULT_METHOD
    assert inspect.signature(samfuse.Fuser).parameters["method"].default == DEFAULT_METHOD
