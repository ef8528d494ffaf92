"""The study loop: check the settings, then fuse and evaluate every condition (:func:`run_robustness`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from samfuse.evaluation import ImageResult, evaluation_pool, resolve_metrics, write_csv
from samfuse.fusing import fuse_and_evaluate
from samfuse.io import InputError, Pair
from samfuse.io.provenance import check_record, weights_id

from .conditions import NONE, Condition

if TYPE_CHECKING:
    from samfuse.pipeline import FusionPipeline
    from samfuse.semantics.base import MaskProvider

Callback = Callable[[str], None]


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
                run = fuse_and_evaluate(
                    pipeline,
                    pairs,
                    folder,
                    convention,
                    names,
                    label=cond.name,
                    fuse_desc=f"fuse {cond.name}",
                    eval_desc=f"eval {cond.name}",
                    jobs=jobs,
                    pool=pool,
                    progress=progress,
                    on_error=on_error,
                    on_warning=on_warning,
                    on_note=on_note,
                )
                cr.fused, cr.skipped, cr.failed = run.fused, run.skipped, run.failed
                cr.results = run.results
                failed_any |= run.problems
                write_csv(out / "metrics" / f"{cond.name}.csv", cr.evaluated, names)
    finally:
        pipeline.masks = source
    result.exit_code = 1 if failed_any else 0
    return result
