"""Seconds per training step of ``samfuse train sgdfuse-stage1`` and ``samfuse train sgdfuse`` (a profile's
batch and crop, real ``train`` crops), to size the ``cpu`` profiles; plus the one-off costs of stage 2 (F1
precomputed at full resolution, masks).

    python benchmarks/sgdfuse_training.py --profile cpu --steps 20 [--pairs 24] [--masks thermal]

Each step is timed as the loop runs it: the batch is loaded (crop, flips, masks and F1 from memory) and
``training_step`` runs (forward, backward, Adam). The first ``--warmup`` steps are not counted. Wall seconds
and process CPU seconds are both printed, with the machine and its load average before and after: on a shared
machine the wall time is inflated by other jobs, and the CPU time divided by the number of cores the process
can use bounds the idle wall time from below. Stage 2 runs on the stage-1 network of this same run (its
weights do not change the cost).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from samfuse.machine import cpu_model


def machine() -> str:
    cpu = cpu_model()
    return (
        f"{os.cpu_count()}-core {cpu}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


def time_steps(task, loader, steps: int, warmup: int) -> tuple[list[float], list[float]]:  # noqa: ANN001
    from samfuse.training import Step

    walls, cpus = [], []
    it = iter(loader)
    for s in range(warmup + steps):
        w0, c0 = time.perf_counter(), time.process_time()
        try:
            batch = next(it)
        except StopIteration:
            it = iter(loader)
            batch = next(it)
        task.training_step(batch, Step(s, 0, s, 10**6))
        if s >= warmup:
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
    return walls, cpus


def report(name: str, walls: list[float], cpus: list[float]) -> None:
    print(
        f"{name}: wall s/step median {statistics.median(walls):.3f} (min {min(walls):.3f}, max {max(walls):.3f}); "
        f"CPU s/step median {statistics.median(cpus):.3f}  [{len(walls)} steps]"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--pairs", type=int, default=24, help="pairs of `train` used (all MSRS-train, then RoadScene)")
    ap.add_argument("--masks", default="thermal", help="mask provider of stage 2 (cost outside the steps)")
    args = ap.parse_args()

    from samfuse.data import get_dataset
    from samfuse.data.masks import CachedMasks
    from samfuse.data.training import TrainingPairs
    from samfuse.models.sgdfuse.method import save_weights
    from samfuse.semantics import get_provider
    from samfuse.training import TaskContext
    from samfuse.training.tasks.sgdfuse import SGDFuseStage1Task, SGDFuseTask

    print(f"machine: {machine()}")
    pairs = sorted(get_dataset("train").pairs, key=lambda p: ("MSRS" not in str(p.ir), p.stem))[: args.pairs]
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        p1 = SGDFuseStage1Task.profiles[args.profile]
        ds1 = TrainingPairs(pairs, p1.crop, seed=0, hflip=p1.hflip, vflip=p1.vflip)
        ctx = TaskContext(torch.device("cpu"), 0, root, len(ds1) // p1.batch_size, p1.steps or 1)
        task1 = SGDFuseStage1Task(p1, ctx)
        print(f"stage 1 profile {args.profile}: batch {p1.batch_size}, crop {p1.crop}, model {p1.model}")
        loader = DataLoader(ds1, batch_size=p1.batch_size, shuffle=True, drop_last=True)
        report("stage 1 step", *time_steps(task1, loader, args.steps, args.warmup))

        stage1_file = root / "stage1.safetensors"
        save_weights(stage1_file, task1.method, task1.config)
        p2 = SGDFuseTask.profiles[args.profile].override({"stage1": str(stage1_file)})
        SGDFuseTask.check_profile(p2)
        source = CachedMasks(get_provider(args.masks), root / "masks", SGDFuseTask.mask_product(p2))
        f1 = SGDFuseTask.extra_inputs(p2)["f1"]
        ds2 = TrainingPairs(pairs, p2.crop, seed=0, hflip=p2.hflip, vflip=p2.vflip, masks=source, extras={"f1": f1})
        t0 = time.perf_counter()
        source.prepare(ds2.pairs, progress=False)
        t_masks = time.perf_counter() - t0
        from samfuse.io import read_raw

        t0, c0 = time.perf_counter(), time.process_time()
        for i, pair in enumerate(ds2.pairs):
            f1(i, pair, read_raw(pair.ir), read_raw(pair.vi))
        t_f1, c_f1 = time.perf_counter() - t0, time.process_time() - c0
        pixels = sum(h * w for h, w in ds2.sizes) / 1e6
        print(
            f"stage 2 one-off: {args.masks} masks {t_masks:.1f} s for {len(ds2)} pairs; F1 at full resolution "
            f"{t_f1:.1f} s wall / {c_f1:.1f} CPU s for {len(ds2)} pairs ({pixels:.2f} Mpixel)"
        )
        task2 = SGDFuseTask(p2, TaskContext(torch.device("cpu"), 0, root, len(ds2) // p2.batch_size, p2.steps or 1))
        print(f"stage 2 profile {args.profile}: batch {p2.batch_size}, crop {p2.crop}, model {p2.model}")
        loader = DataLoader(ds2, batch_size=p2.batch_size, shuffle=True, drop_last=True)
        walls, cpus = time_steps(task2, loader, args.steps, args.warmup)
        report("stage 2 step (all)", walls, cpus)
        # even steps: t ≤ 99 with HFAH and the fusion losses; odd: usually ε only
        report("stage 2 step (even: HFAH + fusion terms)", walls[(args.warmup % 2) :: 2], cpus[(args.warmup % 2) :: 2])
        report("stage 2 step (odd)", walls[1 - (args.warmup % 2) :: 2], cpus[1 - (args.warmup % 2) :: 2])
    print(f"machine after: {machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
