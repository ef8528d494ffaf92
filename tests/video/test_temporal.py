"""Temporal stability (samfuse.metrics.temporal, `samfuse eval` on sequences) on clips of a real pair."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from nothing_lost import assert_one_error
from nothing_lost import samfuse as run
from samfuse.metrics.temporal import TemporalStabilityMeter, luminance, temporal_stability
from samfuse.video import Fuser, open_frames
from video_clips import FRAMES


def sequences(frames: tuple[Path, Path], method: str) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    fuser = Fuser(method, channels="rgb")
    with open_frames(frames[0]) as ir_src, open_frames(frames[1]) as vi_src:
        ir, vi = list(ir_src), list(vi_src)
    return ir, vi, [fuser(a, b) for a, b in zip(ir, vi, strict=True)]


def noisy(seq: list[np.ndarray], sigma: float, seed: int = 0) -> list[np.ndarray]:
    """A method that adds fresh noise to every frame (8-bit grey levels)."""
    rng = np.random.default_rng(seed)
    return [np.clip(f + rng.normal(0.0, sigma, f.shape), 0, 255).astype(np.uint8) for f in seq]


def test_identical_streams_and_frozen_output() -> None:
    clip = [np.full((8, 8), v, np.uint8) for v in (0, 10, 20, 25)]
    same = temporal_stability(clip, clip, clip)
    assert (same.ts, same.flicker, same.frames) == (1.0, 0.0, 4)
    frozen = temporal_stability(clip, clip, [clip[0]] * 4)
    assert frozen.ts == 0.0 and frozen.flicker == 0.0
    # the fused change beyond the sources' change: 3 levels more at every pixel of every step
    jumpy = [np.full((8, 8), v, np.uint8) for v in (0, 13, 20, 28)]  # |Δ| = 13, 7, 8 against 10, 10, 5
    res = temporal_stability(clip, clip, jumpy)
    assert res.flicker == pytest.approx((3 + 0 + 3) / 3)
    assert res.ts == pytest.approx(28 / 25)
    with pytest.raises(ValueError, match="at least 2 frames"):
        temporal_stability(clip[:1], clip[:1], clip[:1])
    with pytest.raises(ValueError, match="sizes differ"):
        TemporalStabilityMeter().update(clip[0], clip[0], np.zeros((4, 4), np.uint8))


def test_luminance_is_bt601_on_rgb() -> None:
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[..., 0] = 255
    assert luminance(rgb)[0, 0] == pytest.approx(0.299)
    assert luminance(np.full((2, 2), 65535, np.uint16))[0, 0] == 1.0


def test_noise_added_per_frame_scores_worse_on_a_real_clip(frames: tuple[Path, Path]) -> None:
    ir, vi, fused = sequences(frames, "average")
    clean = temporal_stability(ir, vi, fused)
    shaky = temporal_stability(ir, vi, noisy(fused, 3.0))
    assert clean.frames == shaky.frames == FRAMES
    # average is a fixed convex combination: it never moves more than its sources (8-bit rounding aside)
    assert clean.ts < 1.0 and clean.flicker < 0.05
    assert shaky.flicker > 0.5 and shaky.flicker > 50 * clean.flicker  # measured: 0.83 against 0.009
    assert shaky.ts > clean.ts
    # max is pixel-wise 1-Lipschitz too; laplacian's max-abs detail selection switches between frames
    assert temporal_stability(*sequences(frames, "max")).flicker < 0.05
    assert temporal_stability(*sequences(frames, "laplacian")).flicker > 10 * clean.flicker  # measured: 0.57


def test_eval_reports_temporal_stability_of_videos(
    frames: tuple[Path, Path], lossless: tuple[Path, Path], tmp_path: Path
) -> None:
    ir, vi = lossless
    clean = tmp_path / "clean.mkv"
    assert run("fuse", "--ir", ir, "--vi", vi, "--out", clean, "--method", "average").code == 0
    # a noisy method's output, written the same way (lossless)
    shaky = tmp_path / "shaky"
    shaky.mkdir()
    _, _, fused = sequences(frames, "average")
    for k, f in enumerate(noisy(fused, 3.0)):
        cv2.imwrite(str(shaky / f"{k:05d}.png"), f[:, :, ::-1])
    table = {}
    for name, path, extra in (("clean", clean, []), ("shaky", shaky, ["--temporal"])):
        csv_out = tmp_path / f"{name}.csv"
        res = run("eval", "--ir", ir, "--vi", vi, "--fused", path, "--out", csv_out, *extra)
        assert res.code == 0, res.stderr
        assert f"temporal stability, {FRAMES} frames" in res.stdout
        cells = [line.strip("| ").split(" | ") for line in res.stdout.splitlines() if line.startswith("| ")]
        table[name] = {label: float(value) for label, value in cells[1:]}
        with csv_out.open() as fh:
            steps = list(csv.DictReader(fh))
        assert len(steps) == FRAMES - 1 and set(steps[0]) == {"step", "fused_change", "source_change", "excess"}
    ts, flicker = "TS (fused change / larger source change)", next(k for k in table["clean"] if k.startswith("flicker"))
    assert table["shaky"][flicker] > 0.5 and table["shaky"][flicker] > 50 * table["clean"][flicker]
    assert table["shaky"][ts] > table["clean"][ts]
    # the same number as the function on the same (lossless) frames
    assert table["clean"][flicker] == pytest.approx(temporal_stability(*sequences(frames, "average")).flicker, abs=5e-5)


def test_eval_refuses_a_fused_video_of_another_size(lossless: tuple[Path, Path], tmp_path: Path) -> None:
    ir, vi = lossless
    preview = tmp_path / "preview.mkv"
    assert run("fuse", "--ir", ir, "--vi", vi, "--out", preview, "--preview").code == 0
    assert_one_error(
        run("eval", "--ir", ir, "--vi", vi, "--fused", preview),
        f"{preview} (480×120) has neither {ir}'s size (160×120) nor {vi}'s (160×120)",
        code=1,
    )
