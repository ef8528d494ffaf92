"""Reading frame streams one frame at a time: video files, frame folders and numbered image sequences.

:func:`open_frames` takes

* a **video file** in any container and codec OpenCV's FFmpeg build reads (``.mp4``, ``.avi``, ``.mkv``, ``.mov``
  ...; anything that is not an image file and not a folder is tried as a video);
* a **frame folder**: every image file in it (the endings of :data:`samfuse.io.IMAGE_EXTENSIONS`), in natural
  name order (``f2.png`` before ``f10.png``);
* a **numbered sequence** ``frames/%05d.png`` (printf style ``%d`` / ``%0Nd``): the files of that folder whose names
  match, in numeric order (the numbering may start anywhere).

Frames come back as :func:`samfuse.io.read_raw` gives images: uint8 (video; uint8 or uint16 for image files),
H×W or H×W×3 in **RGB** order (OpenCV's BGR is turned around). Only one frame is held at a time (bounded memory).
A missing, empty, corrupt or frameless input raises :class:`~samfuse.io.InputError` with one line naming it, when
it is opened, before any frame is used.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import cv2.utils.logging as cv_logging
import numpy as np

from samfuse.io import IMAGE_EXTENSIONS, InputError, read_raw

# FFmpeg's own messages ("moov atom not found", decoder warnings) go straight to stderr; samfuse prints one line of
# its own instead. OpenCV reads this once, when its FFmpeg back end first starts (an explicit setting wins).
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET

__all__ = [
    "VIDEO_FOURCC",
    "FrameSource",
    "ImageFrames",
    "VideoFrames",
    "is_sequence_pattern",
    "is_video_like",
    "natural_key",
    "open_frames",
    "quiet_opencv",
]

#: Output endings samfuse writes, with the codec (FourCC) used for each unless ``--fourcc`` says otherwise.
#: ``.mkv`` gets FFV1, which is lossless: every fused frame is stored exactly (larger files).
VIDEO_FOURCC: dict[str, str] = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "FFV1"}


_quiet_lock = threading.Lock()
_quiet_depth = 0
_quiet_level = 0


class quiet_opencv:
    """Silence OpenCV's log lines, FFmpeg's included (``moov atom not found``...), while a stream is opened, read or
    written: samfuse reports one clear line of its own instead. Process-wide; may be nested and used from several
    threads at once (the level in force before the outermost entry is restored when the last one exits)."""

    def __enter__(self) -> quiet_opencv:
        global _quiet_depth, _quiet_level
        with _quiet_lock:
            if _quiet_depth == 0:
                _quiet_level = cv_logging.getLogLevel()
                cv_logging.setLogLevel(cv_logging.LOG_LEVEL_SILENT)
            _quiet_depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        global _quiet_depth
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0:
                cv_logging.setLogLevel(_quiet_level)


def is_sequence_pattern(path: str | Path) -> bool:
    """True for a numbered image sequence such as ``frames/%05d.png`` (a ``%d`` or ``%0Nd`` in the file name)."""
    return re.search(r"%0?\d*d", Path(path).name) is not None


def is_video_like(path: str | Path) -> bool:
    """True when ``path`` can only be read as a frame stream: a numbered sequence, or an existing file that is not
    an image (a video), or a name with a video ending (:data:`VIDEO_FOURCC`) whether or not it exists."""
    p = Path(path)
    if is_sequence_pattern(p):
        return True
    if p.suffix.lower() in VIDEO_FOURCC:
        return True
    return p.is_file() and p.suffix.lower() not in IMAGE_EXTENSIONS


def natural_key(path: Path) -> list[object]:
    """Sort key that orders embedded numbers by value: ``f2.png`` < ``f10.png``."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


