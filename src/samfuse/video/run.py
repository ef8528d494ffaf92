"""Fusing two frame streams into a video: read, fuse and encode frame by frame, with bounded memory.

:func:`fuse_video` is what ``samfuse fuse --out FUSED.mp4`` runs:

* frames pair **by index** (the n-th IR frame with the n-th visible frame); when one stream is longer, fusion stops
  at the end of the shorter one and one warning says so;
* sizes follow the pipeline's ``resize_to`` (without it, streams of different sizes are an error on frame 0);
* the output keeps the **visible stream's frame rate** (``fps=`` overrides it; frame folders and numbered
  sequences have none, and get :data:`DEFAULT_FPS`);
* decoding of the next frames and encoding of finished ones run in two worker threads (a few frames ahead at
  most), so memory stays bounded whatever the length;
* the video is written to a temporary file in the output's folder and renamed at the end
  (:class:`~samfuse.video.sink.VideoSink`): an error (a corrupt frame, sizes that differ) deletes it, so nothing is
  left half-written;
* on ``KeyboardInterrupt`` (Ctrl-C) the frames already fused are written, the container is closed (playable) and
  renamed to the output, and :class:`VideoInterrupted` is raised with what was written; interrupted before the
  first frame was written, nothing is left.

``preview=True`` writes IR | visible | fused side by side (3W×H, the inputs as fused: after ``resize_to`` and the
value ranges, grey IR shown in grey) instead of the fused video alone.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from samfuse.io import to_uint8
from samfuse.video.frames import FrameSource, VideoFrames, quiet_opencv
from samfuse.video.fuser import Fuser
from samfuse.video.sink import VideoSink

__all__ = ["DEFAULT_FPS", "VideoInterrupted", "VideoRun", "fuse_video", "preview_frame"]

#: Frame rate of a video made from image files when none is given (``--fps``).
DEFAULT_FPS = 25.0

#: Frames read ahead of, and written behind, the method at most.
AHEAD = 4


@dataclass
class VideoRun:
    """What :func:`fuse_video` wrote: the output, frames written, frame rate, (width, height), the seconds the
    whole run took (open to close) and whether it was interrupted."""

    out: Path
    frames: int
    fps: float
    size: tuple[int, int]
    seconds: float
    interrupted: bool = False

    @property
    def frames_per_second(self) -> float:
        """Throughput of the run: frames fused, encoded and written per second of wall time."""
        return self.frames / self.seconds if self.seconds > 0 else float("nan")


class VideoInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`fuse_video`. ``run`` is what was finished into a playable file at the output (its
    frames fused before the interruption), or None when nothing was written."""

    def __init__(self, run: VideoRun | None) -> None:
        super().__init__()
        self.run = run


def preview_frame(ir: np.ndarray, vi: np.ndarray, fused: np.ndarray) -> np.ndarray:
    """IR | visible | fused side by side as one uint8 RGB frame (3W×H); grey panels repeated into RGB."""

    def rgb(img: np.ndarray) -> np.ndarray:
        img = to_uint8(img)
        return np.repeat(img[:, :, None], 3, axis=2) if img.ndim == 2 else img

    return np.concatenate([rgb(ir), rgb(vi), rgb(fused)], axis=1)


