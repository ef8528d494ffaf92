"""Wall time of one SAGE student step and one teacher step (``samfuse train sage``) at candidate crops.

Builds :class:`samfuse.training.tasks.sage.SageTask` on real crops of ``train`` (the first ``--pairs`` pairs of
each of RoadScene and MSRS-train, ``thermal`` masks: the mask provider does not change a step's cost, only the
values), runs one warm-up student + teacher step, then times ``--repeat`` student steps and teacher steps
alternately, and prints the medians per crop and batch, and the ``steps`` a budget of ``--minutes`` allows
(the loop alternates, so a step costs the mean of the two). Prints the machine and its load average: the
development VM is shared, so the absolute times vary with the load.

Usage: python benchmarks/sage_step_cost.py [--crops 64x96 96x128] [--batch 4] [--repeat 3] [--minutes 90]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch


def machine() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    cpu = platform.processor() or platform.machine()
    return (
        f"{platform.node()}: {cpu}, {os.cpu_count()} cores, no GPU used; torch {torch.__version__} "
        f"({torch.get_num_threads()} threads); load average {load}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--crops", nargs="+", default=["64x96", "96x128"])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pairs", type=int, default=4)
    ap.add_argument("--minutes", type=float, default=90.0)
    args = ap.parse_args()

    import dataclasses
    import tempfile

    from torch.utils.data import DataLoader

    from samfuse.data import get_dataset
    from samfuse.data.masks import CachedMasks, TopKPairs
    from samfuse.data.training import TrainingPairs
    from samfuse.semantics import get_provider
    from samfuse.training import TaskContext
    from samfuse.training.tasks.sage import PROFILES, SageTask

    print(machine())
    pairs = get_dataset("train").pairs
    roads = [p for p in pairs if "RoadScene" in str(p.ir)][: args.pairs]
    msrs = [p for p in pairs if "MSRS" in str(p.ir)][: args.pairs]
    chosen = roads + msrs
    with tempfile.TemporaryDirectory() as tmp:
        source = CachedMasks(get_provider("thermal"), tmp, TopKPairs(k=4))
        for crop_text in args.crops:
            h, w = (int(v) for v in crop_text.split("x"))
            prof = dataclasses.replace(PROFILES["cpu"], crop=(h, w), batch_size=args.batch)
            ds = TrainingPairs(chosen, (h, w), seed=0, masks=source)
            source.prepare(ds.pairs, progress=False)
            batches = list(DataLoader(ds, batch_size=args.batch, shuffle=False, drop_last=True))
            ctx = TaskContext(torch.device("cpu"), 0, __import__("pathlib").Path(tmp), len(batches), prof.steps)
            torch.manual_seed(0)
            task = SageTask(prof, ctx)
            times: dict[str, list[float]] = {"student": [], "teacher": []}
            cpu: dict[str, list[float]] = {"student": [], "teacher": []}
            for i in range(args.repeat + 1):
                batch = batches[i % len(batches)]
                for kind, fn in (("student", task.student_step), ("teacher", task.teacher_step)):
                    t0, c0 = time.perf_counter(), time.process_time()
                    fn(batch)
                    if i:  # the first round is a warm-up
                        times[kind].append(time.perf_counter() - t0)
                        cpu[kind].append(time.process_time() - c0)
            s, t = (statistics.median(times[k]) for k in ("student", "teacher"))
            cs, ct = (statistics.median(cpu[k]) for k in ("student", "teacher"))
            steps = int(args.minutes * 60 / ((s + t) / 2))
            print(
                f"crop {h}x{w}, batch {args.batch}: student step {s:.2f} s, teacher step {t:.2f} s "
                f"(median of {args.repeat}); {args.minutes:g} min of steps = about {steps} steps at this load"
            )
            print(
                f"  CPU time (all threads): student step {cs:.2f} s, teacher step {ct:.2f} s; "
                f"wall/CPU = {(s + t) / (cs + ct):.2f}"
            )
    print(machine())


if __name__ == "__main__":
    main()
