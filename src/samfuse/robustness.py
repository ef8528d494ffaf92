"""Mask robustness: fuse with perturbed masks, evaluate each condition, and tabulate and plot the change.

SGDFuse's claim is that its semantic guidance tolerates imperfect masks. This module perturbs every mask of
every image under one *condition* (erosion or dilation by a k×k square, or dropping masks at random), fuses
with the perturbed masks, and compares the metrics with the unperturbed reference condition ``none``.

* :func:`parse_perturbations` turns specs (``erode:3,5,7``, ``dilate:3,5,7``, ``drop:0.5,0.8``) into
  :class:`Condition` objects, ``none`` first.
* :func:`run_robustness` fuses each condition into ``OUT/fused/<condition>/`` through
  :func:`samfuse.batch.fuse_into` (a rerun skips the images already written) and evaluates it with
  :func:`samfuse.evaluation.evaluate_pairs`. The perturbation is applied by the pipeline's
  :class:`~samfuse.semantics.MaskSource` (``perturb``) to each image's masks after the mask cache and before
  the product the method declares is built, so the cache keeps the unperturbed masks.
* :func:`write_outputs` writes ``OUT/robustness.csv`` (one row per condition × metric), ``OUT/robustness.md``
  (conditions × metrics, change against ``none`` in %), ``OUT/robustness.png`` and the per-image CSVs
  ``OUT/metrics/<condition>.csv``.

``OUT/settings.json`` records what the fused images depend on (method, weights file hash, method options,
mask provider, seed); a rerun with other settings is refused instead of mixing old and new images.
"""

from __future__ import annotations

import csv
import io
import math
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from samfuse.batch import BatchReport, fuse_into
from samfuse.evaluation import (
    ImageResult,
    evaluate_pairs,
    evaluation_pool,
    index_fused,
    metric_stats,
    report_problems,
    resolve_metrics,
    write_csv,
)
from samfuse.io import InputError, Pair, atomic_write
from samfuse.io.provenance import check_record, weights_id
from samfuse.metrics import get_convention
from samfuse.semantics.base import MaskSet
from samfuse.semantics.perturb import dilate, drop_masks, erode

if TYPE_CHECKING:
    from samfuse.pipeline import FusionPipeline
    from samfuse.semantics.base import MaskProvider

__all__ = [
    "Condition",
    "NONE",
    "DEFAULT_SPECS",
    "parse_perturbations",
    "settings_of",
    "ConditionResult",
    "RobustnessResult",
    "run_robustness",
    "write_outputs",
]

Callback = Callable[[str], None]

#: The perturbations a spec may name, and what their values are.
KINDS = {"erode": "k", "dilate": "k", "drop": "p"}

#: The specs used when none are given (the study the issue names).
DEFAULT_SPECS = ("erode:3,5,7", "dilate:3,5,7")


@dataclass(frozen=True)
class Condition:
    """One way of perturbing every mask: ``none``, ``erode``/``dilate`` by a k×k square, or ``drop`` with p."""

    kind: str
    value: float | None = None

    @property
    def name(self) -> str:
        """Folder and row name: ``none``, ``erode-3``, ``dilate-5``, ``drop-0.5``."""
        if self.kind == "none":
            return "none"
        return f"{self.kind}-{self.value:g}"

    @property
    def label(self) -> str:
        """For tables: ``none``, ``erode k=3``, ``drop p=0.5``."""
        if self.kind == "none":
            return "none"
        return f"{self.kind} {KINDS[self.kind]}={self.value:g}"

    def perturbation(self, seed: int = 0) -> Callable[[MaskSet], MaskSet] | None:
        """The function applied to each image's :class:`MaskSet` (None for ``none``)."""
        if self.kind == "none":
            return None
        if self.kind == "drop":
            p = float(self.value or 0.0)

            def drop(masks: MaskSet) -> MaskSet:
                return drop_masks(masks, p, seed=image_seed(masks, seed))

            return drop
        k = int(self.value or 1)
        op = erode if self.kind == "erode" else dilate

        def morph(masks: MaskSet) -> MaskSet:
            return op(masks, k)

        return morph


