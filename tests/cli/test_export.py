"""`samfuse export` and `samfuse fuse --backend onnx` (exported file, or exported on the fly into the cache)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from samfuse.cli.main import main
from samfuse.io import read_raw
from shared_paths import DATASETS, REFERENCE

OFFICIAL = REFERENCE / "sage" / "sage_student_official.pt"
IR, VI = DATASETS / "RoadScene/ir/FLIR_00006.jpg", DATASETS / "RoadScene/vi/FLIR_00006.jpg"  # 500×329


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stderr


def test_export_a_baseline_and_run_it(tmp_path: Path) -> None:
    onnx_file = tmp_path / "max.onnx"
    code, err = run("export", "--method", "max", "--out", str(onnx_file))
    assert code == 0 and "opset 17" in err
    code, _ = run("fuse", "--ir", str(IR), "--vi", str(VI), "--out", str(tmp_path / "a"), "--method", "max")
    assert code == 0
    code, _ = run(
        "fuse",
        "--ir",
        str(IR),
        "--vi",
        str(VI),
        "--out",
        str(tmp_path / "b"),
        "--method",
        "max",
        "--backend",
        "onnx",
        "--weights",
        str(onnx_file),
    )
    assert code == 0
    a, b = read_raw(tmp_path / "a/FLIR_00006.png"), read_raw(tmp_path / "b/FLIR_00006.png")
    assert a.shape == (329, 500, 3) and np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_size_dependent_method_is_refused(tmp_path: Path) -> None:
    code, err = run("export", "--method", "laplacian", "--out", str(tmp_path / "lap.onnx"))
    assert code == 2 and "does not reproduce the method at 201×133" in err and err.count("\n") == 1
    assert not (tmp_path / "lap.onnx").exists()


def test_on_the_fly_export_is_cached_by_weights_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAMFUSE_CACHE_DIR", str(tmp_path / "cache"))
    args = (
        "fuse",
        "--ir",
        str(IR),
        "--vi",
        str(VI),
        "--method",
        "sage-student",
        "--weights",
        str(OFFICIAL),
        "--backend",
        "onnx",
    )
    assert run(*args, "--out", str(tmp_path / "o1"))[0] == 0
    cached = list((tmp_path / "cache/onnx").iterdir())
    assert [p.name for p in cached] == ["sage-student-ecfde477ca4cd654-opset17-samfuse0.1.0.onnx"]
    stamp = cached[0].stat().st_mtime_ns
    assert run(*args, "--out", str(tmp_path / "o2"))[0] == 0
    assert cached[0].stat().st_mtime_ns == stamp  # reused, not exported again
    assert read_raw(tmp_path / "o1/FLIR_00006.png").tobytes() == read_raw(tmp_path / "o2/FLIR_00006.png").tobytes()


def test_export_errors_are_one_line(tmp_path: Path) -> None:
    lap = tmp_path / "max.onnx"
    assert run("export", "--method", "max", "--out", str(lap))[0] == 0
    cases = [
        (("export", "--method", "max", "--out", str(lap)), "exists (use --overwrite"),
        (("export", "--method", "max", "--out", str(tmp_path)), "is a folder"),
        (("export", "--method", "sage-student", "--out", str(tmp_path / "s.onnx")), "needs weights"),
        (("export", "--method", "nope", "--out", str(tmp_path / "n.onnx")), "unknown method"),
        (
            (
                "fuse",
                "--ir",
                str(IR),
                "--vi",
                str(VI),
                "--out",
                str(tmp_path / "o"),
                "--method",
                "sage-student",
                "--backend",
                "onnx",
                "--weights",
                str(lap),
            ),
            "exported from method 'max', not 'sage-student'",
        ),
        (
            (
                "fuse",
                "--ir",
                str(IR),
                "--vi",
                str(VI),
                "--out",
                str(tmp_path / "o"),
                "--method",
                "laplacian",
                "--backend",
                "onnx",
                "--weights",
                str(OFFICIAL.with_suffix(".onnx")),
            ),
            "no such ONNX file",
        ),
    ]
    for args, message in cases:
        code, err = run(*args)
        assert code == 2 and err.count("\n") == 1 and message in err and "Traceback" not in err, args
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx at all")
    code, err = run(
        "fuse",
        "--ir",
        str(IR),
        "--vi",
        str(VI),
        "--out",
        str(tmp_path / "o"),
        "--method",
        "laplacian",
        "--backend",
        "onnx",
        "--weights",
        str(bad),
    )
    assert code == 2 and f"{bad}: not a readable ONNX file" in err and err.count("\n") == 1
