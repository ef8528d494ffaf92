"""``train(...)``: one training run from options to weights (what ``samfuse train`` calls).

Order: join the torchrun group (if any) → task and profile → pairs → run folder check (``config.json``) →
training dataset (bad pairs left out, one line each) → schedule (a dataset too small for one full batch is refused
here, before any mask is computed) → masks computed once into the cache (split over the processes) →
``config.json`` written → seeds → task → :class:`~samfuse.training.loop.Trainer`.

A run that stops before its first checkpoint (an error while building the task, Ctrl-C during the first step)
removes the ``config.json`` and log it wrote, so the same command starts it again (no ``--resume`` needed).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from samfuse import __version__
from samfuse.assembly import DEFAULT_MASKS
from samfuse.io import InputError, Pair, find_pairs

from .checkpoint import latest_checkpoint
from .distributed import barrier, close_distributed, init_distributed
from .loop import Trainer, TrainingError, TrainResult, schedule
from .rundir import CONFIG, LOG, RunConfigError, adopt_numerics, check_config, numerics, write_config
from .task import TaskContext, TrainingTask, get_task

__all__ = ["train", "training_pairs"]


def training_pairs(
    data: str | None = "train",
    ir: str | Path | None = None,
    vi: str | Path | None = None,
    data_root: str | Path | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> tuple[list[Pair], dict[str, Any]]:
    """The pairs to train on and their description for the run config: a named set (``train``) or two folders."""
    if ir is not None or vi is not None:
        if ir is None or vi is None:
            raise InputError("--ir and --vi go together")
        found = find_pairs(ir, vi)
        if found.unpaired and on_warning:
            names = ", ".join(p.name for p in found.unpaired[:5]) + (" …" if len(found.unpaired) > 5 else "")
            on_warning(f"{len(found.unpaired)} files without a partner skipped: {names}")
        return found.pairs, {"ir": str(Path(ir).resolve()), "vi": str(Path(vi).resolve())}
    from samfuse.data import get_dataset

    ds = get_dataset(data or "train", data_root)
    return ds.pairs, {"name": ds.name}


def _seed_all(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def train(
    task: str | type[TrainingTask],
    *,
    out: str | Path,
    profile: str = "cpu",
    overrides: dict[str, str] | None = None,
    data: str | None = "train",
    ir: str | Path | None = None,
    vi: str | Path | None = None,
    data_root: str | Path | None = None,
    pairs: Sequence[Pair] | None = None,
    masks: str | None = None,
    mask_options: dict[str, Any] | None = None,
    mask_cache: str | Path | None = None,
    mask_checkpoint: str | Path | None = None,
    seed: int = 0,
    device: str = "cpu",
    resume: bool = False,
    max_steps: int | None = None,
    checkpoint_minutes: float = 10.0,
    progress: bool = True,
    on_error: Callable[[str], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> tuple[TrainResult, int]:
    """Train ``task`` (a registered name, ``module:Class``, or a class) into the run folder ``out``.

    ``profile`` names one of the task's profiles; ``overrides`` sets some of its fields from text
    (:meth:`Profile.override`, the CLI's ``--set KEY=VALUE``). ``masks`` (default ``regions`` for a task that
    trains with masks), ``mask_options`` (typed or text, ``--mask-param``), ``mask_checkpoint`` (``sam``) and
    ``mask_cache`` (default ``OUT/masks``): the provider is built by :func:`samfuse.assembly.build_provider`, as for
    fusion.

    Returns ``(result, problems)``: ``problems`` counts the pairs left out as bad input (each reported once
    through ``on_error`` in the main process). Raises :class:`InputError` subclasses (one line) for bad
    options, :class:`~samfuse.training.TrainingInterrupted` after saving on Ctrl-C.
    """
    out = Path(out)
    dist = init_distributed(device)
    restore_numerics: Callable[[], None] = lambda: None  # noqa: E731
    try:
        main = dist.is_main
        warn = on_warning if (on_warning and main) else (lambda _m: None)
        err = on_error if (on_error and main) else (lambda _m: None)
        task_cls = get_task(task) if isinstance(task, str) else task
        if not task_cls.name:  # an unregistered class given directly
            task_cls.name = f"{task_cls.__module__}:{task_cls.__qualname__}"
        prof = task_cls.get_profile(profile)
        if overrides:
            prof = prof.override(overrides)
        task_cls.check_profile(prof)
        product = task_cls.mask_product(prof)
        if product is None and masks is not None:
            raise InputError(f"--masks {masks}: task {task_cls.name!r} trains without masks")
        if product is not None and masks is None:
            masks = DEFAULT_MASKS
        if pairs is None:
            pairs, data_desc = training_pairs(data, ir, vi, data_root, warn)
        else:
            data_desc = {"pairs": [p.stem for p in pairs]}

        source = None
        if product is not None:
            from samfuse.assembly import MaskSpec, build_provider
            from samfuse.data.masks import CachedMasks

            options = dict(mask_options or {})
            checkpoint = options.pop("checkpoint", mask_checkpoint)
            # the provider as every entry point builds it (options typed, the checkpoint only with sam)
            provider = build_provider(MaskSpec(str(masks), options, checkpoint), str(dist.device))
            source = CachedMasks(provider, Path(mask_cache) if mask_cache else out / "masks", product)

        run = {
            "task": task_cls.name,
            "profile": profile,
            "profile_values": prof.to_dict(),
            "overrides": dict(sorted((overrides or {}).items())),
            "data": data_desc,
            "masks": None if source is None else source.params(),
            "seed": int(seed),
            "processes": dist.world_size,
        }
        info = {
            "device": str(dist.device),
            "checkpoint_minutes": checkpoint_minutes,
            "max_steps": max_steps,
            "samfuse": __version__,
            "torch": torch.__version__,
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "numerics": numerics(),  # thread count and deterministic flags: a resume takes the same
        }
        # every process checks before anyone writes, so none sees the config the main process is writing
        if resume:
            saved = check_config(out, run)
            restore_numerics = adopt_numerics(saved.get("info", {}), str(dist.device), warn)
        elif (out / CONFIG).exists():
            raise RunConfigError(f"{out}: holds a run already ({CONFIG}); pass --resume to continue it")
        barrier()

        from samfuse.data.training import TrainingPairs

        dataset = TrainingPairs(
            pairs,
            prof.crop,
            seed=seed,
            hflip=prof.hflip,
            vflip=prof.vflip,
            masks=source,
            extras=task_cls.extra_inputs(prof),
            small="skip" if prof.small == "skip" else "pad",
        )
        for line in dataset.problems:
            err(line)
        for line in dataset.skipped:
            warn(line)
        try:  # before the masks: a run that cannot make one batch is refused before any long work
            spe, total = schedule(len(dataset), prof, dist.world_size)
        except TrainingError as e:
            raise InputError(str(e)) from None
        if source is not None:
            source.prepare(dataset.pairs, rank=dist.rank, world_size=dist.world_size, progress=progress and main)
            barrier()
        wrote = False
        if main:
            out.mkdir(parents=True, exist_ok=True)
            if not resume:
                write_config(out, run, info)
                wrote = True
        barrier()
        _seed_all(seed)
        ctx = TaskContext(
            device=dist.device,
            seed=int(seed),
            run_dir=out,
            steps_per_epoch=spe,
            total_steps=total,
            rank=dist.rank,
            world_size=dist.world_size,
        )
        try:
            trainer = Trainer(
                task_cls(prof, ctx),
                dataset,
                out,
                checkpoint_minutes=checkpoint_minutes,
                max_steps=max_steps,
                progress=progress,
            )
            result = trainer.fit(resume=resume)
        except BaseException:
            if wrote and latest_checkpoint(out) is None:  # nothing to resume: the folder stays reusable
                (out / CONFIG).unlink(missing_ok=True)
                (out / LOG).unlink(missing_ok=True)
            raise
        barrier()
        return result, len(dataset.problems)
    finally:
        restore_numerics()
        close_distributed()
