"""`samfuse fuse` on videos, frame folders and numbered sequences (issue 23), on clips of a real MSRS pair."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from nothing_lost import Snapshot, assert_one_error
from nothing_lost import samfuse as run
from samfuse.io import read_raw
from samfuse.pipeline import FusionPipeline
from samfuse.video import Fuser
from video_clips import FPS, FRAMES, SIZE, decode_all, video_info


def files_in(folder: Path) -> list[str]:
    """Every entry of a folder, hidden ones (temporary files) included."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_video_round_trip_keeps_count_size_and_the_visible_rate(clips: tuple[Path, Path], tmp_path: Path) -> None:
    ir, vi = clips
    out = tmp_path / "out" / "fused.mp4"
    snap = Snapshot(ir, vi)
    res = run("fuse", "--ir", ir, "--vi", vi, "--out", out, "--method", "laplacian")
    assert res.code == 0, res.stderr
    assert res.stderr.splitlines()[-1].startswith(f"{FRAMES} frames fused into {out} (160×120, 12 fps; ")
    assert video_info(out) == (FRAMES, FPS, SIZE)
    decoded = decode_all(out)
    assert len(decoded) == FRAMES and decoded[0].shape == (120, 160, 3)
    assert files_in(out.parent) == ["fused.mp4"]  # the temporary file was renamed, nothing else left
    snap.assert_unchanged()
    # IR at another rate: the output keeps the visible stream's; --fps overrides it
    fast_ir = tmp_path / "fast" / "ir.mp4"
    fast_ir.parent.mkdir()
    cap, writer = cv2.VideoCapture(str(ir)), cv2.VideoWriter(str(fast_ir), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, SIZE)
    while (frame := cap.read())[0]:
        writer.write(frame[1])
    writer.release()
    assert video_info(fast_ir)[1] == 30.0
    assert run("fuse", "--ir", fast_ir, "--vi", vi, "--out", tmp_path / "a.mp4").code == 0
    assert video_info(tmp_path / "a.mp4")[1] == FPS
    assert run("fuse", "--ir", fast_ir, "--vi", vi, "--out", tmp_path / "b.avi", "--fps", "5").code == 0
    assert video_info(tmp_path / "b.avi") == (FRAMES, 5.0, SIZE)


def test_frames_pair_by_index_and_each_equals_fuser_on_that_pair(frames: tuple[Path, Path], tmp_path: Path) -> None:
    """Frame folders in, lossless .mkv out: frame k of the video is exactly Fuser(ir_k, vi_k), for every k."""
    ir, vi = frames
    out = tmp_path / "fused.mkv"
    res = run("fuse", "--ir", ir, "--vi", vi, "--out", out, "--method", "laplacian")
    assert res.code == 0, res.stderr
    assert video_info(out) == (FRAMES, 25.0, SIZE)  # frame folders have no rate: 25
    fuser = Fuser("laplacian", channels="bgr")
    ir_files, vi_files = sorted(ir.iterdir()), sorted(vi.iterdir())
    decoded = decode_all(out)
    assert len(decoded) == FRAMES
    for k, got in enumerate(decoded):
        expected = fuser(cv2.imread(str(ir_files[k]), cv2.IMREAD_UNCHANGED), cv2.imread(str(vi_files[k])))
        assert np.array_equal(got, expected), k
    # a shift of one frame would not match: consecutive fused frames differ
    assert not np.array_equal(decoded[0], decoded[1])


def test_a_numbered_sequence_is_read_like_a_frame_folder(frames: tuple[Path, Path], tmp_path: Path) -> None:
    ir, vi = frames
    # a sequence starting at 1 beside other files: only the matching names, in numeric order
    seq = tmp_path / "seq"
    seq.mkdir()
    for k, f in enumerate(sorted(ir.iterdir())):
        shutil.copy(f, seq / f"ir_{k + 1}.png")
    (seq / "notes.txt").write_text("not a frame")
    shutil.copy(next(ir.iterdir()), seq / "other_7.png")
    a, b = tmp_path / "seq.mkv", tmp_path / "folder.mkv"
    assert run("fuse", "--ir", seq / "ir_%d.png", "--vi", vi / "%05d.png", "--out", a).code == 0
    assert run("fuse", "--ir", ir, "--vi", vi, "--out", b).code == 0
    assert all(np.array_equal(x, y) for x, y in zip(decode_all(a), decode_all(b), strict=True))
    assert len(decode_all(a)) == FRAMES


