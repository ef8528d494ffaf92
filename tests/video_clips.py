"""Test clips for tests/video: paired pan-and-zoom clips made from a real MSRS pair (samfuse.video.synthetic),
and small helpers to reopen what a command wrote."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from shared_paths import DATASETS

STEM = "00004N"
FRAMES = 24
SIZE = (160, 120)  # width, height
FPS = 12.0


def source(side: str) -> Path:
    """The MSRS image the clips are made from (``side``: ``ir`` or ``vi``)."""
    return DATASETS / "MSRS" / side / f"{STEM}.png"


def decode_all(path: Path) -> list[np.ndarray]:
    """Every frame of a video file as OpenCV decodes it (BGR uint8), reading until the stream ends."""
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), f"{path}: does not open (not a playable file)"
    out = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        out.append(frame)
    cap.release()
    return out


def video_info(path: Path) -> tuple[int, float, tuple[int, int]]:
    """(frames declared, frame rate, (width, height)) from the container."""
    cap = cv2.VideoCapture(str(path))
    info = (
        int(cap.get(cv2.CAP_PROP_FRAME_COUNT)),
        float(cap.get(cv2.CAP_PROP_FPS)),
        (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))),
    )
    cap.release()
    return info
