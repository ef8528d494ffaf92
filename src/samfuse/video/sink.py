"""Writing a video frame by frame into a temporary file beside the output, renamed when the container is closed.

:class:`VideoSink` opens OpenCV's FFmpeg writer on ``.<stem>.<random>.part<ext>`` in the output's folder (the
ending is kept because FFmpeg picks the container from it). :meth:`~VideoSink.finish` closes the container (for
MP4 this writes the index that makes the file playable) and renames the file to the output; :meth:`~VideoSink.abort`
closes and deletes it. So a failed run never leaves a half-written output, and an interrupted one can still be
finished into a playable file holding the frames written so far.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

from samfuse.io import InputError, to_uint8
from samfuse.io.writing import _umask
from samfuse.video.frames import VIDEO_FOURCC, quiet_opencv

__all__ = ["VideoSink", "fourcc_for"]


def fourcc_for(path: str | Path, fourcc: str | None = None) -> str:
    """The codec for ``path``: ``fourcc`` when given (4 characters), else the default of its ending
    (:data:`~samfuse.video.frames.VIDEO_FOURCC`). Raises :class:`InputError` for an ending without a default."""
    path = Path(path)
    if fourcc is not None:
        if len(fourcc) != 4:
            raise InputError(f"--fourcc {fourcc!r}: a codec code has 4 characters (e.g. mp4v, MJPG, FFV1)")
        return fourcc
    try:
        return VIDEO_FOURCC[path.suffix.lower()]
    except KeyError:
        endings = ", ".join(VIDEO_FOURCC)
        raise InputError(f"{path}: not a video file ending samfuse writes ({endings})") from None


class VideoSink:
    """A video written frame by frame, atomically (see the module docstring).

    ``write(frame)`` takes H×W×3 **RGB** or H×W grey frames (uint8; other dtypes via :func:`samfuse.io.to_uint8`),
    all of the size ``size`` = (width, height). ``frames`` counts the frames written.
    """

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int], fourcc: str | None = None) -> None:
        self.path = Path(path)
        self.size = size
        self.frames = 0
        code = fourcc_for(self.path, fourcc)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self.path.stem}.", suffix=f".part{self.path.suffix}", dir=self.path.parent
        )
        os.close(fd)
        self.tmp = Path(tmp)
        with quiet_opencv():
            writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*code), float(fps), size, True)
        if not writer.isOpened():
            writer.release()
            self.tmp.unlink(missing_ok=True)
            raise InputError(f"{self.path}: OpenCV cannot write codec {code!r} into this container")
        self._writer: cv2.VideoWriter | None = writer

    def write(self, frame: np.ndarray) -> None:
        if self._writer is None:
            raise RuntimeError("the video is already closed")
        out = to_uint8(frame)
        if out.shape[:2] != (self.size[1], self.size[0]):
            raise InputError(
                f"{self.path}: frame {self.frames} is {out.shape[1]}×{out.shape[0]}, "
                f"the video is {self.size[0]}×{self.size[1]}"
            )
        bgr = np.repeat(out[:, :, None], 3, axis=2) if out.ndim == 2 else np.ascontiguousarray(out[:, :, ::-1])
        self._writer.write(bgr)
        self.frames += 1

    def finish(self) -> Path:
        """Close the container and rename it to the output (replacing an existing file); returns the output.
        Once finished (or aborted), further calls do nothing."""
        if self._writer is None and not self.tmp.exists():
            return self.path
        try:
            self._close()
            os.chmod(self.tmp, 0o666 & ~_umask())
            os.replace(self.tmp, self.path)
        except BaseException:
            self.tmp.unlink(missing_ok=True)
            raise
        return self.path

    def abort(self) -> None:
        """Close and delete the temporary file; the output is left as it was."""
        try:
            self._close()
        finally:
            self.tmp.unlink(missing_ok=True)

    def _close(self) -> None:
        if self._writer is not None:
            with quiet_opencv():
                self._writer.release()
            self._writer = None

    def __enter__(self) -> VideoSink:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        """Finish on success, abort on an error (a KeyboardInterrupt included: call :meth:`finish` yourself to
        keep the frames written before an interruption)."""
        if self._writer is None and not self.tmp.exists():
            return
        if exc_type is None:
            self.finish()
        else:
            self.abort()
