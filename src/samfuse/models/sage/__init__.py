"""SAGE (Wu et al., CVPR 2025): the student (no SAM at inference) and the SAM-guided teacher.

Importing this package registers its methods: ``sage`` (the student with the weights samfuse trained and ships,
:mod:`.shipped`), ``sage-student`` (the student with a weights file you give, e.g. the authors' release) and
``sage-teacher`` (in :mod:`.teacher`; the shipped teacher unless ``--weights`` is given).
"""

from pathlib import Path

from samfuse.models.pretrained import default_tag
from samfuse.models.registry import register
from samfuse.models.sage import teacher as _teacher  # noqa: F401  (registers sage-teacher)
from samfuse.models.sage.student import SageStudent, SageStudentNet, build_student, fold_batchnorm, load_student

register(
    "sage-student",
    "SAGE student (Wu et al., CVPR 2025): 135,617-parameter CNN on Y + IR, no SAM at inference; needs --weights",
)(build_student)


@register(
    "sage",
    "SAGE student with the weights samfuse trained on `train` and ships (model card: samfuse/models/sage/weights)",
)
def build_sage(weights: str | Path | None = None, fold: bool = True, random_init: bool = False) -> SageStudent:
    """The student with ``sage``'s default weights (:func:`samfuse.models.pretrained.default_tag`, read at call
    time), or with ``weights`` when given."""
    if random_init:
        return build_student(None, fold=fold, random_init=True)
    return build_student(default_tag("sage").path if weights is None else weights, fold=fold)  # type: ignore[union-attr]


__all__ = ["SageStudent", "SageStudentNet", "build_sage", "build_student", "fold_batchnorm", "load_student"]