def fuse_video(
    fuser: Fuser,
    ir: FrameSource,
    vi: FrameSource,
    out: str | Path,
    *,
    fps: float | None = None,
    preview: bool = False,
    fourcc: str | None = None,
    warn: Callable[[str], None] | None = None,
    progress: bool = True,
    desc: str = "fuse",
    on_frame: Callable[[int], None] | None = None,
) -> VideoRun:
    """Fuse the frame streams ``ir`` and ``vi`` into the video ``out`` (see the module docstring).

    ``fourcc``: the codec (default by the output's ending, :data:`~samfuse.video.frames.VIDEO_FOURCC`).
    ``warn``: called with one line per warning (shorter stream, fewer frames than a header declares).
    ``on_frame(n)``: called in the calling thread after frame ``n`` (1-based) is fused and queued for writing.
    Raises :class:`~samfuse.io.InputError` for bad input (nothing written), :class:`VideoInterrupted` on Ctrl-C.
    """
    out = Path(out)
    say = warn or (lambda line: None)
    start = time.perf_counter()
    rate = float(fps) if fps else (vi.fps or DEFAULT_FPS)
    known = [s.count for s in (ir, vi)]
    total = min(known) if all(c is not None for c in known) else None  # type: ignore[type-var]
    reader = ThreadPoolExecutor(1, thread_name_prefix="samfuse-video-read")
    writer = ThreadPoolExecutor(1, thread_name_prefix="samfuse-video-write")
    reads: deque[Future] = deque()
    writes: deque[Future] = deque()
    sink: VideoSink | None = None
    done = 0

    def read_pair() -> tuple[np.ndarray | None, np.ndarray | None]:
        return ir.read(), vi.read()

    def drain_writes() -> None:
        while writes:
            writes.popleft().result()

    def result(interrupted: bool) -> VideoRun:
        assert sink is not None
        return VideoRun(out, sink.frames, rate, sink.size, time.perf_counter() - start, interrupted)

    quiet = quiet_opencv()
    quiet.__enter__()
    try:
        with tqdm(total=total, unit="frame", desc=desc, dynamic_ncols=True, disable=not progress) as bar:
            while True:
                while len(reads) < AHEAD:
                    reads.append(reader.submit(read_pair))
                a, b = reads.popleft().result()
                if a is None or b is None:
                    break
                names = (f"{ir.name} frame {done}", f"{vi.name} frame {done}")
                ir_a, vi_a, fused = fuser.fuse_with_inputs(a, b, names)
                frame = preview_frame(ir_a, vi_a, fused) if preview else to_uint8(fused)
                if sink is None:
                    sink = VideoSink(out, rate, (frame.shape[1], frame.shape[0]), fourcc)
                writes.append(writer.submit(sink.write, frame))
                while len(writes) > AHEAD:  # bounded memory: wait for the oldest write
                    writes.popleft().result()
                done += 1
                bar.update()
                if on_frame is not None:
                    on_frame(done)
        _report_ends(ir, vi, a, b, done, say)
        drain_writes()
        assert sink is not None  # both streams hold at least one frame (open_frames)
        sink.finish()
        return result(False)
    except KeyboardInterrupt:
        for fut in reads:
            fut.cancel()
        if sink is None:
            raise VideoInterrupted(None) from None
        try:
            drain_writes()
            if sink.frames == 0:
                sink.abort()
                raise VideoInterrupted(None) from None
            sink.finish()
        except VideoInterrupted:
            raise
        except BaseException:  # a second Ctrl-C (or a failed write) while finishing: abandon the file
            for fut in writes:
                fut.cancel()
            writer.shutdown(wait=True)
            sink.abort()
            raise
        raise VideoInterrupted(result(True)) from None
    except BaseException:
        for fut in reads:
            fut.cancel()
        if sink is not None:
            for fut in writes:
                fut.exception()  # let the writer thread finish before the file is deleted
            sink.abort()
        raise
    finally:
        reader.shutdown(wait=True, cancel_futures=True)
        writer.shutdown(wait=True)
        quiet.__exit__(None, None, None)


def _report_ends(
    ir: FrameSource,
    vi: FrameSource,
    a: np.ndarray | None,
    b: np.ndarray | None,
    done: int,
    say: Callable[[str], None],
) -> None:
    """One warning when one stream is longer than the other, or a video holds fewer frames than it declares
    (then that is the reason given: a damaged file decodes as far as it can)."""
    short_of = {
        id(src): src.count
        for src, frame in ((ir, a), (vi, b))
        if frame is None and isinstance(src, VideoFrames) and src.count is not None and src.count - done > 1
    }
    for src in (ir, vi):
        if id(src) in short_of:
            say(
                f"{src.name}: ended after {done} frames, its header declares {short_of[id(src)]} (truncated or "
                f"damaged?); fused the first {done}"
            )
    if (a is None) != (b is None):
        short, long = (ir, vi) if a is None else (vi, ir)
        if id(short) not in short_of:
            more = f"{long.count} frames" if long.count is not None else "more frames"
            say(f"{short.name} has {done} frames, {long.name} {more}: fused the first {done} (the shorter stream)")
