"""`samfuse fuse` end to end: outputs, bad input per pair, skip/overwrite, inputs never written."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from samfuse.cli.main import main
from samfuse.io import read_raw
from shared_paths import DATASETS

GOOD = ["FLIR_00006", "FLIR_00018", "FLIR_00060"]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def folder_digest(folder: Path) -> dict[str, tuple[str, float]]:
    return {p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime) for p in folder.iterdir()}


@pytest.fixture()
def mixed_batch(tmp_path: Path) -> tuple[Path, Path]:
    """Three good RoadScene pairs plus one of each bad case."""
    ir, vi = tmp_path / "ir", tmp_path / "vi"
    ir.mkdir()
    vi.mkdir()
    for stem in GOOD:
        shutil.copy(DATASETS / "RoadScene/ir" / f"{stem}.jpg", ir)
        shutil.copy(DATASETS / "RoadScene/vi" / f"{stem}.jpg", vi)
    # corrupt IR file
    (ir / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    shutil.copy(DATASETS / "RoadScene/vi/FLIR_00006.jpg", vi / "corrupt.jpg")
    # truncated visible file
    shutil.copy(DATASETS / "MSRS/ir/00004N.png", ir / "truncated.png")
    (vi / "truncated.png").write_bytes((DATASETS / "MSRS/vi/00004N.png").read_bytes()[:40000])
    # sizes differ
    shutil.copy(DATASETS / "MSRS/ir/00004N.png", ir / "sizes.png")
    shutil.copy(DATASETS / "RoadScene/vi/FLIR_00006.jpg", vi / "sizes.jpg")
    # too small
    cv2.imwrite(str(ir / "tiny.png"), np.full((5, 40), 100, np.uint8))
    cv2.imwrite(str(vi / "tiny.png"), np.full((5, 40, 3), 100, np.uint8))
    # missing partner
    shutil.copy(DATASETS / "RoadScene/ir/FLIR_00122.jpg", ir / "lonely.jpg")
    return ir, vi


def test_bad_inputs_fail_per_pair_and_the_rest_is_fused(mixed_batch: tuple[Path, Path], tmp_path: Path) -> None:
    ir, vi = mixed_batch
    before = folder_digest(ir) | {f"vi/{k}": v for k, v in folder_digest(vi).items()}
    out = tmp_path / "out"
    code, stdout, stderr = run("fuse", "--ir", str(ir), "--vi", str(vi), "--out", str(out), "--method", "laplacian")
    assert code == 1
    assert "Traceback" not in stderr + stdout
    lines = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 4
    assert any("corrupt.png" in ln and "not a readable image" in ln for ln in lines)
    assert any("truncated.png" in ln and str(vi) in ln for ln in lines)
    assert any("sizes" in ln and "sizes differ" in ln and "--resize-to" in ln for ln in lines)
    assert any("tiny.png" in ln and "too small" in ln for ln in lines)
    assert any(ln.startswith("warning:") and "lonely.jpg" in ln for ln in stderr.splitlines())
    assert "3 fused, 4 failed, 1 skipped" in stderr
    assert sorted(p.name for p in out.iterdir()) == [f"{s}.png" for s in GOOD] + ["provenance.json"]
    for stem in GOOD:
        assert read_raw(out / f"{stem}.png").shape == read_raw(vi / f"{stem}.jpg").shape
    after = folder_digest(ir) | {f"vi/{k}": v for k, v in folder_digest(vi).items()}
    assert after == before  # inputs never written


def test_resize_to_fuses_mismatched_sizes(mixed_batch: tuple[Path, Path], tmp_path: Path) -> None:
    ir, vi = mixed_batch
    for target, shape in (("ir", (480, 640, 3)), ("vi", (329, 500, 3))):
        out = tmp_path / f"out-{target}"
        run(
            "fuse",
            "--ir",
            str(ir / "sizes.png"),
            "--vi",
            str(vi / "sizes.jpg"),
            "--out",
            str(out),
            "--resize-to",
            target,
        )
        assert read_raw(out / "sizes.png").shape == shape


def test_skip_existing_then_overwrite(tmp_path: Path) -> None:
    ir, vi, out = DATASETS / "TNO/ir", DATASETS / "TNO/vi", tmp_path / "out"
    code, _, stderr = run("fuse", "--ir", str(ir), "--vi", str(vi), "--out", str(out), "--method", "average")
    assert code == 0 and "13 fused, 0 failed, 0 skipped" in stderr
    first = folder_digest(out)
    code, _, stderr = run("fuse", "--ir", str(ir), "--vi", str(vi), "--out", str(out), "--method", "average")
    assert code == 0 and "0 fused, 0 failed, 13 skipped" in stderr
    assert folder_digest(out) == first
    # another method's outputs are never taken for this one's (issue 25): one line, nothing written
    code, _, stderr = run("fuse", "--ir", str(ir), "--vi", str(vi), "--out", str(out), "--method", "max")
    assert code == 2 and stderr.splitlines() == [
        f'error: {out}: its fused images were made with method = "average", not "max"; use another --out or add '
        "--overwrite"
    ]
    assert folder_digest(out) == first
    code, _, stderr = run("fuse", "--ir", str(ir), "--vi", str(vi), "--out", str(out), "--method", "max", "--overwrite")
    assert code == 0 and "13 fused, 0 failed, 0 skipped" in stderr
    assert all(first[k][0] != v[0] for k, v in folder_digest(out).items())


def test_grey_inputs_give_grey_outputs_of_the_input_size(tmp_path: Path) -> None:
    run("fuse", "--ir", str(DATASETS / "TNO/ir"), "--vi", str(DATASETS / "TNO/vi"), "--out", str(tmp_path))
    for f in sorted((DATASETS / "TNO/ir").iterdir()):
        out = read_raw(tmp_path / f"{f.stem}.png")
        assert out.ndim == 2 and out.shape == read_raw(f).shape[:2]


def test_gray_flag_and_single_pair(tmp_path: Path) -> None:
    code, _, _ = run(
        "fuse",
        "--ir",
        str(DATASETS / "MSRS/ir/00004N.png"),
        "--vi",
        str(DATASETS / "MSRS/vi/00004N.png"),
        "--out",
        str(tmp_path),
        "--gray",
    )
    assert code == 0 and read_raw(tmp_path / "00004N.png").shape == (480, 640)


def test_fatal_errors_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    cases = [
        (["--ir", str(tmp_path / "a"), "--vi", str(tmp_path / "b")], "no pair found"),
        (["--ir", str(DATASETS / "TNO/ir"), "--vi", str(DATASETS / "TNO/vi"), "--method", "nope"], "unknown method"),
        (["--ir", str(DATASETS / "TNO/ir"), "--vi", str(DATASETS / "TNO/vi"), "--device", "cuda"], "CUDA"),
        (["--ir", str(DATASETS / "TNO/ir"), "--vi", str(DATASETS / "TNO/vi"), "--ir-range", "9,1"], "LO must"),
    ]
    for args, message in cases:
        code, stdout, stderr = run("fuse", *args, "--out", str(tmp_path / "o"))
        assert code == 2, args
        assert stderr.count("\n") == 1 and message in stderr and "Traceback" not in stderr


def test_console_script_exit_code_and_no_traceback(tmp_path: Path) -> None:
    """The installed entry point, as a user runs it."""
    (tmp_path / "ir").mkdir()
    (tmp_path / "vi").mkdir()
    (tmp_path / "ir" / "x.png").write_bytes(b"junk")
    shutil.copy(DATASETS / "TNO/vi/01.png", tmp_path / "vi" / "x.png")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "samfuse",
            "fuse",
            "--ir",
            str(tmp_path / "ir"),
            "--vi",
            str(tmp_path / "vi"),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "x.png" in proc.stderr and "0 fused, 1 failed, 0 skipped" in proc.stderr


def test_methods_command_lists_baselines() -> None:
    code, stdout, _ = run("methods")
    assert code == 0
    names = [ln.split()[0] for ln in stdout.splitlines() if ln.strip() and not ln.startswith(" ")]
    assert {"average", "max", "laplacian"} <= set(names)
    # the weights names --weights accepts, the default (*) first, with licence (issues 22, 25)
    from samfuse.models.pretrained import default_tag

    lines = stdout.splitlines()
    sage = lines.index(next(ln for ln in lines if ln.startswith("sage ")))
    assert lines[sage + 1].split()[:3] == ["*", "--weights", default_tag("sage").name]
    assert any("--weights sage.authors" in ln and "licence: MIT (c) 2025 Guanyao Wu" in ln for ln in lines)
    student = lines.index(next(ln for ln in lines if ln.startswith("sage-student ")))
    assert "needs --weights" in lines[student] and lines[student + 1].split()[0] == "--weights"  # no default


def test_interrupt_keeps_outputs_and_a_rerun_continues(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from samfuse.pipeline import FusionPipeline

    real = FusionPipeline.fuse_pair
    calls = {"n": 0}

    def interrupt_on_third(self: FusionPipeline, pair, *raw):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, pair, *raw)

    monkeypatch.setattr(FusionPipeline, "fuse_pair", interrupt_on_third)
    args = ("fuse", "--ir", str(DATASETS / "TNO/ir"), "--vi", str(DATASETS / "TNO/vi"), "--out", str(tmp_path))
    code, _, stderr = run(*args)
    assert code == 130 and "interrupted: 2 fused" in stderr and "Traceback" not in stderr
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".json", ".png", ".png"]  # two complete outputs, no
    # partial file, and the record of what made them
    monkeypatch.setattr(FusionPipeline, "fuse_pair", real)
    code, _, stderr = run(*args)
    assert code == 0 and "11 fused, 0 failed, 2 skipped" in stderr


def test_param_reaches_the_builder_and_unknown_options_are_one_line(tmp_path: Path) -> None:
    pair = ["--ir", str(DATASETS / "MSRS/ir/00004N.png"), "--vi", str(DATASETS / "MSRS/vi/00004N.png"), "--gray"]
    code, _, _ = run("fuse", *pair, "--out", str(tmp_path / "w"), "--method", "average", "--param", "ir_weight=0.9")
    assert code == 0
    ir = read_raw(DATASETS / "MSRS/ir/00004N.png").astype(np.float64)
    vi = cv2.cvtColor(read_raw(DATASETS / "MSRS/vi/00004N.png"), cv2.COLOR_RGB2GRAY).astype(np.float64)
    out = read_raw(tmp_path / "w/00004N.png").astype(np.float64)
    # 0.9·IR + 0.1·VIS, not the default 0.5/0.5 (a 1-level rounding allowance)
    assert np.abs(out - (0.9 * ir + 0.1 * vi)).mean() < 1.0 < np.abs(out - (0.5 * ir + 0.5 * vi)).mean()
    cases = [
        (["--param", "steps=3"], "--param steps: --method average has no such option (its options: ir_weight)"),
        (["--steps", "3"], "--steps: --method average has no such option"),
        (["--param", "ir_weight"], "expected KEY=VALUE"),
        (["--method", "sgdfuse", "--steps", "3", "--param", "steps=4"], "disagree"),
    ]
    for args, message in cases:
        code, _, stderr = run("fuse", *pair, "--method", "average", *args, "--out", str(tmp_path / "o"))
        assert code == 2 and stderr.count("\n") == 1 and message in stderr, (args, stderr)
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())
