"""``samfuse train sage-student``: the SAGE student trained alone (issue 24's control and samfuse's recipe) on real
MSRS training crops: the loss falls, the output mapping reaches the weights file and the fusion method."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from samfuse.data import get_dataset
from samfuse.models import build
from samfuse.training import train
from samfuse.training.losses.student import max_intensity_terms, sage_terms


def test_losses_match_their_formulas() -> None:
    g = torch.Generator().manual_seed(0)
    o, y, ir = (torch.rand(2, 1, 16, 20, generator=g) for _ in range(3))
    from samfuse.training.losses.common import gradient_loss

    total, parts = sage_terms(o, y, ir)
    want = 3 * (3 * ((o - y) ** 2).mean() + 2 * ((o - ir) ** 2).mean()) + 27 * gradient_loss(o, y, ir)
    assert float(total) == pytest.approx(float(want), rel=1e-6) and set(parts) == {"mse_y", "mse_ir", "grad"}
    total, _ = max_intensity_terms(o, y, ir, grad_weight=10.0)
    want = (o - torch.maximum(y, ir)).abs().mean() + 10 * gradient_loss(o, y, ir)
    assert float(total) == pytest.approx(float(want), rel=1e-6)
    assert float(max_intensity_terms(torch.maximum(y, ir), y, ir)[0]) < float(want)


@pytest.mark.parametrize("loss,output", [("maxint", "unit"), ("sage", "tanh")])
def test_short_run_learns_and_ships_its_output_mapping(tmp_path: Path, loss: str, output: str) -> None:
    pairs = get_dataset("msrs-train-128").pairs[:8]
    sets = {"loss": loss, "output": output, "batch_size": "4", "crop": "[64,64]", "steps": "30", "log_every": "1"}
    result, problems = train("sage-student", out=tmp_path / "run", pairs=pairs, overrides=sets, progress=False)
    assert problems == 0
    logs = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    steps = [r for r in logs if "loss" in r]
    assert len(steps) == 30 and all(r["gnorm"] > 0 for r in steps)
    first, last = sum(r["loss"] for r in steps[:5]), sum(r["loss"] for r in steps[-5:])
    assert last < first
    weights = tmp_path / "run" / "weights" / "student.safetensors"
    from safetensors import safe_open

    with safe_open(str(weights), framework="pt") as fh:
        meta = fh.metadata()
    assert meta["output"] == output and meta["recipe"] == f"student-alone loss={loss}"
    method = build("sage-student", weights=weights)
    assert method.net.output == output
    raw = method.forward_raw(torch.rand(1, 1, 24, 30), torch.rand(1, 1, 24, 30))
    if output == "unit":
        assert float(raw.min()) > 0.0 and float(raw.max()) < 1.0


def test_init_from_the_authors_weights_name(tmp_path: Path) -> None:
    from samfuse.io import InputError
    from samfuse.models.pretrained import PRETRAINED
    from samfuse.models.sage.student import load_student
    from samfuse.training.tasks.sage_student import PROFILES, StudentTask

    prof = PROFILES["cpu"].override({"init": "sage.authors"})
    StudentTask.check_profile(prof)
    assert StudentTask.init_file("sage.authors") == PRETRAINED["sage.authors"].path
    from samfuse.training import TaskContext

    task = StudentTask(prof, TaskContext(torch.device("cpu"), 0, tmp_path, 10, 10))
    want = load_student(PRETRAINED["sage.authors"].path).state_dict()
    assert all(torch.equal(v, want[k]) for k, v in task.student.state_dict().items())
    with pytest.raises(InputError, match=r"^--set init=nope\.safetensors: no such weights file nor weights name"):
        StudentTask.check_profile(PROFILES["cpu"].override({"init": "nope.safetensors"}))
