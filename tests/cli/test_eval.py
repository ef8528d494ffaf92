"""`samfuse eval` end to end: CSV and table, reference-exact values, jobs, --data/--method, per-image errors."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from samfuse.cli.main import main
from shared_paths import REFERENCE

VIFB = REFERENCE / "vifb"
STEMS = ["carLight", "labMan", "manWalking"]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def read_csv(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as fh:
        return {r["image"]: r for r in csv.DictReader(fh)}


def reference(convention: str, method: str) -> dict[str, dict[str, str]]:
    name = "vifb/vifb_matlab_metrics.csv" if convention == "vifb" else "cddfuse/cddfuse_metrics_vifb.csv"
    with open(REFERENCE / name, newline="") as fh:
        return {r["image"]: r for r in csv.DictReader(fh) if r["method"] == method}


@pytest.fixture()
def triple(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Three VIFB pairs and their GFF fused images in fresh folders (tests may add bad cases)."""
    dirs = [tmp_path / d for d in ("ir", "vi", "fused")]
    for d in dirs:
        d.mkdir()
    for stem in STEMS:
        shutil.copy(VIFB / "ir" / f"{stem}.jpg", dirs[0])
        shutil.copy(VIFB / "vi" / f"{stem}.jpg", dirs[1])
        shutil.copy(VIFB / "fused/GFF" / f"{stem}.jpg", dirs[2])
    return dirs[0], dirs[1], dirs[2]


def test_eval_cddfuse_writes_the_reference_values(triple, tmp_path):
    ir, vi, fused = triple
    out = tmp_path / "m.csv"
    code, stdout, stderr = run("eval", "--ir", ir, "--vi", vi, "--fused", fused, "--out", out)
    assert code == 0, stderr
    rows = read_csv(out)
    ref = reference("cddfuse", "GFF")
    with open(out) as fh:
        header = fh.readline().strip().split(",")
    assert header == ["image", "EN", "SD", "SF", "AG", "MI", "SCD", "VIF", "Qabf", "SSIM", "MSE", "CC", "PSNR"]
    assert sorted(rows) == sorted(STEMS)
    for stem in STEMS:
        for name in header[1:]:
            assert float(rows[stem][name]) == pytest.approx(float(ref[stem][name]), rel=1e-6), (stem, name)
    # the Markdown summary: mean and std over the three images
    vif = np.array([float(rows[s]["VIF"]) for s in STEMS])
    assert "| metric | mean | std | n |" in stdout
    assert f"| VIF | {vif.mean():.4f} | {vif.std():.4f} | 3 |" in stdout
    assert "3 evaluated, 0 failed, 0 skipped" in stderr


def test_eval_vifb_selected_metrics_match_matlab(triple, tmp_path):
    ir, vi, fused = triple
    out = tmp_path / "v.csv"
    code, _, stderr = run(
        "eval",
        "--ir",
        ir,
        "--vi",
        vi,
        "--fused",
        fused,
        "--convention",
        "vifb",
        "--metrics",
        "en,SSIM,qcv",
        "--out",
        out,
    )
    assert code == 0, stderr
    rows = read_csv(out)
    ref = reference("vifb", "GFF")
    assert list(rows["labMan"]) == ["image", "EN", "SSIM", "Qcv"]
    for stem in STEMS:
        for name in ("EN", "SSIM", "Qcv"):
            assert float(rows[stem][name]) == pytest.approx(float(ref[stem][name]), rel=1e-4)


def test_eval_jobs_give_the_same_csv(triple, tmp_path):
    ir, vi, fused = triple
    one, two = tmp_path / "1.csv", tmp_path / "2.csv"
    common = ("eval", "--ir", ir, "--vi", vi, "--fused", fused, "--metrics", "all")
    assert run(*common, "--out", one)[0] == 0
    assert run(*common, "--out", two, "--jobs", "2")[0] == 0
    assert one.read_text() == two.read_text()
    assert "VIFF" in one.read_text().splitlines()[0]


