"""Reading image files as they come from real cameras and datasets.

Two levels:

* :func:`read_raw` returns the pixels as decoded (uint8 or uint16, H×W or H×W×3, **RGB** order, alpha dropped).
* :func:`read_image` returns float32 in [0, 1], H×W for grey content (including grey stored as three equal
  channels, as TNO, M3FD, LLVIP and the MRI sets do) and H×W×3 RGB for colour.

Normalisation: 8-bit ``x / 255``; 16-bit ``x / 65535`` by default (the full container range, so the mapping
is the same for every frame of a camera); with ``value_range=(lo, hi)`` it is ``clip((x - lo) / (hi - lo), 0, 1)``
for any bit depth (use it for thermal cameras that fill only part of the 16-bit range, e.g. 14-bit sensors:
``(0, 16383)``; or ``"minmax"`` to stretch each image to its own min and max).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import cv2
import cv2.utils.logging as cv_logging
import numpy as np

from samfuse.io.errors import InputError

#: File endings samfuse reads (compared case-insensitively).
IMAGE_EXTENSIONS: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})

#: Smallest side, in pixels, that samfuse accepts for fusion.
MIN_SIDE = 8

ValueRange = tuple[float, float] | Literal["minmax"] | None


def read_raw(path: str | Path) -> np.ndarray:
    """Decode an image file without changing its values.

    Returns uint8 or uint16, H×W (one channel) or H×W×3 in RGB order; an alpha channel is dropped, and
    palette images come back as RGB. Raises :class:`InputError` naming the file for a missing, empty,
    truncated or undecodable file, or an unsupported sample type.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise InputError(f"{path}: cannot read ({err.strerror or err})") from None
    if data.size == 0:
        raise InputError(f"{path}: empty file")
    # OpenCV prints libpng/libjpeg warnings for truncated files on stderr; we report our own line instead.
    with _quiet_opencv():
        img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise InputError(f"{path}: not a readable image (corrupt, truncated or unsupported format)")
    if _looks_truncated(path, data):
        raise InputError(f"{path}: truncated image file")
    if img.dtype not in (np.uint8, np.uint16):
        raise InputError(f"{path}: unsupported sample type {img.dtype} (8- or 16-bit integers only)")
    if img.ndim == 3:
        channels = img.shape[2]
        if channels == 1:
            img = img[:, :, 0]
        elif channels == 3:
            img = img[:, :, ::-1]
        elif channels == 4:
            img = img[:, :, 2::-1]
        else:
            raise InputError(f"{path}: unsupported channel count {channels}")
    return np.ascontiguousarray(img)


def is_grey(img: np.ndarray) -> bool:
    """True for a 2-D array, or an H×W×3 array whose three channels are exactly equal."""
    if img.ndim == 2:
        return True
    return bool(np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 0], img[..., 2]))


#: ``x / 255`` in float32 for each 8-bit value, so that OpenCV converts an 8-bit image in one pass (``cv2.LUT``).
_UNIT8 = np.arange(256, dtype=np.float32) / 255.0


def _opencv_layout(img: np.ndarray) -> bool:
    """True for a non-empty H×W or H×W×C (C ≤ 4) array: one that OpenCV takes as one image (with C channels), so
    a per-pixel OpenCV function gives the same layout back (reshape H×W×1 back from H×W)."""
    return img.size > 0 and (img.ndim == 2 or (img.ndim == 3 and img.shape[2] <= 4))


def to_unit_float(img: np.ndarray, value_range: ValueRange = None) -> np.ndarray:
    """Map integer (or float) pixels to float32 in [0, 1].

    uint8: x/255; uint16: x/65535; float input is taken as already in [0, 1] and clipped.
    ``value_range=(lo, hi)``: clip((x - lo)/(hi - lo), 0, 1); ``"minmax"``: (x - min)/(max - min), 0 for a
    constant image.
    """
    if value_range is None and img.dtype == np.uint8 and _opencv_layout(img):
        return cv2.LUT(img, _UNIT8).reshape(img.shape)  # the values of the division below, in one pass
    x = img.astype(np.float32)
    if value_range == "minmax":
        lo, hi = float(x.min()), float(x.max())
        return np.zeros_like(x) if hi <= lo else (x - lo) / (hi - lo)
    if value_range is not None:
        lo, hi = (float(v) for v in value_range)
        if hi <= lo:
            raise ValueError(f"value_range needs lo < hi, got {value_range}")
        return np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    if img.dtype == np.uint8:
        return x / 255.0
    if img.dtype == np.uint16:
        return x / 65535.0
    if np.issubdtype(img.dtype, np.floating):
        return np.clip(x, 0.0, 1.0)
    raise ValueError(f"unsupported dtype {img.dtype}")


def range_mismatch(img: np.ndarray, value_range: ValueRange) -> str | None:
    """Why ``value_range`` does not suit ``img``'s sample type, or None when it does.

    A fixed range whose top lies beyond what the samples can hold (an 8-bit image with ``(0, 16383)``, a float
    image in [0, 1] with ``(0, 255)``) maps every pixel into the bottom of [0, 1]: the image comes out dark.
    """
    if value_range is None or value_range == "minmax":
        return None
    lo, hi = (float(v) for v in value_range)
    if img.dtype == np.uint8:
        top, kind = 255.0, "an 8-bit image"
    elif img.dtype == np.uint16:
        top, kind = 65535.0, "a 16-bit image"
    elif np.issubdtype(img.dtype, np.floating):
        top, kind = 1.0, "a float image in [0, 1]"
    else:
        return None
    if hi <= top:
        return None
    return f"{kind} mapped with the range {lo:g},{hi:g}, beyond its largest value {top:g} (it comes out dark)"


def read_image(path: str | Path, *, value_range: ValueRange = None) -> np.ndarray:
    """Read an image as float32 in [0, 1]: H×W if its content is grey, H×W×3 RGB if colour.

    Grey content stored as three equal channels becomes H×W. See the module docstring for the
    normalisation of 8- and 16-bit files and ``value_range``.
    """
    raw = read_raw(path)
    if raw.ndim == 3 and is_grey(raw):
        raw = raw[..., 0]
    return to_unit_float(raw, value_range)


def _looks_truncated(path: Path, data: np.ndarray) -> bool:
    """Cheap end-of-stream checks OpenCV does not make: a JPEG must end with EOI, a PNG with IEND."""
    head = bytes(data[:8])
    tail = bytes(data[-12:])
    if head[:3] == b"\xff\xd8\xff":
        return b"\xff\xd9" not in bytes(data[-4096:])
    if head == b"\x89PNG\r\n\x1a\n":
        return b"IEND" not in tail
    return False


class _quiet_opencv:
    """Silence OpenCV's own log lines while decoding (we raise one clear error instead)."""

    def __enter__(self) -> None:
        self._level = cv_logging.getLogLevel()
        cv_logging.setLogLevel(cv_logging.LOG_LEVEL_SILENT)

    def __exit__(self, *exc: object) -> None:
        cv_logging.setLogLevel(self._level)
