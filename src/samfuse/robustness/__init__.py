"""Mask robustness: fuse with perturbed masks, evaluate each condition, and tabulate and plot the change.

SGDFuse's claim is that its semantic guidance tolerates imperfect masks. This package perturbs every mask of
every image under one *condition* (erosion or dilation by a k×k square, or dropping masks at random), fuses
with the perturbed masks, and compares the metrics with the unperturbed reference condition ``none``.

* :func:`parse_perturbations` turns specs (``erode:3,5,7``, ``dilate:3,5,7``, ``drop:0.5,0.8``) into
  :class:`Condition` objects, ``none`` first.
* :func:`run_robustness` fuses each condition into ``OUT/fused/<condition>/`` and evaluates it through
  :func:`samfuse.fusing.fuse_and_evaluate` (the loop ``samfuse bench`` uses too; a rerun skips the images
  already written). The perturbation is applied by the pipeline's
  :class:`~samfuse.semantics.MaskSource` (``perturb``) to each image's masks after the mask cache and before
  the product the method declares is built, so the cache keeps the unperturbed masks.
* :func:`write_outputs` writes ``OUT/robustness.csv`` (one row per condition × metric), ``OUT/robustness.md``
  (conditions × metrics, change against ``none`` in %), ``OUT/robustness.png`` and the per-image CSVs
  ``OUT/metrics/<condition>.csv``.

``OUT/settings.json`` records what the fused images depend on (method, weights file hash, method options,
mask provider, seed); a rerun with other settings is refused instead of mixing old and new images.

The package has one module per concern: :mod:`.conditions` (the perturbations and their specs), :mod:`.runner`
(settings and the fuse-then-evaluate loop), :mod:`.report` (CSV and Markdown) and :mod:`.figures` (the plot).
"""

from .conditions import DEFAULT_SPECS, KINDS, NONE, Condition, image_seed, parse_perturbations
from .figures import plot
from .report import markdown_table, write_outputs, write_summary_csv
from .runner import ConditionResult, RobustnessResult, check_settings, run_robustness, settings_of

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
    "KINDS",
    "check_settings",
    "image_seed",
    "markdown_table",
    "plot",
    "write_summary_csv",
]