def test_eval_reports_each_bad_image_on_one_line_and_evaluates_the_rest(triple, tmp_path):
    ir, vi, fused = triple
    # wrong size: a fused image cropped by 4 pixels
    img = cv2.imread(str(fused / "carLight.jpg"))
    cv2.imwrite(str(fused / "carLight.png"), img[:-4])
    (fused / "carLight.jpg").unlink()
    # missing fused file
    (fused / "manWalking.jpg").unlink()
    # too small for VIF (but fine for the other metrics)
    rng = np.random.default_rng(0)
    for folder in (ir, vi, fused):
        cv2.imwrite(str(folder / "tiny.png"), rng.integers(0, 256, (30, 36), dtype=np.uint8))
    out = tmp_path / "e.csv"
    code, stdout, stderr = run("eval", "--ir", ir, "--vi", vi, "--fused", fused, "--out", out)
    assert code == 1
    assert "Traceback" not in stderr + stdout
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2
    assert any("carLight" in e and "carLight.png is 630x456 but the sources are 630x460" in e for e in errors)
    assert any(e.startswith("error: manWalking:") and "no fused image" in e for e in errors)
    # a metric undefined at this size is a warning: the image is evaluated, that metric left out of its mean
    warnings = [line for line in stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: tiny: undefined, left out of the mean: VIF (image too small: needs at least 41x41 pixels, got 36x30)"
    ]
    rows = read_csv(out)
    assert sorted(rows) == ["labMan", "tiny"]
    assert rows["tiny"]["VIF"] == "" and float(rows["tiny"]["EN"]) > 0
    assert float(rows["labMan"]["VIF"]) == pytest.approx(float(reference("cddfuse", "GFF")["labMan"]["VIF"]))
    assert "2 evaluated, 2 failed, 0 skipped (1 with undefined metrics)" in stderr
    n = {line.split("|")[1].strip(): int(line.split("|")[4]) for line in stdout.splitlines() if line[2:3].isupper()}
    assert n["VIF"] == 1 and n["EN"] == 2  # the mean table counts what the summary line counts


def test_eval_rejects_unknown_metrics_and_missing_inputs(triple):
    ir, vi, fused = triple
    code, _, stderr = run("eval", "--ir", ir, "--vi", vi, "--fused", fused, "--convention", "vifb", "--metrics", "SCD")
    assert code == 2 and "unknown metric(s) for convention 'vifb': SCD" in stderr
    code, _, stderr = run("eval", "--ir", ir, "--vi", vi)
    assert code == 2 and "give --ir, --vi and --fused" in stderr
    code, _, stderr = run("eval", "--ir", ir, "--vi", vi, "--fused", ir.parent / "nowhere")
    assert code == 2 and "nowhere" in stderr and "Traceback" not in stderr


def test_eval_fuses_a_named_dataset_then_evaluates(tmp_path):
    root = tmp_path / "datasets"
    for modality in ("ir", "vi"):
        (root / "TNO" / modality).mkdir(parents=True)
    rng = np.random.default_rng(1)
    for stem in ("a", "b"):
        base = rng.integers(0, 256, (48, 64), dtype=np.uint8)
        cv2.imwrite(str(root / "TNO/ir" / f"{stem}.png"), base)
        cv2.imwrite(str(root / "TNO/vi" / f"{stem}.png"), 255 - base)
    fused = tmp_path / "fused"
    out = tmp_path / "d.csv"
    code, stdout, stderr = run(
        "eval",
        "--data",
        "tno",
        "--method",
        "average",
        "--data-root",
        root,
        "--fused",
        fused,
        "--metrics",
        "EN,SD,VIF",
        "--out",
        out,
    )
    assert code == 0, stderr
    assert sorted(p.name for p in fused.iterdir()) == ["a.png", "b.png", "provenance.json"]
    rows = read_csv(out)
    # average of x and 255 - x is 127.5 everywhere -> written as 128: a constant image
    for stem in ("a", "b"):
        assert float(rows[stem]["EN"]) == 0.0 and float(rows[stem]["SD"]) == 0.0
    assert "| EN | 0.0000 | 0.0000 | 2 |" in stdout
    code, _, stderr = run("eval", "--data", "tno", "--data-root", root)
    assert code == 2 and "--data needs --method" in stderr


