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

# OpenMP threads that spin while waiting make every small torch op ~50x slower as soon as another process
# uses the cores (measured: 0.5·a + 0.5·b on 640×480 took 35 ms instead of 0.3-0.8 ms on a loaded 2-core
# machine). Passive waiting costs nothing measurable when the machine is idle. Must be set before torch loads;
# an explicit user setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
__all__ = ["Fuser", "__version__", "fuse"]


def __getattr__(name: str) -> Any:
    # Lazy: `import samfuse` (and `samfuse --help`) does not import torch until the API is used.
    if name == "fuse":
        from samfuse.api import fuse

        return fuse
    if name == "Fuser":
        from samfuse.video.fuser import Fuser

        return Fuser
    raise AttributeError(f"module 'samfuse' has no attribute {name!r}")
