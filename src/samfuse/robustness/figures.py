"""The study's plot: ``robustness.png``, one panel per metric over k (:func:`plot`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from samfuse.evaluation import metric_stats
from samfuse.io import atomic_write
from samfuse.metrics import get_convention

from .conditions import NONE

if TYPE_CHECKING:
    from .runner import RobustnessResult


def plot(result: RobustnessResult, path: Path, *, title: str | None = None) -> Path:
    """One panel per metric: x = k, a line for erode and one for dilate, ``none`` as a horizontal line, the
    drop conditions as markers at their own places right of the k axis (labelled with p). PNG, atomically."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    conv = get_convention(result.convention)
    means = {(c.condition, m): metric_stats(c.evaluated, m)[0] for c in result.conditions for m in result.metrics}
    ks = sorted({int(c.condition.value) for c in result.conditions if c.condition.kind in ("erode", "dilate")})
    drops = [c.condition for c in result.conditions if c.condition.kind == "drop"]
    step = 2.0 if len(ks) < 2 else float(min(np.diff(ks)))
    start = (ks[-1] + 1.5 * step) if ks else 0.0
    drop_x = {d: start + i * step for i, d in enumerate(drops)}
    n = len(result.metrics)
    ncol = min(4, n)
    nrow = math.ceil(n / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.6 * nrow + 0.5), squeeze=False)
    for i, m in enumerate(result.metrics):
        ax = axes[i // ncol][i % ncol]
        ref = means.get((NONE, m), math.nan)
        if not math.isnan(ref):
            ax.axhline(ref, color="0.3", linestyle="--", linewidth=1, label="none")
        for kind, colour in (("erode", "tab:blue"), ("dilate", "tab:orange")):
            pts = sorted(
                (int(c.condition.value), means[(c.condition, m)]) for c in result.conditions if c.condition.kind == kind
            )
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", color=colour, label=kind)
        if drops:
            xs, ys = [drop_x[d] for d in drops], [means[(d, m)] for d in drops]
            ax.plot(xs, ys, "D", color="tab:green", linestyle="none", label="drop")
        ax.set_xticks([*ks, *drop_x.values()], [*map(str, ks), *(f"p={d.value:g}" for d in drops)], fontsize=7)
        ax.set_title(f"{m} {'↑' if conv.metrics[m].higher_is_better else '↓'}", fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
        if i % ncol == 0:
            ax.set_ylabel("mean", fontsize=8)
        if i // ncol == nrow - 1:
            ax.set_xlabel("k (erode, dilate); p (drop)" if drops and ks else "p (drop)" if drops else "k", fontsize=8)
    for j in range(n, nrow * ncol):
        axes[j // ncol][j % ncol].set_visible(False)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", fontsize=8, ncol=len(labels))
    if title:
        fig.suptitle(title, fontsize=10, x=0.02, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.95))

    def save(fh) -> None:  # type: ignore[no-untyped-def]
        fig.savefig(fh, format="png", dpi=90)

    try:
        atomic_write(path, save)
    finally:
        plt.close(fig)
    return path
