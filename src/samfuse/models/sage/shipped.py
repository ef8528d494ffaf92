"""The weights samfuse ships for SAGE, trained here by ``samfuse train sage`` (see ``weights/MODEL_CARD.md``).

They live in the package (``samfuse/models/sage/weights/``) so that ``pip install`` carries them:
``sage`` is the student with :data:`STUDENT`; ``sage-teacher`` uses :data:`TEACHER` when no ``--weights`` is given.
"""

from __future__ import annotations

from pathlib import Path

WEIGHTS_DIR = Path(__file__).with_name("weights")
#: The student, fp32, BatchNorm unfolded (the training form; folded at load time), 121 tensors.
STUDENT = WEIGHTS_DIR / "sage_student.safetensors"
#: The teacher in half precision (cast back to float32 at load time).
TEACHER = WEIGHTS_DIR / "sage_teacher.fp16.safetensors"
#: Facts about how they were trained.
MODEL_CARD = WEIGHTS_DIR / "MODEL_CARD.md"
