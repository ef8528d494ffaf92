"""Why samfuse sets OMP_WAIT_POLICY=PASSIVE: small torch ops on a machine whose cores are also busy.

Starts N busy-loop processes (default: one per core) to stand in for other work on the machine, then times in
fresh interpreters, under OMP_WAIT_POLICY=ACTIVE and PASSIVE: the elementwise average of two 640×480 images
(median of 50 runs) and the fusion of the first 20 MSRS pairs with the `average` method (read + fuse + colour).
Prints a table and the machine. Usage: python benchmarks/omp_wait_policy.py [--busy N]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import time

CHILD = r"""
import time, statistics, torch
from samfuse.data import get_dataset
from samfuse.pipeline import FusionPipeline
a, b = torch.rand(1, 1, 480, 640), torch.rand(1, 1, 480, 640)
runs = []
for _ in range(55):
    t = time.perf_counter(); c = 0.5 * a + 0.5 * b; runs.append(time.perf_counter() - t)
pipe = FusionPipeline("average")
pairs = get_dataset("msrs").pairs[:20]
t = time.perf_counter()
for p in pairs:
    pipe.fuse_pair(p)
print(statistics.median(runs[5:]) * 1e3, (time.perf_counter() - t) / len(pairs) * 1e3)
"""


def busy(stop: float) -> None:
    x = 0
    while time.time() < stop:
        x += 1


def measure(policy: str) -> tuple[float, float]:
    env = dict(os.environ, OMP_WAIT_POLICY=policy)
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
    op_ms, pair_ms = (float(v) for v in out.stdout.split())
    return op_ms, pair_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--busy", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    print(f"machine: {platform.node()}, {platform.machine()}, {os.cpu_count()} cores, py {platform.python_version()}")
    rows = []
    for load in (0, args.busy):
        procs = [mp.Process(target=busy, args=(time.time() + 600,)) for _ in range(load)]
        for p in procs:
            p.start()
        try:
            for policy in ("ACTIVE", "PASSIVE"):
                rows.append((load, policy, *measure(policy)))
        finally:
            for p in procs:
                p.terminate()
    print("| busy processes | OMP_WAIT_POLICY | 0.5·a+0.5·b, 640×480 (ms, median) | fuse one MSRS pair (ms) |")
    print("|---|---|---|---|")
    for load, policy, op, pair in rows:
        print(f"| {load} | {policy} | {op:.2f} | {pair:.1f} |")


if __name__ == "__main__":
    main()
