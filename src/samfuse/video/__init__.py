"""Video and frame-by-frame fusion (issue 23).

* :class:`Fuser` (:mod:`samfuse.video.fuser`): a method built once, ``fuser(ir_frame, vi_frame) -> fused`` on
  NumPy arrays (BGR by default, the visible frame's dtype back); also ``samfuse.Fuser``.
* :func:`open_frames` (:mod:`samfuse.video.frames`): video files, frame folders and ``frames/%05d.png``
  sequences, read one frame at a time.
* :class:`VideoSink` (:mod:`samfuse.video.sink`): a video written frame by frame into a temporary file, renamed
  when the container is closed.
* :func:`fuse_video` (:mod:`samfuse.video.run`): what ``samfuse fuse --out FUSED.mp4`` runs.
* :mod:`samfuse.video.synthetic`: paired pan-and-zoom test clips from one image pair.

The temporal stability metric is :func:`samfuse.metrics.temporal.temporal_stability`. Names are imported on
first use (the frame readers need only OpenCV; the rest loads torch).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_WHERE = {
    "Fuser": "samfuse.video.fuser",
    "open_frames": "samfuse.video.frames",
    "FrameSource": "samfuse.video.frames",
    "VideoSink": "samfuse.video.sink",
    "fuse_video": "samfuse.video.run",
    "VideoRun": "samfuse.video.run",
    "VideoInterrupted": "samfuse.video.run",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'samfuse.video' has no attribute {name!r}")