def test_the_shorter_stream_ends_the_video_with_one_warning(
    frames: tuple[Path, Path], clips: tuple[Path, Path], tmp_path: Path
) -> None:
    ir, vi = frames
    short = tmp_path / "short"
    short.mkdir()
    for f in sorted(vi.iterdir())[:20]:
        shutil.copy(f, short)
    out = tmp_path / "f.mp4"
    res = run("fuse", "--ir", ir, "--vi", short, "--out", out)
    assert res.code == 0, res.stderr
    assert res.warnings == [f"warning: {short} has 20 frames, {ir} 24 frames: fused the first 20 (the shorter stream)"]
    assert video_info(out)[0] == 20 and len(decode_all(out)) == 20
    # the other way round, with a video as the longer stream
    res = run("fuse", "--ir", short, "--vi", clips[1], "--out", tmp_path / "g.mp4")
    assert res.warnings == [
        f"warning: {short} has 20 frames, {clips[1]} 24 frames: fused the first 20 (the shorter stream)"
    ]


def test_unequal_sizes_follow_resize_to_or_fail_with_one_line_and_nothing_written(
    frames: tuple[Path, Path], tmp_path: Path
) -> None:
    ir, vi = frames
    half = tmp_path / "half"
    half.mkdir()
    for f in sorted(ir.iterdir()):
        cv2.imwrite(str(half / f.name), cv2.resize(cv2.imread(str(f)), (80, 60), interpolation=cv2.INTER_AREA))
    out = tmp_path / "out" / "f.mp4"
    res = run("fuse", "--ir", half, "--vi", vi, "--out", out)
    assert_one_error(
        res,
        f"{half} frame 0 (80×60) and {vi} frame 0 (160×120): sizes differ (use --resize-to ir|vi) (nothing written)",
        code=1,
    )
    assert files_in(out.parent) == []
    for side, size in (("vi", (160, 120)), ("ir", (80, 60))):
        res = run("fuse", "--ir", half, "--vi", vi, "--out", tmp_path / f"{side}.mp4", "--resize-to", side)
        assert res.code == 0, res.stderr
        assert video_info(tmp_path / f"{side}.mp4") == (FRAMES, 25.0, size)


def test_preview_is_ir_visible_fused_side_by_side(frames: tuple[Path, Path], tmp_path: Path) -> None:
    ir, vi = frames
    fused, preview = tmp_path / "fused.mkv", tmp_path / "preview.mkv"
    assert run("fuse", "--ir", ir, "--vi", vi, "--out", fused).code == 0
    res = run("fuse", "--ir", ir, "--vi", vi, "--out", preview, "--preview")
    assert res.code == 0, res.stderr
    assert "(480×120, 25 fps;" in res.stderr
    assert video_info(preview) == (FRAMES, 25.0, (480, 120))
    ir_files, vi_files = sorted(ir.iterdir()), sorted(vi.iterdir())
    for k, (panel, alone) in enumerate(zip(decode_all(preview), decode_all(fused), strict=True)):
        assert np.array_equal(panel[:, :160], cv2.cvtColor(cv2.imread(str(ir_files[k]), 0), cv2.COLOR_GRAY2BGR))
        assert np.array_equal(panel[:, 160:320], cv2.imread(str(vi_files[k])))
        assert np.array_equal(panel[:, 320:], alone)


