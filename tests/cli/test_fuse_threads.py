"""`samfuse fuse` with decoding and writing in worker threads: same files as one thread, per-pair write errors."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from click.testing import CliRunner

from samfuse.cli import fuse as fuse_cli
from samfuse.cli.main import main
from samfuse.cli.report import BatchReport
from samfuse.io import find_pairs
from samfuse.pipeline import FusionPipeline
from shared_paths import DATASETS


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_threaded_outputs_equal_single_threaded(tmp_path: Path) -> None:
    pairs = (
        find_pairs(DATASETS / "TNO/ir", DATASETS / "TNO/vi").pairs
        + find_pairs(DATASETS / "RoadScene/ir", DATASETS / "RoadScene/vi").pairs[:6]
    )
    pipeline = FusionPipeline("laplacian")
    results = {}
    for threads in (1, 4):
        report = BatchReport()
        fuse_cli.fuse_into(
            pipeline, pairs, tmp_path / str(threads), report, overwrite=False, desc="t", io_threads=threads
        )
        assert sorted(report.done_items) == sorted(p.stem for p in pairs) and not report.failed_items
        results[threads] = digests(tmp_path / str(threads))
    assert results[1] == results[4] and len(results[1]) == len(pairs)


def test_a_failed_write_is_one_line_and_the_rest_is_written(tmp_path: Path) -> None:
    ir, vi = tmp_path / "ir", tmp_path / "vi"
    ir.mkdir()
    vi.mkdir()
    for stem in ("FLIR_00006", "FLIR_00018", "FLIR_00060"):
        shutil.copy(DATASETS / f"RoadScene/ir/{stem}.jpg", ir)
        shutil.copy(DATASETS / f"RoadScene/vi/{stem}.jpg", vi)
    out = tmp_path / "out"
    (out / "FLIR_00018.png").mkdir(parents=True)  # a folder where the output file must go
    result = CliRunner().invoke(
        main, ["fuse", "--ir", str(ir), "--vi", str(vi), "--out", str(out), "--overwrite", "--method", "max"]
    )
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "FLIR_00018" in errors[0]
    assert "2 fused, 1 failed, 0 skipped" in result.stderr
    files = sorted(p.name for p in out.iterdir() if p.is_file())
    assert files == ["FLIR_00006.png", "FLIR_00060.png", "provenance.json"]
    assert not [p for p in out.iterdir() if p.name.endswith(".part")]
