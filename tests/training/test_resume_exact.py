"""Issue 25: resume is exact every time. The run is interrupted (a real SIGINT during the step) at every step of
the toy task's 6, with and without periodic checkpoints and with DataLoader worker processes, and resumed; the
final weights, optimiser-driven or not, must be bit-identical to the uninterrupted run's."""

from __future__ import annotations

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
