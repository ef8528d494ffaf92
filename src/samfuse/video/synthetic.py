"""Paired IR–visible test clips made from one registered image pair (no paired videos exist in the data folder).

A 4:3 window moves slowly across the pair and zooms in, identically for both modalities, so the two clips stay
registered frame by frame and every frame is real image content (resampled, nothing drawn). Used by the video
tests and ``benchmarks/realtime.py``; ``python benchmarks/make_clips.py`` writes clips for trying the commands.

>>> ir_clip, vi_clip = write_clips("MSRS/ir/00004N.png", "MSRS/vi/00004N.png", "clips/")   # doctest: +SKIP
>>> ir_clip.name, vi_clip.name                                                             # doctest: +SKIP
('ir.mp4', 'vi.mp4')
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from samfuse.io import read_raw, write_image
from samfuse.video.sink import VideoSink

__all__ = ["pan_zoom_frames", "write_clips", "write_frame_folders"]


def _window(t: float, width: int, height: int, zoom: float) -> tuple[float, float, float]:
    """(centre x, centre y, window width) at time t ∈ [0, 1]: from the upper left to the lower right of the
    image, the window shrinking from 90 % of the largest 4:3 window to ``90 % / zoom``."""
    full = min(width, height * 4 / 3)
    w = 0.9 * full * (1.0 + (1.0 / zoom - 1.0) * t)
    h = w * 3 / 4
    ease = 0.5 - 0.5 * np.cos(np.pi * t)  # slow start and end
    cx = w / 2 + (width - w) * (0.15 + 0.7 * ease)
    cy = h / 2 + (height - h) * (0.2 + 0.6 * ease)
    return cx, cy, w


def pan_zoom_frames(
    ir: np.ndarray,
    vi: np.ndarray,
    frames: int = 24,
    size: tuple[int, int] = (160, 120),
    zoom: float = 1.25,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``frames`` registered (IR, visible) frame pairs of ``size`` = (width, height) from one image pair.

    ``ir`` and ``vi``: arrays as :func:`samfuse.io.read_raw` gives them, of one size (grey IR stays grey, RGB stays
    RGB, dtype kept). Each frame is the same 4:3 window of both images (see :func:`_window`), resampled with area
    averaging then bilinear interpolation, so a sub-pixel move gives a sub-pixel shift.
    """
    if ir.shape[:2] != vi.shape[:2]:
        raise ValueError(f"the pair must have one size, got {ir.shape[:2]} and {vi.shape[:2]}")
    height, width = ir.shape[:2]
    out_w, out_h = size
    _, _, smallest = _window(1.0, width, height, zoom)
    scale = min(1.0, 1.5 * out_w / smallest)  # pre-shrink (area) so bilinear sampling does not alias
    small = [
        cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1.0 else img
        for img in (ir, vi)
    ]
    for k in range(frames):
        cx, cy, w = _window(k / max(1, frames - 1), width, height, zoom)
        h = w * 3 / 4
        sx, sy = out_w / w, out_h / h  # output pixels per source pixel
        # output pixel (x, y) samples the source at continuous (cx - w/2 + (x + 0.5)/sx, ...), i.e. at index
        # (that · scale - 0.5) of the shrunk image (pixel centres at index + 0.5)
        matrix = np.array(
            [
                [scale / sx, 0.0, (cx - w / 2 + 0.5 / sx) * scale - 0.5],
                [0.0, scale / sy, (cy - h / 2 + 0.5 / sy) * scale - 0.5],
            ]
        )
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        warped = [
            cv2.warpAffine(img, matrix, (out_w, out_h), flags=flags, borderMode=cv2.BORDER_REFLECT) for img in small
        ]
        yield warped[0], warped[1]


def write_clips(
    ir: str | Path,
    vi: str | Path,
    folder: str | Path,
    *,
    frames: int = 24,
    size: tuple[int, int] = (160, 120),
    fps: float = 12.0,
    ext: str = ".mp4",
    fourcc: str | None = None,
    zoom: float = 1.25,
    names: tuple[str, str] = ("ir", "vi"),
) -> tuple[Path, Path]:
    """Write the pan-and-zoom clips of the image pair ``ir``, ``vi`` (files) as ``folder/ir<ext>`` and
    ``folder/vi<ext>``; returns their paths. ``ext``: ``.mp4`` (mp4v), ``.avi`` (MJPG), ``.mkv`` (FFV1, lossless),
    or ``fourcc`` to choose. 8-bit frames (a 16-bit pair is reduced, as :func:`samfuse.io.to_uint8` does)."""
    folder = Path(folder)
    paths = (folder / f"{names[0]}{ext}", folder / f"{names[1]}{ext}")
    sinks = [VideoSink(p, fps, size, fourcc) for p in paths]
    try:
        for pair in pan_zoom_frames(read_raw(ir), read_raw(vi), frames, size, zoom):
            for sink, frame in zip(sinks, pair, strict=True):
                sink.write(frame)
    except BaseException:
        for sink in sinks:
            sink.abort()
        raise
    for sink in sinks:
        sink.finish()
    return paths


def write_frame_folders(
    ir: str | Path,
    vi: str | Path,
    folder: str | Path,
    *,
    frames: int = 24,
    size: tuple[int, int] = (160, 120),
    zoom: float = 1.25,
    pattern: str = "{:05d}.png",
    names: tuple[str, str] = ("ir", "vi"),
) -> tuple[Path, Path]:
    """The same frames as :func:`write_clips`, as image files ``folder/ir/00000.png``... (lossless, dtype kept);
    returns the two folders."""
    folder = Path(folder)
    dirs = (folder / names[0], folder / names[1])
    for k, pair in enumerate(pan_zoom_frames(read_raw(ir), read_raw(vi), frames, size, zoom)):
        for d, frame in zip(dirs, pair, strict=True):
            write_image(d / pattern.format(k), frame)
    return dirs