NONE = Condition("none")


def image_seed(masks: MaskSet, seed: int) -> int:
    """The drop seed of one image's masks: ``seed`` combined with a checksum of the masks themselves, so each
    image (and each modality) draws its own drops, the same in every run and whatever order images come in."""
    key = zlib.crc32(np.packbits(masks.masks).tobytes()) ^ zlib.crc32(repr(masks.masks.shape).encode())
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, key]).generate_state(1)[0])


def _value(kind: str, text: str, spec: str) -> float:
    where = f"--perturb {spec!r}"
    if kind == "drop":
        try:
            p = float(text)
        except ValueError:
            raise ValueError(f"{where}: {text!r} is not a probability (a number in (0, 1])") from None
        if not 0.0 < p <= 1.0:
            raise ValueError(f"{where}: p={text} is outside (0, 1] (p=0 is the reference `none`, always included)")
        return p
    try:
        k = int(text)
    except ValueError:
        raise ValueError(f"{where}: {text!r} is not a kernel size (an odd integer ≥ 3)") from None
    if k < 3 or k % 2 == 0:
        raise ValueError(f"{where}: k={text} must be an odd integer ≥ 3 (k=1 is the reference `none`)")
    return k


def parse_perturbations(specs: Iterable[str]) -> list[Condition]:
    """``["erode:3,5,7", "dilate:3", "drop:0.5"]`` → ``[none, erode-3, erode-5, erode-7, dilate-3, drop-0.5]``.

    A spec is ``KIND:V1,V2,...`` with KIND ``erode`` or ``dilate`` (odd kernel sizes k ≥ 3) or ``drop``
    (probabilities p in (0, 1]); several specs may also come in one string separated by spaces. ``none`` is
    always the first condition (giving it is allowed). No spec at all means :data:`DEFAULT_SPECS`.
    :class:`ValueError` (one line naming the spec) for anything else, or a condition given twice.
    """
    words = [w for spec in specs for w in str(spec).split()]
    if not words:
        words = list(DEFAULT_SPECS)
    out = [NONE]
    for spec in words:
        if spec == "none":
            continue
        kind, sep, values = spec.partition(":")
        if kind not in KINDS:
            raise ValueError(f"--perturb {spec!r}: unknown perturbation {kind!r} (use erode:K,…, dilate:K,…, drop:P,…)")
        if not sep or not values.strip(","):
            raise ValueError(f"--perturb {spec!r}: no values (e.g. {kind}:{'0.5' if kind == 'drop' else '3,5,7'})")
        for text in values.split(","):
            if not text.strip():
                continue
            cond = Condition(kind, _value(kind, text.strip(), spec))
            if cond in out:
                raise ValueError(f"--perturb {spec!r}: {cond.label} is given twice")
            out.append(cond)
    return out


def settings_of(
    method: str,
    weights: str | Path | None,
    options: Mapping[str, Any],
    provider: MaskProvider,
    seed: int,
) -> dict[str, Any]:
    """What the fused images of a study depend on (recorded in ``OUT/settings.json``): the method, its weights
    (the sha256 of the file it loads, the shipped one when ``weights`` is None), its build options, the mask
    provider (name, model, parameters, version) and the seed."""
    from samfuse.batch import mask_record, weights_file

    return {
        "method": method,
        "weights": weights_id(weights_file(method, weights)),
        "options": {k: options[k] for k in sorted(options)},
        "masks": mask_record(provider),
        "seed": int(seed),
    }


def check_settings(out: Path, settings: Mapping[str, Any]) -> None:
    """Write ``out/settings.json``, or compare with the one there (:func:`samfuse.io.provenance.check_record`):
    :class:`InputError` (one line naming the first setting that differs) when the fused images in ``out`` were
    made with other settings, or when fused images are there without a record."""
    fused = out / "fused"
    has_outputs = fused.is_dir() and any(fused.rglob("*.png"))
    check_record(
        out, settings, has_outputs=has_outputs, name="settings.json", remedy="use another --out (or remove that folder)"
    )


