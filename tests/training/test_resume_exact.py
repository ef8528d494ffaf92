"""Issue 25: resume is exact every time. The run is interrupted (a real SIGINT during the step) at every step of
the toy task's 6, with and without periodic checkpoints and with DataLoader worker processes, and resumed; the
final weights, optimiser-driven or not, must be bit-identical to the uninterrupted run's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from samfuse.training import TrainingInterrupted, train
from toy_training import ToyTask


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return {f"{p.stem}.{k}": v for p in sorted(folder.glob("*.safetensors")) for k, v in load_file(p).items()}


def _run(pair_dirs: tuple[Path, Path], out: Path, **kw: object):  # noqa: ANN202
    ir, vi = pair_dirs
    return train(ToyTask, out=out, ir=ir, vi=vi, progress=False, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("workers", [0, 2])
def test_interrupt_at_every_step_then_resume_is_bit_identical(pair_dirs, tmp_path: Path, workers: int) -> None:  # noqa: ANN001
    sets = {"workers": str(workers)}
    ref_out = tmp_path / "ref"
    ref, _ = _run(pair_dirs, ref_out, overrides=sets)
    want = weights(ref_out / "weights")
    for at in range(ref.total_steps - 1):  # an interrupt in the last step is the normal end
        for minutes in (10.0, 0.0):  # no periodic checkpoint before the interrupt, or one after every step
            out = tmp_path / f"run-{at}-{minutes}"
            with pytest.raises(TrainingInterrupted) as info:
                _run(pair_dirs, out, profile="interrupt", overrides={**sets, "interrupt_at": str(at)},
                     checkpoint_minutes=minutes)  # fmt: skip
            assert info.value.step == at + 1  # the step in progress finished, then the checkpoint was saved
            result, _ = _run(pair_dirs, out, profile="interrupt", overrides={**sets, "interrupt_at": str(at)},
                             resume=True, checkpoint_minutes=minutes)  # fmt: skip
            assert result.finished and result.task.seen == ref.task.seen[at + 1 :], (at, minutes)
            got = weights(out / "weights")
            assert got.keys() == want.keys()
            diff = {k: float((got[k].double() - want[k].double()).abs().max()) for k in want}
            assert all(v == 0.0 for v in diff.values()), (at, minutes, {k: v for k, v in diff.items() if v})


def _crash_once(monkeypatch: pytest.MonkeyPatch, at: int) -> None:
    """Step ``at`` finishes (optimiser stepped, weights changed in memory), then the process "dies" (a
    KeyboardInterrupt out of the step, as a second Ctrl-C or a kill would leave it) before any checkpoint."""
    original = ToyTask.training_step
    fired: list[int] = []

    def step(self: ToyTask, batch: dict, info):  # noqa: ANN001, ANN202
        out = original(self, batch, info)
        if info.step == at and not fired:
            fired.append(at)
            raise KeyboardInterrupt
        return out

    monkeypatch.setattr(ToyTask, "training_step", step)


@pytest.mark.parametrize("minutes", [10.0, 0.0])
def test_death_after_an_optimiser_step_before_its_checkpoint_then_resume_is_bit_identical(
    pair_dirs,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    minutes: float,  # noqa: ANN001
) -> None:
    ref_out = tmp_path / "ref"
    ref, _ = _run(pair_dirs, ref_out)
    want = weights(ref_out / "weights")
    for at in (0, 2, 3, 4):
        out = tmp_path / f"run-{at}-{minutes}"
        with monkeypatch.context() as m:
            _crash_once(m, at)
            with pytest.raises(KeyboardInterrupt):
                _run(pair_dirs, out, checkpoint_minutes=minutes)
        # with checkpoints after every step the last one is of step `at` (steps 0..at-1); without, none
        saved = json.loads((out / "latest.json").read_text())["step"] if (out / "latest.json").exists() else None
        assert saved == (at if minutes == 0.0 and at > 0 else None), (at, minutes, saved)
        result, _ = _run(pair_dirs, out, resume=(out / "config.json").exists(), checkpoint_minutes=minutes)
        assert result.finished
        got = weights(out / "weights")
        assert all(torch.equal(got[k], want[k]) for k in want), (at, minutes)


def test_death_while_writing_a_checkpoint_then_resume_is_bit_identical(
    pair_dirs,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
) -> None:
    """Killed after a checkpoint's files are written but before ``latest.json`` moves to it: the resume
    starts from the previous checkpoint and still ends bit-identical."""
    import samfuse.training.checkpoint as ckpt

    ref_out = tmp_path / "ref"
    _run(pair_dirs, ref_out)
    want = weights(ref_out / "weights")
    out = tmp_path / "run"
    original = ckpt._write_json
    calls: list[int] = []

    def write_json(path: Path, data: dict) -> None:
        if path.name == "latest.json" and data["step"] == 3 and not calls:
            calls.append(3)
            raise KeyboardInterrupt
        original(path, data)

    with monkeypatch.context() as m:
        m.setattr(ckpt, "_write_json", write_json)
        with pytest.raises(KeyboardInterrupt):
            _run(pair_dirs, out, checkpoint_minutes=0.0)
    assert json.loads((out / "latest.json").read_text())["step"] == 2
    result, _ = _run(pair_dirs, out, resume=True, checkpoint_minutes=0.0)
    assert result.finished
    got = weights(out / "weights")
    assert all(torch.equal(got[k], want[k]) for k in want)


STUDENT = {"steps": "6", "batch_size": "2", "crop": "[64,64]", "log_every": "1"}


def test_resume_under_another_thread_count_takes_the_runs_own_and_is_bit_identical(
    pair_dirs,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    """The cause of issue 25's inexact resumes: a run started with one torch thread (``OMP_NUM_THREADS=1``)
    and resumed with two rounds its sums differently. The resume now takes the recorded count, says so in one
    line, and puts the caller's count back afterwards."""
    ir, vi = pair_dirs
    kw = dict(ir=ir, vi=vi, progress=False, overrides=STUDENT)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        train("sage-student", out=tmp_path / "ref1", **kw)  # type: ignore[arg-type]
        train("sage-student", out=tmp_path / "run", max_steps=3, **kw)  # type: ignore[arg-type]
        assert json.loads((tmp_path / "run" / "config.json").read_text())["info"]["numerics"]["threads"] == 1
        torch.set_num_threads(2)
        train("sage-student", out=tmp_path / "ref2", **kw)  # type: ignore[arg-type]
        said: list[str] = []
        train("sage-student", out=tmp_path / "run", resume=True, on_warning=said.append, **kw)  # type: ignore[arg-type]
        assert said == [
            "--resume: the run started with 1 torch thread, this session has 2 threads; using 1 so that the result "
            "is bit-identical to an uninterrupted run"
        ]
        assert torch.get_num_threads() == 2  # the caller's setting is back
    finally:
        torch.set_num_threads(before)
    one, two, got = (weights(tmp_path / d / "weights") for d in ("ref1", "ref2", "run"))
    assert any(not torch.equal(one[k], two[k]) for k in one)  # the thread count does change the result here
    assert all(torch.equal(got[k], one[k]) for k in one)


def test_resume_of_a_run_that_recorded_no_thread_count_warns_once(pair_dirs, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "run"
    _run(pair_dirs, out, max_steps=2)
    config = json.loads((out / "config.json").read_text())
    del config["info"]["numerics"]
    (out / "config.json").write_text(json.dumps(config))
    said: list[str] = []
    _run(pair_dirs, out, resume=True, on_warning=said.append)
    assert said == [
        "--resume: config.json does not record the torch thread count of the first session (an older run); the "
        "resume is bit-identical only if this session uses the same one"
    ]
