"""Cost of the training dataset on this machine: building ``TrainingPairs`` over ``train`` (every pair read once
to check it), milliseconds per 192×256 sample without masks, and what masks from the cache add, as a ratio.

Masks: the weight-free ``regions`` provider on 10 pairs of ``train`` (5 RoadScene, 5 MSRS-train), computed once
into a temporary cache (that time is printed too). Then, sample by sample, a sample without masks and the same
sample with masks are timed alternately, so that both see the same machine load (the shared 2-core VM runs
other jobs): epoch 0 reads each pair's cache files and builds the product (one read each), epoch 1 takes it
from ``CachedMasks``' in-memory copy (fastest of 3 reads each). Figures are medians over the samples; the
ratio ``with / without`` is the figure to compare across machines. The load average is printed.
Run: ``python benchmarks/training_data.py`` (about a minute).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

import torch

from samfuse.data import CachedMasks, ModalityMasks, TopKPairs, TrainingPairs, get_dataset
from samfuse.machine import cpu_model
from samfuse.semantics import get_provider

CROP = (192, 256)


def machine() -> str:
    cpu = cpu_model()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {cores} cores, {gpu}; torch {torch.__version__} ({torch.get_num_threads()} threads)"


def read_ms(ds: TrainingPairs, i: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        ds[i]
        best = min(best, time.perf_counter() - t)
    return 1000 * best


def paired_ms(plain: TrainingPairs, masked: TrainingPairs, epoch: int, repeat: int) -> tuple[float, float, float]:
    """Median ms without masks, with masks, and the median of the per-sample ratios, timed alternately."""
    plain.set_epoch(epoch)
    masked.set_epoch(epoch)
    a, b = [], []
    for i in range(len(plain)):
        a.append(read_ms(plain, i, repeat))
        b.append(read_ms(masked, i, repeat))
    ratio = statistics.median(y / x for x, y in zip(a, b, strict=True))
    return statistics.median(a), statistics.median(b), ratio


def main() -> None:
    print(f"machine: {machine()}")
    print(f"load average (1, 5, 15 min) at start: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
    pairs = get_dataset("train").pairs
    t = time.perf_counter()
    ds = TrainingPairs(pairs, CROP, seed=0)
    print(f"TrainingPairs over train ({len(ds)} pairs, checked): {time.perf_counter() - t:.2f} s")
    ms = statistics.median(read_ms(ds, i, 3) for i in range(len(ds)))
    print(f"sample without masks, all of train: {ms:.1f} ms (median of {len(ds)}, fastest of 3 each)")
    subset = [p for p in pairs if p.stem.startswith("FLIR")][:5] + [p for p in pairs if not p.stem.startswith("FLIR")]
    plain = TrainingPairs(subset, CROP, seed=0)
    provider = get_provider("regions")
    with tempfile.TemporaryDirectory() as cache:
        for product in (TopKPairs(k=4), ModalityMasks()):
            masks = CachedMasks(provider, cache, product)
            t = time.perf_counter()
            computed, cached = masks.prepare(subset)
            took = time.perf_counter() - t
            name = product.params()["product"]
            print(f"{name}: prepare {computed} computed + {cached} cached images: {took:.1f} s")
            masked = TrainingPairs(subset, CROP, seed=0, masks=masks)
            for epoch, label, repeat in ((0, "cache files", 1), (1, "in memory", 3)):
                a, b, r = paired_ms(plain, masked, epoch, repeat)
                print(f"  epoch {epoch} ({label}): {a:.1f} ms without masks, {b:.1f} ms with, ratio {r:.2f}")
    print(f"load average at end: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
