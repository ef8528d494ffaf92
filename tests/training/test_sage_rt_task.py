"""``samfuse train sage-rt``: the distillation step (teacher frozen and as the ``sage`` method fuses), the loss, the
refusals, and short real runs: finite losses, exact resume, weights that the registered method loads."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file

from samfuse.io import InputError
from samfuse.io.digest import file_sha256
from samfuse.models import build
from samfuse.models.sage.shipped import STUDENT
from samfuse.models.sage_rt import CONFIG_KEY, RTConfig
from samfuse.training import Step, TaskContext, get_task, train
from samfuse.training.losses.distill import distill_terms
from samfuse.training.losses.student import sage_terms
from samfuse.training.tasks.sage_rt import PROFILES, RTTask, teacher_path

TINY = {"crop": "[32,48]", "log_every": "1", "batch_size": "2"}


def make_task(tmp_path: Path, **changes: object) -> RTTask:
    torch.manual_seed(0)
    prof = dataclasses.replace(PROFILES["cpu"], crop=(32, 48), batch_size=2, **changes)
    return RTTask(prof, TaskContext(torch.device("cpu"), 0, tmp_path, 3, 6))


def test_step_trains_the_student_against_the_frozen_sage_teacher(tmp_path: Path) -> None:
    task = make_task(tmp_path)
    assert teacher_path(task.profile) == STUDENT and task.teacher_sha256 == file_sha256(STUDENT)
    gen = torch.Generator().manual_seed(0)
    batch = {"vi_y": torch.rand(2, 1, 32, 48, generator=gen), "ir": torch.rand(2, 1, 32, 48, generator=gen)}
    # the target is what the sage method fuses
    with torch.inference_mode():
        want = build("sage")(batch["ir"], batch["vi_y"])
    assert torch.allclose(task.teach(batch["vi_y"], batch["ir"]), want, atol=1e-5)
    teacher0 = {k: v.clone() for k, v in task.teacher.state_dict().items()}
    student0 = {k: v.clone() for k, v in task.net.state_dict().items()}
    out = task.training_step(batch, Step(0, 0, 0, 3))
    assert {"loss", "mse_y", "mse_ir", "grad", "mse_t", "grad_t", "l1_t", "gnorm", "lr"} <= set(out)
    assert all(math.isfinite(float(v)) for v in out.values())
    assert all(p.grad is not None for p in task.net.parameters())
    assert all(p.grad is None and not p.requires_grad for p in task.teacher.parameters())
    assert all(torch.equal(v, task.teacher.state_dict()[k]) for k, v in teacher0.items())
    assert any(not torch.equal(v, task.net.state_dict()[k]) for k, v in student0.items())
    assert task.sched.last_epoch == 1 and task.sched.T_max == 6


def test_distill_terms_are_sages_student_loss_plus_l1() -> None:
    gen = torch.Generator().manual_seed(1)
    o, y, ir, t = (torch.rand(2, 1, 20, 24, generator=gen) for _ in range(4))
    total, parts = distill_terms(o, y, ir, t, source_weight=0.5, teacher_weight=2.0, l1_weight=3.0)
    src, _ = sage_terms(o, y, ir)
    want = 0.5 * src + 2.0 * (12 * parts["mse_t"] + 9 * parts["grad_t"]) + 3.0 * (o - t).abs().mean()
    assert torch.allclose(total, want) and torch.allclose(parts["mse_t"], F.mse_loss(o, t))
    zero, _ = distill_terms(t, y, ir, t, source_weight=0.0)
    assert zero == 0


def test_refusals(tmp_path: Path) -> None:
    task = get_task("sage-rt")
    with pytest.raises(InputError, match=r"--set teacher=.*nope\.safetensors: no such weights file"):
        task.check_profile(PROFILES["cpu"].override({"teacher": str(tmp_path / "nope.safetensors")}))
    with pytest.raises(InputError, match="scale must be >= 1"):
        PROFILES["cpu"].override({"scale": "0"})
    task.check_profile(PROFILES["cpu"])  # the shipped sage weights


def run(pair_dirs: tuple[Path, Path], out: Path, **kw: object):  # noqa: ANN201
    ir, vi = pair_dirs
    return train("sage-rt", out=out, ir=ir, vi=vi, profile="cpu", overrides=TINY, progress=False, **kw)


def test_short_runs_resume_exactly_and_write_loadable_weights(pair_dirs, tmp_path: Path) -> None:  # noqa: ANN001
    ref, _ = run(pair_dirs, tmp_path / "ref", max_steps=3)
    recs = [json.loads(x) for x in (tmp_path / "ref" / "log.jsonl").read_text().splitlines()]
    steps = [r for r in recs if "event" not in r]
    assert [r["step"] for r in steps] == [1, 2, 3]
    assert all(math.isfinite(r[k]) for r in steps for k in ("loss", "l1_t", "grad_t", "gnorm"))
    out = tmp_path / "run"
    run(pair_dirs, out, max_steps=2)
    second, _ = run(pair_dirs, out, max_steps=3, resume=True)
    a, b = load_file(tmp_path / "ref/weights/sage_rt.safetensors"), load_file(out / "weights/sage_rt.safetensors")
    assert second.step == 3 and a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    path = out / "weights" / "sage_rt.safetensors"
    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata()
    assert RTConfig.from_json(meta[CONFIG_KEY]) == RTConfig() and meta["teacher_sha256"] == file_sha256(STUDENT)
    assert meta["teacher_output"] in ("tanh", "unit") and meta["recipe"].startswith("sage-rt distillation")
    method = build("sage-rt", weights=path)
    x = torch.rand(1, 1, 35, 50)
    with torch.inference_mode():
        assert method(x, x).shape == (1, 1, 35, 50)
    assert method.card["training_teacher"] == str(STUDENT)


def test_temporal_term_and_init_from_shipped_weights(tmp_path: Path) -> None:
    """``temporal_weight`` adds the flicker term on two views of the batch; ``init`` starts from sage-rt weights
    (a weights name or a file; the architecture must match)."""
    task = make_task(tmp_path, temporal_weight=100.0, init="sage-rt.distilled")
    shipped = build("sage-rt", weights="sage-rt.distilled").net.state_dict()
    assert all(torch.equal(v, shipped[k]) for k, v in task.net.state_dict().items())
    gen = torch.Generator().manual_seed(0)
    batch = {"vi_y": torch.rand(2, 1, 32, 48, generator=gen), "ir": torch.rand(2, 1, 32, 48, generator=gen)}
    out = task.training_step(batch, Step(0, 0, 0, 3))
    assert "flicker" in out and math.isfinite(float(out["flicker"])) and float(out["flicker"]) >= 0
    assert "weight=100.0" in task.weights_metadata()["temporal"]
    task_rt = get_task("sage-rt")
    with pytest.raises(InputError, match="init=nope: not a file nor a weights name of sage-rt"):
        task_rt.check_profile(PROFILES["cpu"].override({"init": "nope"}))
    with pytest.raises(InputError, match="its architecture is not the profile's"):
        task_rt.check_profile(PROFILES["cpu"].override({"init": "sage-rt.distilled", "scale": "2"}))
