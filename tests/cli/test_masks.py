"""`samfuse masks` end to end: cache layout, resume, previews, per-image errors, provider errors."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from samfuse.cli.main import main
from samfuse.io import read_raw
from samfuse.semantics import MaskCache, get_provider
from shared_paths import DATASETS

STEMS = ["00004N", "00081D", "00854N"]


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["masks", *args])
    return result.exit_code, result.stderr


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "ir"
    d.mkdir()
    for stem in STEMS:
        shutil.copy(DATASETS / "MSRS/ir" / f"{stem}.png", d)
    return d


def test_regions_batch_resume_preview_and_param_change(folder: Path, tmp_path: Path) -> None:
    out, prev = tmp_path / "masks", tmp_path / "preview"
    code, err = run("--images", str(folder), "--out", str(out), "--provider", "regions", "--jobs", "2",
                    "--preview", str(prev), "--top-k", "5")  # fmt: skip
    assert code == 0, err
    assert "3 computed, 0 failed, 0 skipped" in err
    (key_dir,) = [p for p in out.iterdir() if p.is_dir()]
    assert key_dir.name.startswith("regions-none-")
    rows = list(csv.DictReader((key_dir / "index.csv").read_text().splitlines()))
    assert [r["stem"] for r in rows] == STEMS and all(r["masks"] == "5" for r in rows)

    # the stored masks are exactly what the provider gives for the image, top 5
    image = read_raw(folder / "00081D.png")
    direct = get_provider("regions")(image).top(5)
    cached = MaskCache(out).get(image, get_provider("regions"), top_k=5)
    assert cached is not None and np.array_equal(cached.masks, direct.masks)

    preview = read_raw(prev / "00081D.png")
    assert preview.shape == (480, 640, 3) and not np.array_equal(preview[..., 0], preview[..., 1])

    # second run: everything served from the cache
    code, err = run("--images", str(folder), "--out", str(out), "--provider", "regions", "--top-k", "5")
    assert code == 0 and "0 computed, 0 failed, 3 skipped" in err
    # asking for more masks than were kept recomputes
    code, err = run("--images", str(folder), "--out", str(out), "--provider", "regions", "--top-k", "10")
    assert code == 0 and "3 computed" in err
    # a parameter change is another cache entry
    code, err = run("--images", str(folder), "--out", str(out), "--provider", "regions", "--top-k", "5",
                    "--param", "merge_threshold=8")  # fmt: skip
    assert code == 0 and "3 computed" in err
    assert len([p for p in out.iterdir() if p.is_dir()]) == 2


def test_bad_image_is_one_line_and_exit_1(folder: Path, tmp_path: Path) -> None:
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    code, err = run("--images", str(folder), "--out", str(tmp_path / "m"), "--provider", "thermal")
    assert code == 1
    assert "3 computed, 1 failed, 0 skipped" in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "broken.png" in lines[0]
    assert "Traceback" not in err


def test_missing_checkpoint_one_line_no_traceback(folder: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "samfuse",
            "masks",
            "--images",
            str(folder),
            "--out",
            str(tmp_path / "m"),
            "--provider",
            "sam",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: the sam provider needs a checkpoint: pass --checkpoint PATH")
    assert "regions, thermal" in lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_interrupt_then_resume(tmp_path: Path, jobs: str) -> None:
    """Ctrl-C: exit 130 with a summary and no traceback; what was stored is complete and skipped on rerun."""
    images = tmp_path / "ir"
    images.mkdir()
    for path in sorted((DATASETS / "MSRS/ir").glob("*.png"))[:6]:
        shutil.copy(path, images)
    out = tmp_path / "m"
    cmd = [sys.executable, "-m", "samfuse", "masks", "--images", str(images), "--out", str(out),
           "--provider", "regions", "--jobs", jobs]  # fmt: skip
    # as from a terminal: SIGINT at its default (a shell's background job, e.g. `.ci/run &`, starts with SIGINT
    # ignored, which children inherit, and Python then installs no KeyboardInterrupt handler)
    proc = subprocess.Popen(
        cmd,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509
    )
    deadline = time.monotonic() + 120
    while not list(out.rglob("*.npz")) and time.monotonic() < deadline:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)  # as Ctrl-C in a terminal: the whole process group
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("interrupted: ")
    stored = len(list(out.rglob("*.npz")))
    assert 1 <= stored < 6
    assert last.startswith(f"interrupted: {stored} computed, 0 failed, 0 skipped so far")  # what was written
    code, err = run("--images", str(images), "--out", str(out), "--provider", "regions")
    assert code == 0 and f"{6 - stored} computed, 0 failed, {stored} skipped" in err


def test_list_providers() -> None:
    result = CliRunner().invoke(main, ["masks", "--list"])
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert {"regions", "sam", "thermal"} <= set(names) and names == sorted(names)


def test_option_errors(folder: Path, tmp_path: Path) -> None:
    code, err = run("--images", str(folder), "--out", str(tmp_path), "--provider", "regions", "--preset", "sage")
    assert code == 2 and err.strip() == "error: --preset: only for --masks sam (not regions)"
    code, err = run("--images", str(folder), "--out", str(tmp_path), "--provider", "nope")
    assert code == 2 and "unknown mask provider 'nope'" in err and "regions" in err
    code, err = run("--images", str(tmp_path / "none"), "--out", str(tmp_path), "--provider", "regions")
    assert code == 2 and err.startswith("error:") and len(err.strip().splitlines()) == 1
    code, err = run("--images", str(folder), "--out", str(tmp_path), "--provider", "regions", "--param", "bogus=1")
    assert code == 2 and "bogus" in err and "Traceback" not in err


def test_sam_through_the_cli(tmp_path: Path) -> None:
    """A random vit_t checkpoint through the same CLI path a user's mobile_sam.pt takes (4 prompts)."""
    from samfuse.semantics.compat import install

    install()
    from mobile_sam import sam_model_registry

    torch.manual_seed(0)
    ckpt = tmp_path / "mobile_sam_random.pt"
    torch.save(sam_model_registry["vit_t"]().state_dict(), ckpt)
    images = tmp_path / "img"
    images.mkdir()
    crop = read_raw(DATASETS / "MSRS/vi/00081D.png")[200:320, 380:540]
    from samfuse.io import write_image

    write_image(images / "van.png", crop)
    out = tmp_path / "m"
    args = ["--images", str(images), "--out", str(out), "--provider", "sam", "--checkpoint", str(ckpt),
            "--param", "points_per_side=2", "--param", "pred_iou_thresh=0", "--param", "stability_score_thresh=0",
            "--param", "box_nms_thresh=1"]  # fmt: skip
    code, err = run(*args)
    assert code == 0, err
    assert "note: checkpoint mobile_sam_random.pt: sha256" in err and "1 computed" in err
    (key_dir,) = [p for p in out.iterdir() if p.is_dir()]
    assert key_dir.name.startswith("sam-vit_t-")
    rows = list(csv.DictReader((key_dir / "index.csv").read_text().splitlines()))
    assert rows[0]["masks"] == "12"  # 4 prompts x 3 outputs, all kept
    code, err = run(*args)
    assert code == 0 and "0 computed, 0 failed, 1 skipped" in err
