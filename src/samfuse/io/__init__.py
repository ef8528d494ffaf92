"""Image I/O: reading real files, pairing by stem, colour split/merge, atomic writing.

The colour functions (``split_luma``, ``merge_luma``, ``luma``) need torch and kornia; they are imported on first
use so that reading, pairing and writing (used by the metrics' worker processes) stay light.
"""

from typing import Any

from samfuse.io.errors import InputError
from samfuse.io.pairing import Pair, PairSet, find_pairs, list_images
from samfuse.io.reading import IMAGE_EXTENSIONS, MIN_SIDE, is_grey, read_image, read_raw, to_unit_float
from samfuse.io.writing import atomic_write, to_uint8, write_image

__all__ = [
    "IMAGE_EXTENSIONS",
    "MIN_SIDE",
    "InputError",
    "Pair",
    "PairSet",
    "atomic_write",
    "find_pairs",
    "is_grey",
    "list_images",
    "luma",
    "merge_luma",
    "read_image",
    "read_raw",
    "split_luma",
    "to_uint8",
    "to_unit_float",
    "write_image",
]


def __getattr__(name: str) -> Any:
    if name in ("luma", "merge_luma", "split_luma"):
        from samfuse.io import colour

        return getattr(colour, name)
    raise AttributeError(f"module 'samfuse.io' has no attribute {name!r}")
