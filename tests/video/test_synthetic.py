"""samfuse.video.synthetic: registered pan-and-zoom clips from one real pair."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from samfuse.io import read_raw
from samfuse.video.frames import open_frames
from samfuse.video.synthetic import pan_zoom_frames
from video_clips import FPS, FRAMES, SIZE, source


def test_frames_are_a_moving_window_of_the_real_pair_identical_for_both_modalities() -> None:
    ir, vi = read_raw(source("ir")), read_raw(source("vi"))
    pairs = list(pan_zoom_frames(ir, vi, FRAMES, SIZE))
    assert len(pairs) == FRAMES
    assert all(a.shape == (120, 160) and b.shape == (120, 160, 3) and a.dtype == b.dtype == np.uint8 for a, b in pairs)
    # the same window for both: the IR of a pair made from (vi's luma, vi) matches vi's luma frame by frame
    luma = cv2.cvtColor(vi, cv2.COLOR_RGB2GRAY)
    for (_, b), (c, _) in zip(pairs, pan_zoom_frames(luma, vi, FRAMES, SIZE), strict=True):
        assert np.abs(c.astype(int) - cv2.cvtColor(b, cv2.COLOR_RGB2GRAY)).mean() < 1.0
    # it moves: consecutive frames differ, slowly (a few grey levels per pixel on average)
    steps = [np.abs(pairs[k + 1][1].astype(int) - pairs[k][1]).mean() for k in range(FRAMES - 1)]
    assert min(steps) > 0.5 and max(steps) < 15, steps
    # frame 0 is real content: a shrunk window of the image, not padding (no constant rows or columns)
    assert pairs[0][1].std(axis=(0, 2)).min() > 0 and pairs[0][0].std() > 10


def test_written_clips_reopen_with_their_frame_count_size_and_rate(
    clips: tuple[Path, Path], frames: tuple[Path, Path]
) -> None:
    for clip, folder in zip(clips, frames, strict=True):
        with open_frames(clip) as video, open_frames(folder) as images:
            assert video.fps == FPS and video.count == FRAMES and images.count == FRAMES
            decoded = list(zip(video, images, strict=True))
        assert len(decoded) == FRAMES
        for got, exact in decoded:  # mp4v is lossy: close to the lossless frames, not equal
            assert got.shape[:2] == (SIZE[1], SIZE[0])
            grey = got if got.ndim == 2 else cv2.cvtColor(got, cv2.COLOR_RGB2GRAY)
            ref = exact if exact.ndim == 2 else cv2.cvtColor(exact, cv2.COLOR_RGB2GRAY)
            assert np.abs(grey.astype(int) - ref).mean() < 4.0
