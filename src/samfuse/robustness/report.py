"""The study's outputs: ``robustness.csv``, ``robustness.md`` (:func:`write_outputs`) and the table behind them."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

from samfuse.evaluation import metric_stats
from samfuse.io import atomic_write
from samfuse.metrics import get_convention

from .conditions import NONE
from .figures import plot
from .runner import ConditionResult, RobustnessResult


def _change(value: float, ref: float) -> float:
    """Change of ``value`` against ``ref`` in % (NaN when undefined)."""
    if math.isnan(value) or math.isnan(ref) or ref == 0:
        return math.nan
    return 100.0 * (value - ref) / abs(ref)


def _num(v: float) -> str:
    return "" if math.isnan(v) else repr(float(v))


def _fmt(v: float) -> str:
    if math.isnan(v):
        return "–"
    return f"{v:.1f}" if abs(v) >= 1000 else f"{v:.2f}" if abs(v) >= 100 else f"{v:.4f}"


def _rows(result: RobustnessResult) -> list[tuple[ConditionResult, str, float, float, int, float]]:
    """(condition, metric, mean, std, n, change vs none in %) for every condition × metric."""
    ref = result.reference()
    rows = []
    for c in result.conditions:
        for m in result.metrics:
            mean, std, n = metric_stats(c.evaluated, m)
            ref_mean = metric_stats(ref.evaluated, m)[0] if ref is not None else math.nan
            rows.append((c, m, mean, std, n, _change(mean, ref_mean)))
    return rows


def write_summary_csv(result: RobustnessResult, path: Path) -> None:
    """``condition,perturbation,value,metric,mean,std,n,change_pct`` (change vs ``none``, in %), atomically."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["condition", "perturbation", "value", "metric", "mean", "std", "n", "change_pct"])
    for c, m, mean, std, n, change in _rows(result):
        value = "" if c.condition.value is None else f"{c.condition.value:g}"
        w.writerow([c.condition.name, c.condition.kind, value, m, _num(mean), _num(std), n, _num(change)])
    data = buf.getvalue().encode()
    atomic_write(path, lambda fh: fh.write(data))


def markdown_table(result: RobustnessResult) -> str:
    """Rows = conditions, columns = metrics (↑ higher is better, ↓ lower): mean, and the change vs ``none``."""
    conv = get_convention(result.convention)
    arrows = {m: "↑" if conv.metrics[m].higher_is_better else "↓" for m in result.metrics}
    lines = [
        "| condition | images | " + " | ".join(f"{m} {arrows[m]}" for m in result.metrics) + " |",
        "|---|---:|" + "---:|" * len(result.metrics),
    ]
    by_cond: dict[str, list[str]] = {}
    for c, _m, mean, _std, _n, change in _rows(result):
        cell = _fmt(mean)
        if c.condition != NONE and not math.isnan(change):
            cell += f" ({change:+.1f} %)"
        by_cond.setdefault(c.condition.name, []).append(cell)
    for c in result.conditions:
        lines.append(f"| {c.condition.label} | {len(c.evaluated)} | " + " | ".join(by_cond[c.condition.name]) + " |")
    return "\n".join(lines)


def write_outputs(result: RobustnessResult, out: Path, *, header: Sequence[str] = (), title: str = "") -> list[Path]:
    """``out/robustness.csv``, ``out/robustness.md`` (``header`` lines as a list above the table) and
    ``out/robustness.png``; returns their paths. The per-image CSVs are written by :func:`run_robustness`."""
    csv_path, md_path, png_path = out / "robustness.csv", out / "robustness.md", out / "robustness.png"
    write_summary_csv(result, csv_path)
    conv = get_convention(result.convention)
    lines = [f"# Mask robustness{': ' + title if title else ''}", ""]
    lines += [f"- {h}" for h in header]
    lines += [
        f"- metrics: `{conv.name}` convention; each cell is the mean over the images evaluated under that "
        "condition, with its change against `none` in % (↑ higher is better, ↓ lower is better)",
        "",
        markdown_table(result),
        "",
        "Files: `robustness.csv` (mean, std, n and change per condition × metric), `metrics/<condition>.csv` "
        "(per image), `fused/<condition>/` (fused images), `robustness.png` (this table as curves over k).",
        "",
    ]
    text = "\n".join(lines).encode()
    atomic_write(md_path, lambda fh: fh.write(text))
    plot(result, png_path, title=title or None)
    return [csv_path, md_path, png_path]
