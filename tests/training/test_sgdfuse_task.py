"""``samfuse train sgdfuse-stage1`` / ``sgdfuse``: short real runs of both stages on ``train`` crops (the ``tiny``
model, 32×48 crops, ``thermal`` masks), exact resume, the stage-1 refusal, the frozen stage 1, F1 as at inference,
and the exported weights through ``build`` and ``samfuse fuse --method sgdfuse --masks thermal --seed``.

The losses are tested in losses/test_sgdfuse_losses.py, the networks in tests/models/sgdfuse.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from samfuse.cli.main import main
from samfuse.data.masks import CachedMasks, ModalityMasks
from samfuse.data.training import TrainingPairs
from samfuse.io import find_pairs, read_raw, write_image
from samfuse.models import build, samples
from samfuse.semantics import get_provider
from samfuse.training import Step, TaskContext, train
from samfuse.training.tasks.sgdfuse import STAGE2_PROFILES, SGDFuseTask
from shared_paths import DATASETS

TINY = {"model": "tiny", "crop": "[32,48]", "batch_size": "2", "log_every": "1"}


def run(task: str, pair_dirs, out: Path, **kw):  # noqa: ANN001, ANN003, ANN201
    ir, vi = pair_dirs
    overrides = {**TINY, **kw.pop("overrides", {})}
    masks = "thermal" if task == "sgdfuse" else None
    return train(task, out=out, ir=ir, vi=vi, masks=masks, profile="cpu", overrides=overrides, progress=False, **kw)


def steps_logged(run_dir: Path) -> list[dict]:
    return [r for r in map(json.loads, (run_dir / "log.jsonl").read_text().splitlines()) if "event" not in r]


@pytest.fixture(scope="module")
def runs(pair_dirs, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:  # noqa: ANN001
    """Stage 1 (3 steps), then stage 2 on it (3 steps), each also as 2 steps + ``--resume`` to 3."""
    root = tmp_path_factory.mktemp("sgdfuse_runs")
    out = {"s1": root / "s1", "s1r": root / "s1r", "s2": root / "s2", "s2r": root / "s2r"}
    run("sgdfuse-stage1", pair_dirs, out["s1"], max_steps=3)
    run("sgdfuse-stage1", pair_dirs, out["s1r"], max_steps=2)
    run("sgdfuse-stage1", pair_dirs, out["s1r"], max_steps=3, resume=True)
    stage1 = {"stage1": str(out["s1"] / "weights" / "sgdfuse_stage1.safetensors")}
    run("sgdfuse", pair_dirs, out["s2"], max_steps=3, overrides=stage1, mask_cache=root / "masks")
    run("sgdfuse", pair_dirs, out["s2r"], max_steps=2, overrides=stage1, mask_cache=root / "masks")
    run("sgdfuse", pair_dirs, out["s2r"], max_steps=3, overrides=stage1, mask_cache=root / "masks", resume=True)
    return out


def test_both_stages_train_with_finite_losses_and_resume_exactly(runs) -> None:  # noqa: ANN001
    s1, s2 = steps_logged(runs["s1"]), steps_logged(runs["s2"])
    assert [r["step"] for r in s1] == [1, 2, 3] and [r["step"] for r in s2] == [1, 2, 3]
    assert all(math.isfinite(r[k]) and r[k] > 0 for r in s1 for k in ("int", "grad", "total"))
    assert all(math.isfinite(r[k]) for r in s2 for k in ("eps", "int", "grad", "total"))
    # t-gating: even steps (0, 2) draw t ≤ 99, so HFAH and the fusion terms train on both samples
    assert [s2[0]["gated"], s2[2]["gated"]] == [2, 2] and s2[0]["t"] <= 99 and s2[0]["int"] > 0
    assert s2[1]["gated"] in (0, 2) and (s2[1]["gated"] == 2) == (s2[1]["t"] <= 99)
    for a, b in (("s1", "s1r"), ("s2", "s2r")):  # 2 steps + --resume = 3 uninterrupted steps, bit for bit
        wa, wb = (load_file(next((runs[x] / "weights").glob("*.safetensors"))) for x in (a, b))
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
        ra, rb = steps_logged(runs[a]), steps_logged(runs[b])
        assert [r["total"] for r in ra] == [r["total"] for r in rb]  # same batches, same draws
    # stage 1 stayed frozen in stage 2
    w1 = load_file(runs["s1"] / "weights" / "sgdfuse_stage1.safetensors")
    w2 = load_file(runs["s2"] / "weights" / "sgdfuse.safetensors")
    assert w1.keys() == {k for k in w2 if k.startswith("stage1.")}
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    assert any(k.startswith("unet.") for k in w2) and any(k.startswith("hfah.") for k in w2)


def test_stage2_refuses_without_stage1_weights_in_one_line(runs, pair_dirs, tmp_path: Path) -> None:  # noqa: ANN001
    ir, vi = pair_dirs
    base = ["train", "sgdfuse", "--profile", "cpu", "--ir", str(ir), "--vi", str(vi), "--no-progress"]
    full = runs["s2"] / "weights" / "sgdfuse.safetensors"
    for i, (sets, why) in enumerate(
        [
            ([], "stage 2 needs the frozen stage 1: --set stage1="),
            (["--set", f"stage1={tmp_path / 'none.safetensors'}"], "no such stage-1 weights file"),
            (["--set", f"stage1={full}"], "not stage-1 weights"),
            (["--set", f"stage1={DATASETS / 'MSRS/ir/00004N.png'}"], "not a safetensors weights file"),
            (
                ["--set", f"stage1={runs['s1'] / 'weights' / 'sgdfuse_stage1.safetensors'}", "--set", "hfah_guide=5"],
                "--set hfah_guide=5: expected one of 0, 7, 9",
            ),
        ]
    ):
        out = tmp_path / f"r{i}"
        res = CliRunner().invoke(main, [*base, *sets, "--out", str(out)])
        lines = res.stderr.strip().splitlines()
        assert res.exit_code == 2 and len(lines) == 1 and why in lines[0] and lines[0].startswith("error:"), lines
        assert not out.exists()  # refused before anything was written


def test_one_step_trains_unet_and_hfah_only_and_f1_is_the_methods(runs, pair_dirs, tmp_path: Path) -> None:  # noqa: ANN001
    stage1 = runs["s1"] / "weights" / "sgdfuse_stage1.safetensors"
    prof = STAGE2_PROFILES["cpu"].override({**TINY, "stage1": str(stage1)})
    pairs = find_pairs(*pair_dirs).pairs
    f1 = SGDFuseTask.extra_inputs(prof)["f1"]
    # F1 = the x0 that `sgdfuse` refines at inference: stage 1 on the whole image padded to the U-Net multiple
    # (RoadScene 597×161), captured from the full method's forward (stopped right after stage 1)
    small = next(p for p in pairs if p.stem == "FLIR_06974")
    ir_raw, vi_raw = read_raw(small.ir), read_raw(small.vi)
    whole = TrainingPairs([small], None, hflip=False)[0]  # the images as training reads them, uncropped
    full, seen = build("sgdfuse", weights=runs["s2"] / "weights" / "sgdfuse.safetensors"), []

    def stop(module, args, output):  # noqa: ANN001, ANN202
        seen.append(output[0, :, :161, :597].detach())
        raise StopIteration

    full.stage1.register_forward_hook(stop)
    with torch.no_grad(), pytest.raises(StopIteration):
        full(whole["ir"][None], whole["vi"][None], masks=torch.zeros(1, 2, 161, 597))
    got = f1(99, small, ir_raw, vi_raw)
    assert got.shape == (3, 161, 597) and np.abs(got - seen[0].numpy()).max() < 2e-3  # float16 storage
    # (the stage-1 method alone does not pad: its F1 differs, most near the padded bottom row)
    with torch.no_grad():
        alone = build("sgdfuse-stage1", weights=stage1)(whole["ir"][None], whole["vi"][None])[0] * 2 - 1
    assert np.abs(got - alone.numpy()).max() > 1e-2
    source = CachedMasks(get_provider("thermal"), tmp_path / "masks", ModalityMasks())
    ds = TrainingPairs(pairs[:2], (32, 48), seed=0, masks=source, extras={"f1": f1})
    source.prepare(ds.pairs, progress=False)
    batch = {k: torch.stack([ds[i][k] for i in range(2)]) for k in ("ir", "vi", "masks", "f1")}
    assert batch["f1"].shape == (2, 3, 32, 48) and batch["masks"].shape == (2, 2, 32, 48)
    torch.manual_seed(0)
    task = SGDFuseTask(prof, TaskContext(torch.device("cpu"), 0, tmp_path, 2, 6))
    out = task.training_step(batch, Step(0, 0, 0, 2))
    assert out["gated"] == 2 and all(math.isfinite(v) for v in out.values())
    m = task.method

    def learns(params) -> bool:  # noqa: ANN001
        return all(p.grad is not None and p.grad.abs().sum() > 0 for p in params)

    # the residual head starts at zero (fused = F1): its output conv learns at once, the layers behind it once
    # that conv is no longer zero, i.e. from the next step on
    out_conv = list(m.hfah.out_conv.parameters())
    assert learns(m.unet.parameters()) and learns(out_conv) and float(m.hfah.out_conv.weight.detach().abs().sum()) > 0
    assert all(p.grad is not None for p in m.hfah.parameters())
    task.training_step(batch, Step(2, 0, 0, 2))  # an even step: gated again
    assert learns(m.unet.parameters()) and learns(m.hfah.parameters())
    assert all(p.grad is None and not p.requires_grad for p in m.stage1.parameters()) and not m.stage1.training
    # --set hfah_lr gives the head a learning rate of its own; without it, one group (as older checkpoints hold)
    assert [g["lr"] for g in task.opt.param_groups] == [prof.lr]
    fast = SGDFuseTask(prof.override({"hfah_lr": "1e-3"}), TaskContext(torch.device("cpu"), 0, tmp_path, 2, 6))
    groups = fast.opt.param_groups
    assert [g["lr"] for g in groups] == [prof.lr, 1e-3]
    assert sum(p.numel() for p in groups[1]["params"]) == sum(p.numel() for p in fast.method.hfah.parameters())


def test_exported_weights_build_and_fuse_a_real_msrs_crop_deterministically(runs, tmp_path: Path) -> None:  # noqa: ANN001
    s1 = runs["s1"] / "weights" / "sgdfuse_stage1.safetensors"
    s2 = runs["s2"] / "weights" / "sgdfuse.safetensors"
    assert build("sgdfuse-stage1", weights=s1)(torch.rand(1, 1, 20, 30), torch.rand(1, 3, 20, 30)).shape[1] == 3
    assert build("sgdfuse", weights=s2).config.sampler.steps == 3  # the tiny profile's
    with pytest.raises(ValueError, match="holds stage 1 only"):
        build("sgdfuse", weights=s1)
    assert samples("sgdfuse") and not samples("sgdfuse-stage1") and not samples("average")
    for side in ("ir", "vi"):  # a real 61×90 crop of MSRS 00004N (odd size: padded and cropped back)
        (tmp_path / side).mkdir()
        write_image(
            tmp_path / side / "00004N.png", read_raw(DATASETS / f"MSRS/{side}/00004N.png")[200:261, 300:390] / 255
        )

    def fuse(out: str, *extra: str) -> np.ndarray:
        args = ["fuse", "--ir", str(tmp_path / "ir"), "--vi", str(tmp_path / "vi"), "--out", str(tmp_path / out)]
        args += [
            "--method",
            "sgdfuse",
            "--weights",
            str(s2),
            "--masks",
            "thermal",
            "--mask-cache",
            str(tmp_path / "mc"),
        ]
        res = CliRunner().invoke(main, [*args, *extra])
        assert res.exit_code == 0, res.stderr
        return read_raw(tmp_path / out / "00004N.png")

    a, b, c = fuse("a", "--seed", "5"), fuse("b", "--seed", "5"), fuse("c", "--seed", "6")
    assert a.shape == (61, 90, 3) and a.dtype == np.uint8 and a.std() > 1
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    res = CliRunner().invoke(main, ["fuse", "--ir", str(tmp_path / "ir"), "--vi", str(tmp_path / "vi"),
                                    "--out", str(tmp_path / "d"), "--method", "average", "--seed", "1"])  # fmt: skip
    assert res.exit_code == 0 and "--seed: ignored, --method average does not sample" in res.stderr


def test_stage2_under_torchrun_two_processes_on_gloo(runs, pair_dirs, tmp_path: Path) -> None:  # noqa: ANN001
    """DDP wraps U-Net + HFAH only (stage 1 frozen outside); every process draws the same t for the batch."""
    import os
    import subprocess
    import sys

    ir, vi = pair_dirs
    sets = [a for k, v in TINY.items() for a in ("--set", f"{k}={v}")]
    sets += ["--set", f"stage1={runs['s1'] / 'weights' / 'sgdfuse_stage1.safetensors'}"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "samfuse", "train", "sgdfuse", "--profile", "cpu", "--masks", "thermal", *sets, "--max-steps", "3",
           "--ir", str(ir), "--vis", str(vi), "--out", str(tmp_path / "ddp"), "--no-progress"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    recs = steps_logged(tmp_path / "ddp")
    assert [r["step"] for r in recs] == [1, 2, 3] and all(math.isfinite(r["total"]) for r in recs)
    # logged values are means over the 2 processes: t equals the (seed, step) draw of a single process and
    # gated ∈ {0, 1} (one sample each), so both processes drew that t and gated their samples alike
    want = [
        int(torch.randint(0, 100 if s % 2 == 0 else 1000, (), generator=torch.Generator().manual_seed(s)))
        for s in range(3)
    ]
    assert [r["t"] for r in recs] == want and all(r["gated"] == float(t <= 99) for r, t in zip(recs, want, strict=True))
    assert recs[0]["gated"] == 1.0 and recs[2]["gated"] == 1.0
    w = load_file(tmp_path / "ddp" / "weights" / "sgdfuse.safetensors")
    assert build("sgdfuse", weights=tmp_path / "ddp" / "weights" / "sgdfuse.safetensors") is not None and w
