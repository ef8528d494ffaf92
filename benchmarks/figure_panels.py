"""Shared by the README figure scripts: the MSRS pair they show, and one labelled 320×240 RGB panel."""

from __future__ import annotations

import cv2
import numpy as np

from samfuse.data import resolve_root
from samfuse.io import read_raw
from samfuse.semantics import as_rgb_uint8


def msrs_pair(stem: str) -> tuple[np.ndarray, np.ndarray]:
    """(IR, visible) of MSRS test pair ``stem`` as decoded, from the data root."""
    root = resolve_root() / "MSRS"
    return read_raw(root / "ir" / f"{stem}.png"), read_raw(root / "vi" / f"{stem}.png")


def panel(img: np.ndarray, label: str, size: tuple[int, int] = (320, 240)) -> np.ndarray:
    """Any H×W / H×W×3 image (uint8 or float in [0, 1]) → ``size`` (W, H) RGB uint8 with a label top left."""
    small = cv2.resize(as_rgb_uint8(img), size, interpolation=cv2.INTER_AREA)
    cv2.rectangle(small, (0, 0), (8 + 8 * len(label), 20), (0, 0, 0), thickness=-1)
    cv2.putText(small, label, (4, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
    return small
