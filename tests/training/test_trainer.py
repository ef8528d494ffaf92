"""The training loop end to end on real crops of ``train`` with the tiny demonstration task (tests/toy_training.py):
checkpoints, exact resume, Ctrl-C, option checks, masks from the cache, and a two-process torchrun run."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from samfuse.cli.main import main
from samfuse.training import RunConfigError, TrainingError, TrainingInterrupted, train
from toy_training import ToyTask

REPO = Path(__file__).resolve().parents[2]


def run(pair_dirs: tuple[Path, Path], out: Path, **kw):  # noqa: ANN201
    ir, vi = pair_dirs
    return train(ToyTask, out=out, ir=ir, vi=vi, progress=False, **kw)


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return {f"{p.stem}.{k}": v for p in sorted(folder.glob("*.safetensors")) for k, v in load_file(p).items()}


def steps_logged(run_dir: Path) -> list[int]:
    recs = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    return [r["step"] for r in recs if "event" not in r]


@pytest.fixture(scope="module")
def reference(pair_dirs: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """An uninterrupted run of the whole `cpu` profile: 4 pairs, batch 2, 3 epochs = 6 steps."""
    out = tmp_path_factory.mktemp("reference") / "run"
    result, problems = run(pair_dirs, out)
    return out, result


def test_uninterrupted_run_writes_checkpoint_log_and_weights(reference) -> None:  # noqa: ANN001
    out, result = reference
    assert (result.step, result.total_steps, result.finished) == (6, 6, True)
    assert json.loads((out / "latest.json").read_text()) == {"checkpoint": "checkpoints/step-00000006", "step": 6}
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["step-00000006"]  # older ones removed
    ckpt = out / "checkpoints" / "step-00000006"
    state = torch.load(ckpt / "state.pt", weights_only=True, map_location="cpu")  # no arbitrary pickle
    assert set(state["optimizers"]) == {"student", "teacher"} and state["task"] == {"teacher_steps": 3}
    assert state["schedulers"]["teacher"]["last_epoch"] == 3  # stepped once per epoch
    assert json.loads((ckpt / "loop.json").read_text())["epoch"] == 3
    final = weights(out / "weights")
    assert set(final) == set(weights(ckpt / "weights")) and "student.1.running_mean" in final
    assert all(torch.equal(final[k], v) for k, v in weights(ckpt / "weights").items())
    assert steps_logged(out) == [1, 2, 3, 4, 5, 6]
    recs = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    losses = [r.get("student", r.get("teacher")) for r in recs if "event" not in r]
    assert all(math.isfinite(v) and v > 0 for v in losses)
    # alternation: even batch index -> student, odd -> teacher
    assert [("student" in r) for r in recs if "event" not in r] == [True, False] * 3
    # every batch is two distinct pairs, each epoch sees all four once
    seen = result.task.seen
    assert [sorted(i for s in seen[e * 2 : e * 2 + 2] for i in s[1]) for e in range(3)] == [[0, 1, 2, 3]] * 3
    assert len({s[2] for s in seen}) == 6  # crops differ from batch to batch


def test_resume_continues_with_the_same_batches_and_weights(reference, pair_dirs, tmp_path: Path) -> None:  # noqa: ANN001
    ref_out, ref = reference
    out = tmp_path / "run"
    first, _ = run(pair_dirs, out, max_steps=3)  # stops in the middle of epoch 1
    assert (first.step, first.finished) == (3, False)
    assert first.task.seen == ref.task.seen[:3]
    second, _ = run(pair_dirs, out, resume=True)
    assert second.task.seen == ref.task.seen[3:]  # the next batch is the one the uninterrupted run used
    a, b = weights(ref_out / "weights"), weights(out / "weights")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert steps_logged(out) == [1, 2, 3, 4, 5, 6]  # each step logged once
    again, _ = run(pair_dirs, out, resume=True)  # a finished run has nothing left to do
    assert again.step == 6 and again.finished


def test_ctrl_c_saves_a_checkpoint_and_resume_completes(reference, pair_dirs, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "run"
    with pytest.raises(TrainingInterrupted) as info:
        run(pair_dirs, out, profile="interrupt")  # SIGINT arrives during step 2: it finishes, then saves
    assert info.value.step == 3 and info.value.checkpoint == out / "checkpoints" / "step-00000003"
    result, _ = run(pair_dirs, out, profile="interrupt", resume=True)
    assert result.finished
    a, b = weights(reference[0] / "weights"), weights(out / "weights")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_with_other_options_is_refused_in_one_line(reference, pair_dirs) -> None:  # noqa: ANN001
    out = reference[0]
    with pytest.raises(RunConfigError, match=r"seed was 0, now 1$"):
        run(pair_dirs, out, resume=True, seed=1)
    with pytest.raises(RunConfigError, match=r"profile was \"cpu\", now \"steps\""):
        run(pair_dirs, out, resume=True, profile="steps")
    with pytest.raises(RunConfigError, match="holds a run already"):
        run(pair_dirs, out)


def test_a_non_finite_loss_stops_training(pair_dirs, tmp_path: Path) -> None:  # noqa: ANN001
    with pytest.raises(TrainingError, match=r"^step 1: student = nan \(not finite\); stopped$"):
        run(pair_dirs, tmp_path / "run", profile="nan")


def test_masks_are_computed_once_into_the_cache(pair_dirs, tmp_path: Path) -> None:  # noqa: ANN001
    cache = tmp_path / "cache"
    result, _ = run(pair_dirs, tmp_path / "a", profile="masks", masks="toy-levels", mask_cache=cache)
    files = sorted(cache.glob("toy_levels-*/*.npz"))
    assert len(files) == 8  # 4 pairs x 2 images
    stamps = [f.stat().st_mtime_ns for f in files]
    run(pair_dirs, tmp_path / "b", profile="masks", masks="toy-levels", mask_cache=cache, max_steps=1)
    assert [f.stat().st_mtime_ns for f in files] == stamps  # reused, not recomputed
    config = json.loads((tmp_path / "a" / "config.json").read_text())["run"]
    assert config["masks"]["provider"] == "toy-levels" and config["masks"]["k"] == 2
    with pytest.raises(Exception, match="trains without masks"):
        run(pair_dirs, tmp_path / "c", masks="toy-levels")


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["train", *args])
    return result.exit_code, result.stderr


def test_cli_train_resume_interrupt_and_refusals(pair_dirs, tmp_path: Path) -> None:  # noqa: ANN001
    ir, vi = (str(p) for p in pair_dirs)
    base = ["toy_training:ToyTask", "--ir", ir, "--vi", vi, "--no-progress"]
    code, err = cli(*base, "--out", str(tmp_path / "r"), "--max-steps", "2")
    assert code == 0 and err.strip().splitlines()[-1].startswith("stopped at step 2 of 6")
    code, err = cli(*base, "--out", str(tmp_path / "r"), "--resume", "--profile", "steps")
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: ") and "profile was" in err
    code, err = cli(*base, "--out", str(tmp_path / "r"), "--resume", "--set", "lr=0.02")
    assert code == 2 and err.endswith(': overrides.lr is new ("0.02")\n') and err.count("\n") == 1
    code, err = cli(*base, "--out", str(tmp_path / "r"), "--resume")
    assert code == 0 and err.strip().startswith("finished: 6 steps")
    code, err = cli(*base, "--out", str(tmp_path / "s"), "--set", "lr=fast")
    assert code == 2 and err == "error: --set lr=fast: expected float\n"
    code, err = cli(*base, "--out", str(tmp_path / "i"), "--profile", "interrupt")
    assert code == 130 and err.count("\n") == 1 and "checkpoint of step 3 saved" in err
    code, err = cli(*base, "--out", ir)  # the input folder
    assert code == 2 and err.count("\n") == 1 and "input folder" in err
    code, err = cli("no-such-task", "--out", str(tmp_path / "n"))
    assert (
        code == 2
        and err.startswith("error: unknown training task 'no-such-task' (known: ")
        and err.endswith("; or give module:Class)\n")
    )


def test_torchrun_two_processes_on_gloo(pair_dirs, tmp_path: Path) -> None:  # noqa: ANN001
    ir, vi = pair_dirs
    out = tmp_path / "ddp"
    env = {**os.environ, "PYTHONPATH": str(REPO / "tests"), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "samfuse", "train", "toy_training:ToyTask", "--profile", "masks", "--masks", "toy-levels",
           "--ir", str(ir), "--vis", str(vi), "--out", str(out), "--no-progress"]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr.count("finished: 4 steps") == 1  # printed by rank 0 only
    assert steps_logged(out) == [1, 2, 3, 4]
    assert json.loads((out / "config.json").read_text())["run"]["processes"] == 2
    assert set(weights(out / "weights")) == set(weights(out / "checkpoints" / "step-00000004" / "weights"))


def test_train_help_does_not_load_torch() -> None:
    code = (
        "import sys; from samfuse.cli.main import main; main.get_command(None, 'train'); print('torch' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "False", proc.stderr


def test_periodic_checkpoints_keep_one_complete_folder(pair_dirs, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "run"
    run(pair_dirs, out, checkpoint_minutes=0, max_steps=3)  # 0 minutes: after every step
    events = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in events if e.get("event") == "checkpoint"] == [1, 2, 3]
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["step-00000003"]


def test_a_damaged_checkpoint_is_refused_in_one_line(pair_dirs, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "run"
    run(pair_dirs, out, max_steps=2)
    damaged = out / "checkpoints" / "step-00000002" / "weights" / "teacher.safetensors"
    damaged.write_bytes(damaged.read_bytes()[:100])
    with pytest.raises(Exception, match=r"teacher\.safetensors: not a readable safetensors file") as info:
        run(pair_dirs, out, resume=True)
    assert "\n" not in str(info.value)


def test_cli_trains_on_the_named_set_train(tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, err = cli("toy_training:ToyTask", "--data", "train", "--profile", "steps", "--max-steps", "1",
                    "--out", str(out), "--no-progress")  # fmt: skip
    assert code == 0, err
    run_config = json.loads((out / "config.json").read_text())["run"]
    assert run_config["data"] == {"name": "train"} and run_config["profile_values"]["steps"] == 5
    assert steps_logged(out) == [1]
    from samfuse.data import get_dataset

    member = get_dataset("msrs-train").pairs[0].ir.parent
    code, err = cli("toy_training:ToyTask", "--data", "train", "--out", str(member), "--no-progress")
    assert code == 2 and err.startswith(f"error: {member}: --out is the input folder") and err.count("\n") == 1


def test_a_second_ctrl_c_stops_at_once_and_says_what_is_kept(
    pair_dirs,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
) -> None:
    """Two SIGINTs during step 2: the first asks for a checkpoint after the step, the second stops at once; one
    line says which checkpoint is intact (or that there is none), exit 130, and the run continues from there."""
    import signal

    original = ToyTask.training_step

    def step(self: ToyTask, batch: dict, info):  # noqa: ANN001, ANN202
        if info.step == 2:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, batch, info)

    ir, vi = (str(p) for p in pair_dirs)
    base = ["toy_training:ToyTask", "--ir", ir, "--vi", vi, "--no-progress"]
    with monkeypatch.context() as m:
        m.setattr(ToyTask, "training_step", step)
        code, err = cli(*base, "--out", str(tmp_path / "a"), "--checkpoint-minutes", "0")
        assert code == 130 and err == (
            f"interrupted again: stopped without saving; the checkpoint of step 2 in {tmp_path / 'a'} is intact; "
            "continue with --resume\n"
        )
        code, err = cli(*base, "--out", str(tmp_path / "b"))
        assert code == 130 and err == (
            "interrupted again: stopped before any checkpoint; run the same command (no --resume needed) to start "
            "over\n"
        )
    assert not (tmp_path / "b" / "config.json").exists()
    code, err = cli(*base, "--out", str(tmp_path / "a"), "--resume")
    assert code == 0 and err.strip().splitlines()[-1].startswith("finished: 6 steps")
