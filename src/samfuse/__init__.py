"""samfuse: SAM-guided infrared-visible (and medical) image fusion.

Python API in one call::

    import samfuse
    fused = samfuse.fuse(ir, vi, method="laplacian")   # float32 in [0, 1], colour if vi is colour

Frame by frame (video, cameras; built once, BGR uint8 in and out by default)::

    fuser = samfuse.Fuser(method="laplacian")
    fused = fuser(ir_frame, vi_frame)
"""

from __future__ import annotations

import os
from typing import Any

__version__ = "0.1.0"
__all__ = ["Fuser", "__version__", "fuse", "passive_threads"]


def passive_threads() -> None:
    """Ask OpenMP's idle threads to sleep instead of spinning (``OMP_WAIT_POLICY=PASSIVE``) unless the caller set a
    policy. Spinning threads make every small torch op ~50× slower as soon as another process uses the cores
    (docs/decisions.md, Threads); passive waiting costs nothing measurable on an idle machine. It only takes
    effect **before torch is imported**. The ``samfuse`` command does this itself; ``import samfuse`` does not
    change the caller's environment, so a library user calls this (or sets the variable) first."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def __getattr__(name: str) -> Any:
    # Lazy: `import samfuse` (and `samfuse --help`) does not import torch until the API is used.
    if name == "fuse":
        from samfuse.api import fuse

        return fuse
    if name == "Fuser":
        from samfuse.video.fuser import Fuser

        return Fuser
    raise AttributeError(f"module 'samfuse' has no attribute {name!r}")