@dataclass
class ConditionResult:
    """One condition: where its fused images are, how many were fused / skipped / failed, the evaluation."""

    condition: Condition
    folder: Path
    fused: int = 0
    skipped: int = 0
    failed: int = 0
    results: list[ImageResult] = field(default_factory=list)

    @property
    def evaluated(self) -> list[ImageResult]:
        return [r for r in self.results if r.evaluated]


@dataclass
class RobustnessResult:
    """What the outputs are made of."""

    conditions: list[ConditionResult]
    convention: str
    metrics: list[str]
    pairs: int
    exit_code: int = 0

    def reference(self) -> ConditionResult | None:
        return next((c for c in self.conditions if c.condition == NONE), None)


def run_robustness(
    pipeline: FusionPipeline,
    pairs: Sequence[Pair],
    conditions: Sequence[Condition],
    out: Path,
    *,
    convention: str = "cddfuse",
    metrics: str | Sequence[str] | None = None,
    jobs: int = 1,
    seed: int = 0,
    settings: Mapping[str, Any] | None = None,
    on_error: Callback = print,
    on_warning: Callback = print,
    on_note: Callback = print,
    progress: bool = True,
) -> RobustnessResult:
    """Fuse ``pairs`` under each condition into ``out/fused/<condition>/`` and evaluate them (module docstring).

    ``pipeline`` must hold the :class:`~samfuse.semantics.MaskSource` of a method that needs masks
    (:class:`InputError` otherwise: there is nothing to perturb); it is given back unchanged. ``settings``
    (from :func:`settings_of`) are checked against ``out/settings.json`` before any work. Per-image problems
    go to ``on_error`` (one line each) and set ``exit_code`` to 1; the other images and conditions go on.
    """
    from samfuse.semantics.source import MaskSource

    needs = pipeline.method.needs_masks
    if needs is None:
        raise InputError("the method uses no masks, so there is nothing to perturb (e.g. use sgdfuse or sage-teacher)")
    source = pipeline.masks
    if not isinstance(source, MaskSource):
        raise InputError(f"the pipeline has no mask source for the method's {needs} masks")
    names = resolve_metrics(convention, metrics)
    if settings is not None:
        check_settings(out, settings)
    result = RobustnessResult([], convention, names, len(pairs))
    failed_any = False
    try:
        with ExitStack() as stack:
            pool = stack.enter_context(evaluation_pool(jobs)) if jobs > 1 and len(pairs) > 1 else None
            for cond in conditions:
                folder = out / "fused" / cond.name
                cr = ConditionResult(cond, folder)
                result.conditions.append(cr)
                pipeline.masks = source.with_perturb(cond.perturbation(seed))
                report = BatchReport("fused")
                fuse_into(pipeline, pairs, folder, report, overwrite=False, desc=f"fuse {cond.name}")
                cr.fused, cr.skipped = len(report.done_items), len(report.skipped_items)
                cr.failed = len(report.failed_items)
                failed_any |= bool(report.failed_items)
                on_note(f"{cond.name}: {report.summary()}")
                bad = {name for name, _ in report.failed_items}
                todo = [p for p in pairs if p.stem not in bad]
                cr.results = evaluate_pairs(
                    todo,
                    index_fused(folder, on_warning),
                    convention,
                    names,
                    jobs=jobs,
                    fused_dir=folder,
                    desc=f"eval {cond.name}",
                    progress=progress,
                    pool=pool,
                )
                failed_any |= report_problems(cr.results, cond.name, on_error, on_warning)
                write_csv(out / "metrics" / f"{cond.name}.csv", cr.evaluated, names)
    finally:
        pipeline.masks = source
    result.exit_code = 1 if failed_any else 0
    return result


# --- outputs -----------------------------------------------------------------------------------------------


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