def test_ctrl_c_leaves_a_playable_video_of_the_frames_done(
    clips: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ir, vi = clips
    original = FusionPipeline.fuse_prepared
    calls = {"n": 0}

    def interrupt_after(k: int):
        def fuse(self: FusionPipeline, *args: object, **kwargs: object) -> np.ndarray:
            if calls["n"] == k:
                raise KeyboardInterrupt
            calls["n"] += 1
            return original(self, *args, **kwargs)

        return fuse

    out = tmp_path / "out" / "fused.mp4"
    monkeypatch.setattr(FusionPipeline, "fuse_prepared", interrupt_after(7))
    res = run("fuse", "--ir", ir, "--vi", vi, "--out", out)
    assert res.code == 130, res.stderr
    assert res.stderr.splitlines()[-1] == (
        f"interrupted: 7 frames fused into {out} (a playable video; run again with --overwrite to fuse the whole "
        "stream)"
    )
    assert "Traceback" not in res.stderr
    assert files_in(out.parent) == ["fused.mp4"]  # finalised and renamed, no temporary file left
    assert video_info(out) == (7, FPS, SIZE)
    assert len(decode_all(out)) == 7
    # the 7 frames are the first 7 of the full run
    monkeypatch.setattr(FusionPipeline, "fuse_prepared", original)
    assert run("fuse", "--ir", ir, "--vi", vi, "--out", tmp_path / "full.mp4").code == 0
    full = decode_all(tmp_path / "full.mp4")
    assert len(full) == FRAMES
    assert np.abs(decode_all(out)[6].astype(int) - full[6]).mean() < 1.0
    # interrupted before the first frame: nothing at all
    calls["n"] = 0
    monkeypatch.setattr(FusionPipeline, "fuse_prepared", interrupt_after(0))
    none = tmp_path / "none" / "f.mp4"
    res = run("fuse", "--ir", ir, "--vi", vi, "--out", none)
    assert res.code == 130 and "nothing written" in res.stderr.splitlines()[-1]
    assert files_in(none.parent) == []


def test_missing_empty_corrupt_or_truncated_videos_get_one_line_and_nothing_is_written(
    clips: tuple[Path, Path], frames: tuple[Path, Path], tmp_path: Path
) -> None:
    ir, vi = clips
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.mp4").write_bytes(b"")
    (bad / "noise.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    (bad / "half.mp4").write_bytes(ir.read_bytes()[: ir.stat().st_size // 2])
    (bad / "text.avi").write_text("not a video")
    out = tmp_path / "out" / "f.mp4"
    snap = Snapshot(bad, ir, vi)
    cases = {
        bad / "missing.mp4": "no such file or folder",
        bad / "empty.mp4": "empty file",
        bad / "noise.mp4": "not a readable video (corrupt, truncated or unsupported format)",
        bad / "half.mp4": "not a readable video (corrupt, truncated or unsupported format)",
        bad / "text.avi": "not a readable video (corrupt, truncated or unsupported format)",
        bad / "none_%04d.png": f"no file of {bad} matches this numbered sequence",
    }
    for path, reason in cases.items():
        assert_one_error(run("fuse", "--ir", path, "--vi", vi, "--out", out), f"{path}: {reason}")
        assert_one_error(run("fuse", "--ir", ir, "--vi", path, "--out", out), f"{path}: {reason}")
    assert_one_error(run("fuse", "--ir", bad, "--vi", vi, "--out", out), f"{bad}: no image frames in this folder")
    assert not out.parent.exists()
    snap.assert_unchanged()
    # a corrupt frame in the middle of a frame folder: one line naming it, exit 1, no output and no temporary file
    broken = tmp_path / "broken"
    shutil.copytree(frames[1], broken)
    (broken / "00010.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    res = run("fuse", "--ir", frames[0], "--vi", broken, "--out", out)
    assert_one_error(
        res,
        f"{broken / '00010.png'}: not a readable image (corrupt, truncated or unsupported format) (nothing written)",
        code=1,
    )
    assert files_in(out.parent) == []


def test_a_video_cut_short_is_fused_as_far_as_it_decodes_with_one_warning(tmp_path: Path) -> None:
    """An AVI cut at 60 %: it opens (its header declares 24 frames), decodes 13; the rest is said in one line."""
    from samfuse.video.synthetic import write_clips
    from video_clips import source

    ir, vi = write_clips(source("ir"), source("vi"), tmp_path, frames=FRAMES, size=SIZE, fps=FPS, ext=".avi")
    cut = tmp_path / "cut.avi"
    cut.write_bytes(ir.read_bytes()[: ir.stat().st_size * 6 // 10])
    res = run("fuse", "--ir", cut, "--vi", vi, "--out", tmp_path / "f.mp4")
    assert res.code == 0, res.stderr
    n = video_info(tmp_path / "f.mp4")[0]
    assert 0 < n < FRAMES and len(decode_all(tmp_path / "f.mp4")) == n
    assert res.warnings == [
        f"warning: {cut}: ended after {n} frames, its header declares {FRAMES} (truncated or damaged?); fused the "
        f"first {n}"
    ]


def test_a_corrupt_video_is_exactly_one_line_on_stderr(clips: tuple[Path, Path], tmp_path: Path) -> None:
    """In a real process: FFmpeg's own messages ("moov atom not found") are silenced, only samfuse's line shows."""
    half = tmp_path / "half.mp4"
    half.write_bytes(clips[0].read_bytes()[:5000])
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "samfuse",
            "fuse",
            "--ir",
            str(half),
            "--vi",
            str(clips[1]),
            "--out",
            str(tmp_path / "f.mp4"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr == f"error: {half}: not a readable video (corrupt, truncated or unsupported format)\n"
    assert files_in(tmp_path) == ["half.mp4"]


def test_output_checks_before_any_work(clips: tuple[Path, Path], frames: tuple[Path, Path], tmp_path: Path) -> None:
    ir, vi = clips
    out = tmp_path / "f.mp4"
    assert run("fuse", "--ir", ir, "--vi", vi, "--out", out).code == 0
    before = out.read_bytes()
    assert_one_error(run("fuse", "--ir", ir, "--vi", vi, "--out", out), f"{out}: exists; use --overwrite to replace it")
    assert out.read_bytes() == before
    res = run("fuse", "--ir", ir, "--vi", vi, "--out", out, "--overwrite", "--method", "max")
    assert res.code == 0 and out.read_bytes() != before
    assert_one_error(
        run("fuse", "--ir", ir, "--vi", vi, "--out", vi, "--overwrite"),
        f"{vi}: --out is the input file {vi} (--vi); choose another file",
    )
    assert_one_error(
        run("fuse", "--ir", ir, "--vi", vi, "--out", tmp_path / "fused"),
        f"{tmp_path / 'fused'}: --out must be a video file (.mp4, .m4v, .mov, .avi, .mkv) when fusing videos or "
        "frame sequences",
    )
    # video options on images: refused up front
    one = frames[0] / "00000.png", frames[1] / "00000.png"
    assert_one_error(
        run("fuse", "--ir", one[0], "--vi", one[1], "--out", tmp_path / "png", "--preview", "--fps", "5"),
        "--preview, --fps: only for videos (a video --out such as FUSED.mp4, or video inputs)",
    )
    assert_one_error(
        run("fuse", "--ir", one[0], "--vi", one[1], "--out", tmp_path / "x.mp4"),
        f"{one[0]}: a single image, not a video (give a video, a frame folder or frames/%05d.png)",
    )
    assert not (tmp_path / "png").exists() and not (tmp_path / "x.mp4").exists()


def test_mask_every_n_frames(tmp_path: Path) -> None:
    """A mask-guided method on video: masks computed on frames 0, 3 (--mask-every 3) of 6; without it, on each."""
    from samfuse.video.synthetic import write_frame_folders
    from video_clips import source

    ir, vi = write_frame_folders(source("ir"), source("vi"), tmp_path / "small", frames=6, size=(64, 48))
    every = run(
        "fuse", "--ir", ir, "--vi", vi, "--out", tmp_path / "a.mkv", "--method", "sage-teacher", "--mask-every", "3"
    )
    assert every.code == 0, every.stderr
    assert "6 frames fused into" in every.stderr and ", masks computed 2 times;" in every.stderr
    each = run("fuse", "--ir", ir, "--vi", vi, "--out", tmp_path / "b.mkv", "--method", "sage-teacher")
    assert ", masks computed 6 times;" in each.stderr
    a, b = decode_all(tmp_path / "a.mkv"), decode_all(tmp_path / "b.mkv")
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[3], b[3])  # fresh masks on those frames: identical
    assert not np.array_equal(a[1], b[1])  # frame 1 used frame 0's masks
    # frame 0 equals the image-mode output for that pair (masks per image, the same provider)
    png = tmp_path / "png"
    assert (
        run(
            "fuse",
            "--ir",
            ir / "00000.png",
            "--vi",
            vi / "00000.png",
            "--out",
            png,
            "--method",
            "sage-teacher",
            "--mask-cache",
            tmp_path / "cache",
        ).code
        == 0
    )
    assert np.array_equal(b[0][:, :, ::-1], read_raw(png / "00000.png"))
