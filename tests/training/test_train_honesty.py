"""Issue 25, "no command claims what it did not do": `samfuse train` refuses impossible profiles up front, finds
"no full batch" before computing masks, leaves a run folder that failed before its first step reusable, says how
to continue after Ctrl-C during mask computation, and names a weights folder only when it holds weights."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from samfuse.cli.main import main
from samfuse.training import TrainingError, train
from toy_training import ToyTask


def cli(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["train", *(str(a) for a in args)])
    return result.exit_code, result.stderr


@pytest.fixture()
def base(pair_dirs: tuple[Path, Path]) -> list[str]:
    ir, vi = pair_dirs
    return ["toy_training:ToyTask", "--ir", str(ir), "--vi", str(vi), "--no-progress"]


@pytest.mark.parametrize(
    ("setting", "line"),
    [
        ("steps=0", "error: --set steps=0: steps must be a whole number >= 1, got 0"),
        ("steps=-1", "error: --set steps=-1: steps must be a whole number >= 1, got -1"),
        ("steps=2.5", "error: --set steps=2.5: expected int | None"),
        ("crop=[1,2,3]", "error: --set crop=[1,2,3]: crop must be [h, w], two whole numbers >= 1 (or null: whole "
                         "images), got [1, 2, 3]"),
        ("masks=maybe", "error: --set masks=maybe: expected bool"),
    ],
)  # fmt: skip
def test_impossible_settings_are_refused_up_front(base: list[str], tmp_path: Path, setting: str, line: str) -> None:
    profile = ["--profile", "steps"] if setting.startswith("steps") else []
    code, err = cli(*base, *profile, "--set", setting, "--out", tmp_path / "run")
    assert (code, err) == (2, line + "\n")
    assert not (tmp_path / "run").exists()


def test_no_full_batch_is_found_before_the_masks(base: list[str], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    code, err = cli(*base, "--profile", "masks", "--masks", "toy-levels", "--mask-cache", cache,
                    "--set", "batch_size=8", "--out", tmp_path / "run")  # fmt: skip
    assert (code, err) == (2, "error: 4 training pairs make no full batch of 8\n")
    assert not list(cache.rglob("*.npz")) and not (tmp_path / "run" / "config.json").exists()


def test_a_run_that_fails_before_its_first_step_leaves_its_folder_reusable(pair_dirs, tmp_path: Path) -> None:  # noqa: ANN001
    ir, vi = pair_dirs
    out = tmp_path / "run"
    with pytest.raises(TrainingError, match=r"^step 1: student = nan"):  # fails in its first steps, no checkpoint
        train(ToyTask, out=out, ir=ir, vi=vi, progress=False, profile="nan")
    assert not (out / "config.json").exists() and not (out / "log.jsonl").exists()
    result, _ = train(ToyTask, out=out, ir=ir, vi=vi, progress=False)  # no "holds a run already; --resume"
    assert result.finished and result.step == 6


def test_ctrl_c_during_masks_says_how_to_continue(base: list[str], tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from samfuse.data.masks import CachedMasks

    real = CachedMasks.prepare

    def interrupted(self: CachedMasks, *args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    out = tmp_path / "run"
    args = (*base, "--profile", "masks", "--masks", "toy-levels", "--max-steps", "1", "--out", out)
    monkeypatch.setattr(CachedMasks, "prepare", interrupted)
    code, err = cli(*args)
    assert (code, err) == (
        130,
        f"interrupted before training started: masks computed so far are kept in {out / 'masks'}; run the same "
        "command (no --resume needed) to continue\n",
    )
    monkeypatch.setattr(CachedMasks, "prepare", real)
    code, err = cli(*args)  # the same command continues
    assert code == 0 and err == f"stopped at step 1 of 4: 1 steps, weights in {out / 'weights'}\n"


def test_finished_names_the_weights_folder_only_when_it_holds_weights(base: list[str], tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, err = cli(*base, "--profile", "steps", "--out", out)
    assert (code, err) == (0, f"finished: 5 steps, weights in {out / 'weights'}\n")
    before = {p.name: load_file(p) for p in (out / "weights").glob("*.safetensors")}
    shutil.rmtree(out / "weights")
    code, err = cli(*base, "--profile", "steps", "--out", out, "--resume")  # nothing left to train
    assert (code, err) == (0, f"finished: 5 steps, weights in {out / 'weights'}\n")
    after = {p.name: load_file(p) for p in (out / "weights").glob("*.safetensors")}
    assert after.keys() == before.keys() == {"student.safetensors", "teacher.safetensors"}
    assert all(torch.equal(after[f][k], v) for f in before for k, v in before[f].items())
