"""samfuse: SAM-guided infrared-visible (and medical) image fusion.

The Python API in one call: :func:`samfuse.fuse` (see :mod:`samfuse.api`).
"""

__version__ = "0.1.0"