def test_eval_reports_an_unexpected_metric_failure_without_traceback(triple, tmp_path, monkeypatch):
    from samfuse.metrics import CONVENTIONS, Metric

    def boom(ir, vi, fused):
        raise RuntimeError("synthetic failure")

    conv = CONVENTIONS["cddfuse"]
    monkeypatch.setitem(conv.metrics, "SD", Metric("SD", boom))
    ir, vi, fused = triple
    out = tmp_path / "u.csv"
    code, _, stderr = run("eval", "--ir", ir, "--vi", vi, "--fused", fused, "--metrics", "EN,SD", "--out", out)
    assert code == 1 and "Traceback" not in stderr
    assert stderr.count("SD failed: RuntimeError: synthetic failure") == 3
    assert "0 evaluated, 3 failed" in stderr
    assert read_csv(out) == {}  # a failed image is in neither the CSV nor the mean table


def test_eval_accepts_three_single_files(triple):
    ir, vi, fused = triple
    code, stdout, stderr = run(
        "eval",
        "--ir",
        ir / "labMan.jpg",
        "--vi",
        vi / "labMan.jpg",
        "--fused",
        fused / "labMan.jpg",
        "--metrics",
        "VIF",
    )
    assert code == 0, stderr
    vif = float(reference("cddfuse", "GFF")["labMan"]["VIF"])
    assert f"| VIF | {vif:.4f} | 0.0000 | 1 |" in stdout


def test_eval_lists_the_metrics_of_a_convention():
    code, stdout, _ = run("eval", "--list-metrics", "--convention", "cddfuse")
    assert code == 0
    rows = [line for line in stdout.splitlines() if line.startswith("| ") and "metric" not in line]
    assert [r.split("|")[1].strip() for r in rows] == [
        *("EN", "SD", "SF", "AG", "MI", "SCD", "VIF", "Qabf", "SSIM", "MSE", "CC", "PSNR", "Nabf", "MS-SSIM", "VIFF"),
        "CF",
    ]
    assert "| VIF | yes | higher | 41 |" in stdout and "| Nabf |  | lower | 2 |" in stdout
    assert "| CF |  | lower | 1 |" in stdout


def test_eval_takes_backend_like_fuse_and_says_so_in_one_line(tmp_path: Path) -> None:
    """Issue 25: a .onnx weights file without --backend onnx is told to add it, and eval has that option."""
    bad = tmp_path / "bad.onnx"
    bad.write_text("not onnx")
    res = CliRunner().invoke(main, ["eval", "--data", "msrs", "--method", "sage", "--weights", str(bad)])
    assert res.exit_code == 2
    assert res.stderr == f"error: --weights {bad}: an exported ONNX file; add --backend onnx to run it\n"
    res = CliRunner().invoke(
        main, ["eval", "--data", "msrs", "--method", "sage", "--backend", "onnx", "--weights", str(bad)]
    )
    assert res.exit_code == 2 and res.stderr.count("\n") == 1
    assert res.stderr.startswith(f"error: --method sage: {bad}: not a readable ONNX file")
    res = CliRunner().invoke(main, ["eval", "--ir", "a", "--vi", "b", "--fused", "c", "--backend", "onnx"])
    assert res.exit_code == 2
    assert res.stderr == (
        "error: --backend onnx: only with --data and --method (it runs the method; --fused images are read)\n"
    )


def test_fuse_tile_pixels_option_is_checked_in_one_line(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        main, ["fuse", "--ir", "a", "--vi", "b", "--out", str(tmp_path / "o"), "--tile-pixels", "-3"]
    )
    assert res.exit_code == 2 and "--tile-pixels" in res.stderr and "-3" in res.stderr
