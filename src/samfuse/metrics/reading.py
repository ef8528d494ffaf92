"""How each convention reads an image file (the reading is part of the convention).

* ``vifb``: the pixels as decoded (MATLAB ``imread``): uint8 (or uint16), H×W or H×W×3 **RGB**.
* ``cddfuse``: its ``image_read_cv2(path, 'GRAY')``: OpenCV ``IMREAD_COLOR`` (grey files replicated to 3
  channels, alpha dropped, 16-bit reduced to its high byte), cast to float32, then ``COLOR_BGR2GRAY`` on the
  float32 array, i.e. (B·0.114 + G·0.587) + R·0.299 in float32, then ``np.round`` (half to even), kept float32.
  The result is an H×W float32 array of integers 0..255, never divided by 255.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from samfuse.io import read_raw
from samfuse.io.bt601 import BT601


def read_vifb(path: str | Path) -> np.ndarray:
    """Pixels as decoded (uint8/uint16, H×W or H×W×3 RGB), as MATLAB ``imread`` gives them to VIFB."""
    return read_raw(path)


def grey_cddfuse(raw: np.ndarray) -> np.ndarray:
    """CDDFuse's grey conversion of decoded pixels (RGB order) to a float32 H×W array of rounded luma."""
    if raw.dtype == np.uint16:
        raw = (raw >> 8).astype(np.uint8)
    x = raw.astype(np.float32)
    if x.ndim == 2:
        r = g = b = x
    else:
        r, g, b = x[..., 0], x[..., 1], x[..., 2]
    wr, wg, wb = (np.float32(w) for w in BT601)
    y = (b * wb + g * wg) + r * wr  # OpenCV's order, float32
    return np.round(y)


def read_cddfuse(path: str | Path) -> np.ndarray:
    """Read a file as CDDFuse's evaluator does (see the module docstring): float32 H×W, integers 0..255."""
    return grey_cddfuse(read_raw(path))
