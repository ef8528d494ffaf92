"""``samfuse train sage``: the task's step wiring (alternation, gradients, BatchNorm statistics, schedules) on a real
batch of ``train`` crops, and short real runs: finite losses, checkpoint, exact resume, loadable weights, torchrun.

The losses themselves are tested in test_losses_sage.py; here only what the task adds. Tiny crops (32×48) and
``thermal`` masks (cheap) keep this fast; the task is the same at any size.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import samfuse.training.losses.sage as sage_losses
from samfuse.data.masks import CachedMasks, TopKPairs
from samfuse.data.training import TrainingPairs
from samfuse.io import find_pairs
from samfuse.models import build
from samfuse.semantics import get_provider
from samfuse.training import Step, TaskContext, train
from samfuse.training.tasks.sage import PROFILES, SageTask, export_weights, own_updates

REPO = Path(__file__).resolve().parents[2]
TINY = {"crop": "[32,48]", "log_every": "1", "batch_size": "2"}


@pytest.fixture(scope="module")
def batch(pair_dirs: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A batch of 2 real 32×48 crops (RoadScene + MSRS). The cache's thermal masks are empty inside such small
    crops, so the 8 mask channels are replaced by threshold masks of the crops themselves (quantiles 0.2..0.8 of
    IR, then of Y): every L_cs slot is then active."""
    pairs = find_pairs(*pair_dirs).pairs
    source = CachedMasks(get_provider("thermal"), tmp_path_factory.mktemp("masks"), TopKPairs(k=4))
    ds = TrainingPairs([pairs[0], pairs[2]], (32, 48), seed=0, masks=source)
    source.prepare(ds.pairs, progress=False)
    items = [ds[0], ds[1]]
    out = {k: torch.stack([torch.as_tensor(it[k]) for it in items]) for k in ("ir", "vi_y", "masks")}
    assert out["masks"].shape == (2, 8, 32, 48)
    q = torch.tensor([0.2, 0.4, 0.6, 0.8])
    masks = [(img > img.flatten(1).quantile(q, dim=1).T[:, :, None, None]).float() for img in (out["ir"], out["vi_y"])]
    out["masks"] = torch.cat(masks, dim=1)
    return out


def make_task(tmp_path: Path, spe: int = 3, total: int = 6, **changes) -> SageTask:  # noqa: ANN003
    torch.manual_seed(0)
    prof = dataclasses.replace(PROFILES["cpu"], crop=(32, 48), batch_size=2, **changes)
    return SageTask(prof, TaskContext(torch.device("cpu"), 0, tmp_path, spe, total))


def bn_buffers(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in net.state_dict().items() if "running" in k or "num_batches" in k}


def test_alternation_and_per_model_schedules(batch, tmp_path: Path) -> None:  # noqa: ANN001
    task = make_task(tmp_path, spe=3, total=6)  # index 0: S, 1: T, 2: S + the extra T (epoch ends on S)
    updates = []
    for s in range(3):
        before = (task.sched_s.last_epoch, task.sched_t.last_epoch)
        out = task.training_step(batch, Step(s, 0, s, 3))
        assert all(math.isfinite(float(v)) for v in out.values())
        updates.append((task.sched_s.last_epoch - before[0], task.sched_t.last_epoch - before[1]))
        kinds = {k.split("/")[0] for k in out}
        assert kinds == {name for name, n in zip("st", updates[-1], strict=True) if n}
    assert updates == [(1, 0), (0, 1), (1, 1)]
    assert own_updates(3, 6) == (4, 4) and own_updates(56, 3600) == (1800, 1800) and own_updates(4, 3) == (2, 1)
    # cpu ("own"): each cosine spans that model's own updates; paper ("authors"): all loop steps
    assert (task.sched_s.T_max, task.sched_t.T_max) == (4, 4)
    paper = make_task(tmp_path, spe=3, total=6, schedule="authors")
    assert (paper.sched_s.T_max, paper.sched_t.T_max) == (6, 6)
    assert PROFILES["paper"].schedule == "authors" and PROFILES["paper"].crop == (192, 256)
    assert [g["lr"] for g in paper.opt_s.param_groups] == [2e-3] and paper.opt_t.param_groups[0]["lr"] == 5e-4


def test_student_step_trains_the_student_only_and_moves_its_bn_stats(batch, tmp_path: Path) -> None:  # noqa: ANN001
    task = make_task(tmp_path)
    bn0, teacher0 = bn_buffers(task.student), {k: v.clone() for k, v in task.teacher.state_dict().items()}
    task.student_step(batch)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in task.student.parameters())
    assert all(p.grad is None for p in task.teacher.parameters())
    assert all(torch.equal(v, task.teacher.state_dict()[k]) for k, v in teacher0.items())
    assert all(not torch.equal(v, bn_buffers(task.student)[k]) for k, v in bn0.items())


