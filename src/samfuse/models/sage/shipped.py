"""The weights samfuse ships for SAGE (``weights/``, described in ``weights/MODEL_CARD.md``), by their names in
:mod:`samfuse.models.pretrained`: ``sage`` uses :data:`STUDENT` (the default tag of ``sage``) and
``sage-teacher`` :data:`TEACHER` when no ``--weights`` is given.

They live in the package (``samfuse/models/sage/weights/``) so that ``pip install`` carries them.
"""

from __future__ import annotations

from pathlib import Path

from samfuse.models.pretrained import PRETRAINED, default_tag

WEIGHTS_DIR = Path(__file__).with_name("weights")
#: The default student weights (fp32, BatchNorm unfolded: the training form; folded at load time), 121 tensors.
STUDENT = default_tag("sage").path  # type: ignore[union-attr]
#: The teacher in half precision (cast back to float32 at load time).
TEACHER = PRETRAINED["sage-teacher.distilled"].path
#: How the default student (``sage.alone``) was trained; ``MODEL_CARD_distilled.md`` for ``sage.distilled`` and the
#: teacher, ``MODEL_CARD_authors.md`` for ``sage.authors``.
MODEL_CARD = WEIGHTS_DIR / "MODEL_CARD.md"
DISTILLED_CARD = WEIGHTS_DIR / "MODEL_CARD_distilled.md"
