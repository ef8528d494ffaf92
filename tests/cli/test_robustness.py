"""`samfuse robustness` end to end on small real MSRS crops with a tiny random-init SGDFuse (its weights saved the
way the method loads them): outputs, rerun, --limit, and bad input (one line, exit code, nothing lost)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import torch

from nothing_lost import Snapshot, assert_one_error
from nothing_lost import samfuse as run_cli
from samfuse.io import read_raw, write_image
from samfuse.models import build
from samfuse.models.sgdfuse import save_weights
from shared_paths import DATASETS

STEMS = ("00004N", "00008N", "00107D")  # sorted; --limit 2 takes the first two
BOX = (slice(200, 296), slice(260, 388))  # 96×128
METRICS = ["EN", "SD", "SF", "AG", "MI", "SCD", "VIF", "Qabf", "SSIM", "MSE", "CC", "PSNR"]  # cddfuse's set


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("robustness_cli")
    for side in ("ir", "vi"):
        (root / "data" / "MSRS" / side).mkdir(parents=True)
        for stem in STEMS:
            crop = read_raw(DATASETS / "MSRS" / side / f"{stem}.png")[BOX]
            write_image(root / "data" / "MSRS" / side / f"{stem}.png", crop)
    torch.manual_seed(0)
    net = build("sgdfuse", profile="tiny", random_init=True)
    # a residual HFAH starts at zero (its output is F1 whatever the masks): give its output conv weights, as
    # training would, so the masks reach the fused image
    torch.nn.init.normal_(net.hfah.out_conv.weight, std=0.05)
    save_weights(root / "sgdfuse_tiny.safetensors", net, net.config)
    return {"root": root, "data": root / "data", "weights": root / "sgdfuse_tiny.safetensors"}


def _base(setup: dict[str, Path], out: Path) -> list[object]:
    return [
        "robustness", "--method", "sgdfuse", "--weights", setup["weights"], "--param", "steps=2",
        "--mask-cache", setup["root"] / "cache", "--out", out,
    ]  # fmt: skip


def test_study_writes_csv_table_plot_and_a_rerun_skips_fusion(setup: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "study"
    data = ["--data", "msrs", "--data-root", setup["data"], "--limit", "2"]
    snap = Snapshot(setup["data"])
    run = run_cli(*_base(setup, out), *data, "--perturb", "erode:3", "dilate:3")  # specs after one --perturb
    assert run.code == 0, run.stderr
    conditions = ["none", "erode-3", "dilate-3"]
    for c in conditions:
        assert f"{c}: 2 fused, 0 failed, 0 skipped" in run.stderr
        assert sorted(p.name for p in (out / "fused" / c).iterdir()) == ["00004N.png", "00008N.png"]
        assert read_raw(out / "fused" / c / "00004N.png").shape == (96, 128, 3)
        assert [r["image"] for r in csv.DictReader((out / "metrics" / f"{c}.csv").open())] == list(STEMS[:2])
    rows = list(csv.DictReader((out / "robustness.csv").open()))
    assert [(r["condition"], r["metric"]) for r in rows] == [(c, m) for c in conditions for m in METRICS]
    assert all(r["n"] == "2" and r["mean"] and r["std"] for r in rows)
    assert {r["change_pct"] for r in rows if r["condition"] == "none"} == {"0.0"}
    # the perturbed masks changed the fused images (the tiny network is random, but it does read the masks)
    assert any(float(r["change_pct"]) != 0 for r in rows if r["condition"] != "none")
    md = (out / "robustness.md").read_text()
    assert "| condition | images | EN ↑ |" in md and "MSE ↓" in md
    table = [line for line in md.splitlines() if line.startswith("| ") and not line.startswith("| condition")]
    assert [line.split(" | ")[0] for line in table] == ["| none", "| erode k=3", "| dilate k=3"]
    assert "2 of 3 pairs: the first 2 by sorted stem (`--limit 2`)" in md
    assert "--perturb erode:3" in md and "machine: " in md
    png = read_raw(out / "robustness.png")
    assert png.ndim == 3 and png.shape[0] > 200 and png.shape[1] > 400
    snap.assert_unchanged()  # inputs never written

    # rerun: every fused image is kept (none rewritten), evaluation and outputs are made again; a new condition
    # is the only one fused
    stamps = {p: p.stat().st_mtime_ns for p in (out / "fused").rglob("*.png")}
    again = run_cli(*_base(setup, out), *data, "--perturb", "erode:3", "dilate:3", "drop:1")
    assert again.code == 0, again.stderr
    for c in conditions:
        assert f"{c}: 0 fused, 0 failed, 2 skipped" in again.stderr
    assert "drop-1: 2 fused, 0 failed, 0 skipped" in again.stderr
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())
    assert len(list(csv.DictReader((out / "robustness.csv").open()))) == 4 * len(METRICS)
    assert "| drop p=1 | 2 |" in (out / "robustness.md").read_text()

    # other settings into the same folder: refused before any work, nothing changed
    other = run_cli(*_base(setup, out)[:-4], "--param", "steps=3", "--mask-cache", setup["root"] / "cache", *data,
                    "--out", out)  # fmt: skip
    assert_one_error(other, f"{out}: its fused images were made with options.steps = 2, not 3; use another --out "
                     "(or remove that folder)")  # fmt: skip
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())


def test_bad_input_is_one_line_and_the_rest_runs(setup: dict[str, Path], tmp_path: Path) -> None:
    ir, vi = tmp_path / "ir", tmp_path / "vi"
    shutil.copytree(setup["data"] / "MSRS" / "ir", ir)
    shutil.copytree(setup["data"] / "MSRS" / "vi", vi)
    (ir / "00107D.png").write_bytes((ir / "00107D.png").read_bytes()[:200])  # truncated
    snap = Snapshot(ir, vi)
    out = tmp_path / "study"
    run = run_cli(*_base(setup, out), "--ir", ir, "--vi", vi, "--perturb", "dilate:5", "--metrics", "EN,SSIM")
    assert run.code == 1 and "Traceback" not in run.stderr
    # one line per condition for the bad pair, naming the file; the two good pairs are fused and evaluated
    assert len(run.errors) == 2 and all("00107D.png" in e for e in run.errors)
    assert "dilate-5: 2 fused, 1 failed, 0 skipped" in run.stderr
    assert all(r["n"] == "2" for r in csv.DictReader((out / "robustness.csv").open()))
    snap.assert_unchanged()
    assert not list(out.rglob("*.part"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--method", "average"], "--method average: uses no masks, so there is nothing to perturb (e.g. use sgdfuse "
         "or sage-teacher)"),
        (["--method", "sgdfuse", "--perturb", "erode:4"], "--perturb 'erode:4': k=4 must be an odd integer ≥ 3 (k=1 "
         "is the reference `none`)"),
        (["--method", "sgdfuse", "--weights", "no/such/w.safetensors"], "--method sgdfuse: no/such/w.safetensors"),
        (["--method", "sgdfuse", "--param", "guidance=false"], "--method sgdfuse: uses no masks"),
        (["--method", "sgdfuse", "--param", "nope=1"], "--param nope: --method sgdfuse has no such option"),
        (["--method", "sgdfuse", "--metrics", "XYZ"], "--metrics: unknown metric(s) for convention 'cddfuse': XYZ"),
    ],
)  # fmt: skip
def test_refusals_are_one_line_before_any_work(
    setup: dict[str, Path], tmp_path: Path, args: list[str], message: str
) -> None:
    data = setup["data"] / "MSRS"
    weights = ["--weights", setup["weights"]] if "sgdfuse" in args and "--weights" not in args else []
    run = run_cli("robustness", *args, *weights, "--ir", data / "ir", "--vi", data / "vi", "--out", tmp_path / "o")
    assert_one_error(run, message, exact=False)
    assert not (tmp_path / "o").exists()
