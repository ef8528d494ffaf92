"""Paired test clips made once per session from a real MSRS pair (samfuse.video.synthetic): 24 frames at 160×120.

* ``frames``: lossless frame folders ``ir/00000.png``... (PNG, so every decoded frame is known exactly);
* ``clips``: the same frames as ``ir.mp4`` / ``vi.mp4`` (mp4v, 12 fps), as a camera would deliver them;
* ``lossless``: the same as ``ir.mkv`` / ``vi.mkv`` (FFV1, lossless, 12 fps).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from samfuse.video.synthetic import write_clips, write_frame_folders
from video_clips import FPS, FRAMES, SIZE, source


@pytest.fixture(scope="session")
def frames(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_frame_folders(source("ir"), source("vi"), tmp_path_factory.mktemp("frames"), frames=FRAMES, size=SIZE)


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("clips")
    return write_clips(source("ir"), source("vi"), folder, frames=FRAMES, size=SIZE, fps=FPS)


@pytest.fixture(scope="session")
def lossless(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("lossless")
    return write_clips(source("ir"), source("vi"), folder, frames=FRAMES, size=SIZE, fps=FPS, ext=".mkv")
