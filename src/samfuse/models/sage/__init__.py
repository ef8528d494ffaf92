"""SAGE (Wu et al., CVPR 2025): the student (released weights, no SAM at inference) and the SAM-guided teacher.

Importing this package registers its methods (``sage-student`` here, ``sage-teacher`` in :mod:`.teacher`).
"""

from samfuse.models.registry import register
from samfuse.models.sage import teacher as _teacher  # noqa: F401  (registers sage-teacher)
from samfuse.models.sage.student import SageStudent, SageStudentNet, build_student, fold_batchnorm, load_student

register(
    "sage-student",
    "SAGE student (Wu et al., CVPR 2025): 135,617-parameter CNN on Y + IR, no SAM at inference; needs --weights",
)(build_student)

__all__ = ["SageStudent", "SageStudentNet", "build_student", "fold_batchnorm", "load_student"]
