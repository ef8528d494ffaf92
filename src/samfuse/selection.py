"""How samfuse picks defaults from measured tables: the rank-sum rule over the 9 headline metrics.

The rule (docs/decisions.md, "Default method"): on the validation table (``benchmarks/results/validation.json``,
``msrs-val-128``, never the ``msrs`` test set), each candidate row gets, for each of the 9 metrics EN, SD, SF, AG,
MI, SCD, VIF, Qabf and SSIM (all higher-is-better in the cddfuse convention), its rank among the candidates
(1 = best, ties share the mean rank); the lowest sum of ranks wins, ties broken by the higher VIF.

:data:`DEFAULT_CANDIDATES` says which rows may become the default of ``samfuse fuse``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["HEADLINE", "rank_sums", "best", "at_or_above", "default_candidates"]

#: the 9 metrics every table of issue 24 reports (cddfuse convention, all higher-is-better)
HEADLINE = ("EN", "SD", "SF", "AG", "MI", "SCD", "VIF", "Qabf", "SSIM")


def rank_sums(rows: Mapping[str, Mapping[str, float]], metrics: tuple[str, ...] = HEADLINE) -> dict[str, float]:
    """Sum over ``metrics`` of each row's rank among ``rows`` (1 = the highest value; ties share the mean rank)."""
    from scipy.stats import rankdata

    labels = list(rows)
    total = np.zeros(len(labels))
    for m in metrics:
        total += rankdata(-np.array([rows[r][m] for r in labels], dtype=float))
    return dict(zip(labels, total.tolist(), strict=True))


def at_or_above(ours: Mapping[str, float], ref: Mapping[str, float]) -> list[str]:
    """The headline metrics on which ``ours`` is at or above ``ref`` (all nine are higher-is-better)."""
    return [m for m in HEADLINE if ours[m] >= ref[m]]


def best(rows: Mapping[str, Mapping[str, float]]) -> str:
    """The row the rank-sum rule picks (lowest rank sum, then the higher VIF)."""
    ranks = rank_sums(rows)
    return min(rows, key=lambda k: (ranks[k], -rows[k]["VIF"]))


def default_candidates() -> list[str]:
    """The methods that may be ``samfuse fuse``'s default: registered methods that fuse any pair with their
    default weights and no mask provider, in about a second at 640×480 on a CPU, except ``max``.

    ``max`` is excluded because it copies the brighter source pixel by pixel: it reaches several cddfuse metrics'
    best values by construction (SSIM above 1, MI), not by fusing, and blows out bright daytime scenes; it stays
    a reference row. Methods without default weights (``sage-student``) and those that need masks
    (``sage-teacher``, ``sgdfuse``; far slower, docs/decisions.md "Measured timings") are not candidates."""
    from samfuse.models import MissingWeightsError, build, list_methods

    out = []
    for name in list_methods():
        if name == "max":
            continue
        try:
            method = build(name)
        except MissingWeightsError:  # no default weights (sage-student)
            continue
        if method.needs_masks is None:
            out.append(name)
    return out
