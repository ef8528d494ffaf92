"""Writing images atomically: a temporary file in the target folder, then ``os.replace``.

An interrupted run therefore never leaves a half-written image under the final name.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np

from samfuse.io.errors import InputError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Any image to uint8, shape kept: uint8 as is; uint16 ``round(x / 257)``; float ``round(255 · clip(x, 0, 1))``;
    bool ``{0, 255}``. Other dtypes raise ValueError."""
    img = np.asarray(img)
    if img.dtype == np.uint8:
        return img
    if img.dtype == np.uint16:
        return np.round(img.astype(np.float32) / 257.0).astype(np.uint8)
    if img.dtype == np.bool_:
        return img.astype(np.uint8) * 255
    if np.issubdtype(img.dtype, np.floating):
        # round(255 · clip(x, 0, 1)) in float32, the clipped copy scaled and rounded in place (np.round is np.rint)
        unit = np.clip(img.astype(np.float32, copy=False), 0.0, 1.0)
        np.multiply(unit, 255.0, out=unit)
        return np.rint(unit, out=unit).astype(np.uint8)
    raise ValueError(f"unsupported image dtype {img.dtype}")


def atomic_write(path: str | Path, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(fh)`` on a temporary file in ``path``'s folder, then rename it to ``path``.

    The file gets the usual permissions (0666 minus umask; ``mkstemp`` alone makes 0600). On any failure or
    interruption the temporary file is removed and an existing ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_image(path: str | Path, img: np.ndarray, *, overwrite: bool = False) -> bool:
    """Write an H×W (grey) or H×W×3 (RGB) image atomically; the format follows the file ending.

    Float images in [0, 1] are stored as 8-bit (see :func:`to_uint8`); uint16 is kept for PNG/TIFF.
    Returns ``False`` without writing when the file exists and ``overwrite`` is false.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        return False
    keep16 = img.dtype == np.uint16 and path.suffix.lower() in {".png", ".tif", ".tiff"}
    out = img if keep16 else to_uint8(img)
    if out.ndim == 3:
        out = np.ascontiguousarray(out[:, :, ::-1])  # RGB -> BGR for OpenCV
    ok, buf = cv2.imencode(path.suffix, out)
    if not ok:
        raise InputError(f"{path}: cannot encode an image with this file ending")
    atomic_write(path, lambda fh: fh.write(buf.tobytes()))
    return True