def test_teacher_step_trains_every_teacher_parameter_and_leaves_student_bn_stats(batch, tmp_path: Path) -> None:  # noqa: ANN001
    task = make_task(tmp_path)
    task.student_step(batch)  # a student whose weights are not the initial ones
    task.teacher_step(batch)  # the transformers' zero-initialised output convs block their gradient at step 0
    task.teacher.zero_grad(set_to_none=True)
    student0, bn0 = {k: v.clone() for k, v in task.student.state_dict().items()}, bn_buffers(task.student)
    task.student.zero_grad(set_to_none=True)
    out = task.teacher_step(batch)
    assert out["t/fea"] > 0 and out["t/swapped_cs"] > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in task.teacher.parameters())
    assert all(p.grad is None for p in task.student.parameters())
    # docs/sage-notes.md §7.3 fixed: the no-grad student forward updates no running statistics
    state = task.student.state_dict()
    assert all(torch.equal(v, state[k]) for k, v in student0.items()) and len(bn0) == 17 * 3
    assert all(m.track_running_stats for m in task.student.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_teacher_taps_get_gradient_only_from_the_feature_term(batch, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(sage_losses, "TEACHER_FEA", 0.0)
    task = make_task(tmp_path)
    task.teacher_step(batch)
    taps = [p for n, p in task.teacher.named_parameters() if n.startswith("taps.")]
    assert len(taps) == 10 and all(p.grad is not None and p.grad.abs().sum() == 0 for p in taps)
    others = [p for n, p in task.teacher.named_parameters() if not n.startswith("taps.")]
    assert sum(p.grad.abs().sum() for p in others) > 0


def test_lcs_weight_zero_turns_the_term_off(batch, tmp_path: Path) -> None:  # noqa: ANN001
    task = make_task(tmp_path, lcs_weight=0.0)
    calls = []
    task.extractor.register_forward_hook(lambda *a: calls.append(1))
    s, t = task.student_step(batch), task.teacher_step(batch)
    assert s["s/cs"] == 0 and t["t/swapped_cs"] == 0 and calls == []
    on = make_task(tmp_path)
    assert on.student_step(batch)["s/cs"] > 0


def run(pair_dirs, out: Path, **kw):  # noqa: ANN001, ANN003, ANN201
    ir, vi = pair_dirs
    overrides = {**TINY, **kw.pop("overrides", {})}
    return train("sage", out=out, ir=ir, vi=vi, masks="thermal", profile="cpu", overrides=overrides,
                 progress=False, **kw)  # fmt: skip


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return {f"{p.stem}.{k}": v for p in sorted(folder.glob("*.safetensors")) for k, v in load_file(p).items()}


def test_short_runs_checkpoint_resume_and_loadable_weights(pair_dirs, tmp_path: Path) -> None:  # noqa: ANN001
    ref, _ = run(pair_dirs, tmp_path / "ref", max_steps=3)  # 4 pairs, batch 2: S, T | S, ...
    recs = [json.loads(x) for x in (tmp_path / "ref" / "log.jsonl").read_text().splitlines()]
    steps = [r for r in recs if "event" not in r]
    assert [("s/total" in r, "t/total" in r) for r in steps] == [(True, False), (False, True), (True, False)]
    assert all(math.isfinite(v) for r in steps for k, v in r.items() if "/" in k)
    assert (tmp_path / "ref" / "checkpoints" / "step-00000003" / "state.pt").is_file()
    out = tmp_path / "run"
    first, _ = run(pair_dirs, out, max_steps=2)
    second, _ = run(pair_dirs, out, max_steps=3, resume=True)  # the next batch is step 2's, as in ref
    a, b = weights(tmp_path / "ref" / "weights"), weights(out / "weights")
    assert second.step == 3 and a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    student, teacher = export_weights(out, tmp_path / "export")
    assert student.stat().st_size < 1_000_000 and 5_000_000 < teacher.stat().st_size < 5_600_000
    ir = torch.rand(1, 1, 35, 50)
    s = build("sage-student", weights=student)
    assert s(ir, ir).shape == (1, 1, 35, 50)
    assert build("sage-teacher", weights=teacher) is not None
    assert build("sage-teacher", weights=out / "weights" / "teacher.safetensors") is not None


def test_torchrun_two_processes_on_gloo(pair_dirs, tmp_path: Path) -> None:  # noqa: ANN001
    ir, vi = pair_dirs
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    sets = [a for k, v in TINY.items() for a in ("--set", f"{k}={v}")]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "samfuse", "train", "sage", "--profile", "cpu", "--masks", "thermal", *sets, "--max-steps", "2",
           "--ir", str(ir), "--vis", str(vi), "--out", str(out), "--no-progress"]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    recs = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs if "event" not in r] == [1, 2]
    assert json.loads((out / "config.json").read_text())["run"]["processes"] == 2
    assert set(weights(out / "weights")) == set(weights(out / "checkpoints" / "step-00000002" / "weights"))


def test_warmup_trains_the_student_alone_then_distils_and_logs_gradient_norms(batch, tmp_path: Path) -> None:  # noqa: ANN001
    from samfuse.training.losses.student import sage_terms

    task = make_task(tmp_path, spe=4, total=8, warmup=1, output="unit")
    assert task.student.output == "unit" and task.weights_metadata()["output"] == "unit"
    with torch.no_grad():
        want, _ = sage_terms(task.student(batch["vi_y"], batch["ir"]), batch["vi_y"], batch["ir"])
    first = task.training_step(batch, Step(0, 0, 0, 4))  # warm-up: the student's own terms only
    assert set(first) == {"s/mse_y", "s/mse_ir", "s/grad", "s/total", "s/gnorm"}
    assert float(first["s/total"]) == pytest.approx(float(want), rel=1e-5)  # BN in train mode both times
    assert float(first["s/gnorm"]) > 0
    teacher = task.training_step(batch, Step(1, 0, 1, 4))
    assert float(teacher["t/gnorm"]) > 0 and "t/own" in teacher
    after = task.training_step(batch, Step(2, 0, 2, 4))  # warm-up over: the full student objective
    assert {"s/pix", "s/grad", "s/cs", "s/fea", "s/gnorm"} <= set(after)
    with pytest.raises(ValueError, match="output must be one of"):
        make_task(tmp_path, output="sigmoid")
