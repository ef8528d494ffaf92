"""``samfuse bench``: side-by-side comparison of fusion methods on named datasets, as one report.

:func:`run_bench` fuses (only what is missing), times and evaluates every method × dataset and runs the
downstream checks (label salience, detection AP); :func:`write_report` writes ``report.md``, ``values.csv`` and
the figures. The CLI is ``samfuse/cli/bench.py``. The figure and the machine line live in
:mod:`samfuse.figures` and :mod:`samfuse.machine` (shared with ``demo`` and ``robustness``) and are re-exported
here.
"""

from samfuse.figures import FigureRow, comparison_figure
from samfuse.machine import PeakMemory, describe_machine

from .report import write_report
from .runner import BenchConfig, BenchResult, MethodSpec, parse_methods, parse_named, run_bench

__all__ = [
    "BenchConfig",
    "BenchResult",
    "FigureRow",
    "MethodSpec",
    "PeakMemory",
    "comparison_figure",
    "describe_machine",
    "parse_methods",
    "parse_named",
    "run_bench",
    "write_report",
]
