"""samfuse: SAM-guided infrared-visible (and medical) image fusion.

Python API in one call::

    import samfuse
    fused = samfuse.fuse(ir, vi, method="laplacian")   # float32 in [0, 1], colour if vi is colour
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "fuse"]


def __getattr__(name: str) -> Any:
    # Lazy: `import samfuse` (and `samfuse --help`) does not import torch until the API is used.
    if name == "fuse":
        from samfuse.api import fuse

        return fuse
    raise AttributeError(f"module 'samfuse' has no attribute {name!r}")
