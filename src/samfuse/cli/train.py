"""``samfuse train TASK``: train a method's networks into a run folder (see docs/training.md).

This module only parses options and calls :func:`samfuse.training.train`. Exit codes: 0 done, 1 done but some
training pairs were bad input (one ``error:`` line each), 2 bad options, 130 interrupted (checkpoint saved).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

import click

from samfuse.cli.common import fail, mask_options


def _list_callback(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from samfuse.training import get_task, list_tasks

    tasks = list_tasks()
    if not tasks:
        click.echo("no training task is registered yet")
    for name, description in tasks.items():
        profiles = ", ".join(get_task(name).profiles)
        click.echo(f"{name:16s} {description} (profiles: {profiles})")
    ctx.exit(0)


def _rank() -> int:
    return int(os.environ.get("RANK", "0"))


def _fail(message: str, code: int = 2) -> NoReturn:
    """:func:`fail` in the main process; the other torchrun processes exit with the same code silently."""
    if _rank() == 0:
        fail(message, code)
    sys.exit(code)


def _inputs(
    data: str | None, ir: Path | None, vi: Path | None, data_root: Path | None
) -> dict[str, Path | None] | list[Path]:
    """The folders the run reads, for the output-path check."""
    if ir is not None or vi is not None:
        return {"--ir": ir, "--vi": vi}
    from samfuse.data import get_dataset

    ds = get_dataset(data or "train", data_root)
    return sorted({p.ir.parent for p in ds.pairs} | {p.vi.parent for p in ds.pairs})


@click.command("train")
@click.option(
    "--list", "list_", is_flag=True, expose_value=False, is_eager=True, callback=_list_callback,
    help="List the training tasks and their profiles, and exit.",
)  # fmt: skip
@click.argument("task")
@click.option("--data", default=None, help="Named training set (default: train = roadscene + msrs-train).")
@click.option("--ir", type=click.Path(path_type=Path), default=None, help="Folder of IR images (with --vi).")
@click.option(
    "--vi", "--vis", "vi", type=click.Path(path_type=Path), default=None,
    help="Folder of visible images (with --ir). Under torchrun write --vis: torchrun reads --vi as its own option.",
)  # fmt: skip
@click.option("--data-root", type=click.Path(path_type=Path), default=None, help="Datasets folder (named sets).")
@mask_options("Mask cache folder (default OUT/masks).")
@click.option("--profile", default="cpu", show_default=True, help="Hyper-parameter profile of the task (cpu, paper).")
@click.option(
    "--set", "--param", "settings", multiple=True, metavar="KEY=VALUE",
    help="Override a profile field (repeatable), e.g. --set steps=2000 --set crop=[160,160]; checked on --resume. "
    "--param is the same option (the spelling of the other commands).",
)  # fmt: skip
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Run folder (config, log, checkpoints).")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its latest checkpoint.")
@click.option(
    "--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N (cuda:LOCAL_RANK under torchrun)."
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of weights, data order, crops and noise.")
@click.option(
    "--max-steps", type=click.IntRange(min=1), default=None, help="Stop after N steps in all (schedule unchanged)."
)
@click.option(
    "--checkpoint-minutes", default=10.0, show_default=True, type=click.FloatRange(min=0),
    help="Save a checkpoint every M minutes (and always at the end; 0 = every step).",
)  # fmt: skip
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def train_command(
    task: str,
    data: str | None,
    ir: Path | None,
    vi: Path | None,
    data_root: Path | None,
    mask_provider: str | None,
    mask_cache: Path | None,
    mask_checkpoint: Path | None,
    mask_params: tuple[str, ...],
    profile: str,
    settings: tuple[str, ...],
    out: Path,
    resume: bool,
    device: str,
    seed: int,
    max_steps: int | None,
    checkpoint_minutes: float,
    no_progress: bool,
) -> None:
    """Train TASK (see --list, or a task of your own as package.module:Class) into the run folder --out.

    \b
    Examples:
      samfuse train sage --out runs/sage --set steps=2000
      samfuse train sgdfuse-stage1 --out runs/s1 --max-steps 60 --no-progress   # time a step first
    Multi-GPU: torchrun --nproc_per_node N -m samfuse train TASK ... --device cuda
    """
    from samfuse.io import InputError
    from samfuse.io.paths import check_output_dir
    from samfuse.training import TrainingAbandoned, TrainingError, TrainingInterrupted, train

    if data is not None and (ir is not None or vi is not None):
        _fail("--data and --ir/--vi exclude each other")
    if (ir is None) != (vi is None):
        _fail("--ir and --vi go together")
    from samfuse.options import split_key_values

    try:
        overrides = split_key_values(settings, "--set")
        mask_opts = split_key_values(mask_params, "--mask-param")  # typed by the provider when it is built
    except InputError as err:
        _fail(str(err))
    if device != "cpu":
        from samfuse.cli.common import check_device

        check_device(device)
    try:
        inputs = _inputs(data, ir, vi, data_root)
        check_output_dir(out, inputs, option="--out")
        if mask_cache is not None:
            check_output_dir(mask_cache, inputs, option="--mask-cache")
    except InputError as err:
        _fail(str(err))

    def error(line: str) -> None:
        click.echo(f"error: {' '.join(line.split())}", err=True)

    def warning(line: str) -> None:
        click.echo(f"warning: {' '.join(line.split())}", err=True)

    try:
        result, problems = train(
            task,
            out=out,
            profile=profile,
            overrides=overrides,
            data=data,
            ir=ir,
            vi=vi,
            data_root=data_root,
            masks=mask_provider,
            mask_options=mask_opts,
            mask_cache=mask_cache,
            mask_checkpoint=mask_checkpoint,
            seed=seed,
            device=device,
            resume=resume,
            max_steps=max_steps,
            checkpoint_minutes=checkpoint_minutes,
            progress=not no_progress,
            on_error=error,
            on_warning=warning,
        )
    except TrainingInterrupted as stop:
        if stop.checkpoint is not None:  # the main process says it, once
            click.echo(f"interrupted: checkpoint of step {stop.step} saved in {out}; continue with --resume", err=True)
        raise SystemExit(130) from None
    except TrainingAbandoned as stop:  # a second Ctrl-C: stopped at once, the step in progress not saved
        if _rank() == 0:
            if stop.checkpoint is not None:
                click.echo(
                    f"interrupted again: stopped without saving; the checkpoint of step {stop.step} in {out} is "
                    "intact; continue with --resume",
                    err=True,
                )
            else:
                again = "the same command (with --resume)" if resume else "the same command (no --resume needed)"
                click.echo(f"interrupted again: stopped before any checkpoint; run {again} to start over", err=True)
        raise SystemExit(130) from None
    except KeyboardInterrupt:  # before the loop started (reading pairs, computing masks): nothing to save
        if _rank() == 0:
            cache = mask_cache if mask_cache is not None else out / "masks"
            again = "the same command (with --resume)" if resume else "the same command (no --resume needed)"
            click.echo(
                f"interrupted before training started: masks computed so far are kept in {cache}; run {again} to "
                "continue",
                err=True,
            )
        raise SystemExit(130) from None
    except TrainingError as err:
        _fail(str(err), code=1)
    except InputError as err:
        _fail(str(err), code=2)
    if _rank() == 0:
        state = "finished" if result.finished else f"stopped at step {result.step} of {result.total_steps}"
        weights = out / "weights"
        if weights.is_dir() and any(weights.glob("*.safetensors")):
            click.echo(f"{state}: {result.step} steps, weights in {weights}", err=True)
        else:
            click.echo(f"{state}: {result.step} steps, no weights written", err=True)
    raise SystemExit(1 if problems else 0)
