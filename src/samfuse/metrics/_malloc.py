"""Keep the metrics' large temporaries on the heap (glibc): about 40 % faster VIF/SSIM in a long-running process.

Each 640×480 float64 temporary is 2.4 MB, above glibc's default mmap threshold, so every allocation is a fresh
``mmap`` whose pages fault in on first touch, and freed heap tops are trimmed back to the system. Raising the
mmap and trim thresholds lets NumPy reuse the same memory from one array to the next. This is process-wide,
so the library never does it on import: ``samfuse eval`` and the benchmark call :func:`tune_malloc`.
"""

from __future__ import annotations

import ctypes
import ctypes.util

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def tune_malloc(mmap_threshold: int = 32 << 20, trim_threshold: int = 256 << 20) -> bool:
    """Set glibc's M_MMAP_THRESHOLD and M_TRIM_THRESHOLD (bytes); False (nothing done) off glibc."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(_M_TRIM_THRESHOLD, trim_threshold))


def release_free_memory() -> bool:
    """Hand freed heap memory back to the system (glibc ``malloc_trim(0)``); False (nothing done) off glibc.

    With the raised trim threshold of :func:`tune_malloc`, up to 256 MB of freed memory stays with the process;
    ``samfuse eval`` calls this after each metric of a large image so that its peak is one metric's, not more.
    """
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return bool(trim(0))