class FrameSource:
    """A stream of frames read one at a time (see the module docstring).

    ``name``: what messages call it (the path as given); ``fps``: the frame rate a video declares (None for image
    files); ``count``: the number of frames it declares (for image files, the number of files; None when a video
    does not say); ``read_count``: frames handed out so far. ``read()`` returns the next frame or None at the end.
    Use as a context manager or call ``close()``.
    """

    name: str
    fps: float | None = None
    count: int | None = None
    read_count: int = 0

    def read(self) -> np.ndarray | None:
        raise NotImplementedError

    def close(self) -> None:
        """Release the stream (idempotent)."""

    def __iter__(self) -> Iterator[np.ndarray]:
        while (frame := self.read()) is not None:
            yield frame

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ImageFrames(FrameSource):
    """Frames from a list of image files (a frame folder or a numbered sequence), each read with ``read_raw``."""

    def __init__(self, name: str, files: list[Path]) -> None:
        self.name = name
        self.files = files
        self.count = len(files)
        self.read_count = 0

    def read(self) -> np.ndarray | None:
        if self.read_count >= len(self.files):
            return None
        frame = read_raw(self.files[self.read_count])  # InputError names the file
        self.read_count += 1
        return frame


class VideoFrames(FrameSource):
    """Frames decoded by OpenCV's FFmpeg back end from a video file, turned from BGR to RGB."""

    def __init__(self, path: Path) -> None:
        self.name = str(path)
        self.read_count = 0
        with quiet_opencv():
            cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
            if not cap.isOpened():
                cap.release()
                raise InputError(f"{path}: not a readable video (corrupt, truncated or unsupported format)")
            ok, first = cap.read()
        if not ok or first is None or first.size == 0:
            cap.release()
            raise InputError(f"{path}: no frames could be decoded (corrupt or empty video)")
        self._cap: cv2.VideoCapture | None = cap
        self._next: np.ndarray | None = first
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        self.fps = fps if np.isfinite(fps) and fps > 0 else None
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.count = count if count > 0 else None

    def read(self) -> np.ndarray | None:
        frame, self._next = self._next, None
        if frame is None and self._cap is not None:
            with quiet_opencv():
                ok, frame = self._cap.read()
            if not ok:
                frame = None
        if frame is None:
            self.close()
            return None
        self.read_count += 1
        return _bgr_to_rgb(frame)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def _bgr_to_rgb(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 3 and frame.shape[2] == 1:
        return frame[:, :, 0]
    if frame.ndim == 3 and frame.shape[2] == 4:
        return np.ascontiguousarray(frame[:, :, 2::-1])
    return np.ascontiguousarray(frame[:, :, ::-1]) if frame.ndim == 3 else frame


def _sequence_files(pattern: Path) -> list[Path]:
    """The files of ``pattern``'s folder whose names match its ``%0Nd`` field, in numeric order."""
    folder = pattern.parent
    if not folder.is_dir():
        raise InputError(f"{pattern}: no such folder {folder}")
    match = re.search(r"%(0?)(\d*)d", pattern.name)
    assert match is not None
    width = int(match.group(2)) if match.group(2) else 0
    digits = rf"\d{{{width}}}" if match.group(1) and width else r"\d+"
    regex = re.compile(
        re.escape(pattern.name[: match.start()]) + f"({digits})" + re.escape(pattern.name[match.end() :]) + r"\Z"
    )
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := regex.match(p.name)) and p.is_file()]
    if not found:
        raise InputError(f"{pattern}: no file of {folder} matches this numbered sequence")
    return [p for _, p in sorted(found, key=lambda t: (t[0], t[1].name))]


def open_frames(path: str | Path) -> FrameSource:
    """Open a video file, a frame folder or a numbered sequence (see the module docstring).

    Raises :class:`InputError` with one line naming ``path``: missing, empty file, an image file (not a stream),
    a folder without image files, a pattern that matches nothing, or a video OpenCV cannot open or decode.
    """
    path = Path(path)
    if is_sequence_pattern(path):
        return ImageFrames(str(path), _sequence_files(path))
    if path.is_dir():
        files = sorted(
            (p for p in path.iterdir() if not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS),
            key=natural_key,
        )
        files = [p for p in files if p.is_file()]
        if not files:
            raise InputError(f"{path}: no image frames in this folder")
        return ImageFrames(str(path), files)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file")
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        raise InputError(f"{path}: a single image, not a video (give a video, a frame folder or frames/%05d.png)")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file")
    return VideoFrames(path)
