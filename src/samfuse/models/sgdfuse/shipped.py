"""The weights samfuse ships for SGDFuse, trained here by ``samfuse train sgdfuse-stage1`` then ``samfuse train
sgdfuse`` (``cpu`` profiles, weight-free ``regions`` masks; see ``weights/MODEL_CARD.md``).

They live in the package (``samfuse/models/sgdfuse/weights/``) so that ``pip install`` carries them: without
``--weights``, ``sgdfuse`` and ``sgdfuse-stage1`` load :data:`SGDFUSE` (it holds the frozen stage 1 too).
"""

from __future__ import annotations

from pathlib import Path

WEIGHTS_DIR = Path(__file__).with_name("weights")
#: Stage 1 + U-Net + HFAH, fp32, with the whole configuration (``samfuse_config``) in the metadata.
SGDFUSE = WEIGHTS_DIR / "sgdfuse_cpu.safetensors"
#: Facts about how they were trained.
MODEL_CARD = WEIGHTS_DIR / "MODEL_CARD.md"
