"""Cost of the training dataset on this machine: building ``TrainingPairs`` over ``train`` (every pair read once
to check it), and milliseconds per 192×256 sample without masks and with masks from the cache.

Masks: the weight-free ``regions`` provider on 10 pairs of ``train`` (5 RoadScene, 5 MSRS-train), computed once
into a temporary cache (that time is printed too), then read by two epochs: epoch 0 reads each pair's cache
files and builds the product (one pass), epoch 1 takes it from ``CachedMasks``' in-memory copy. Figures are
medians over the samples; where marked, of each sample's fastest of 3 reads (the least disturbed on a shared
machine). Run: ``python benchmarks/training_data.py`` (about a minute).
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from samfuse.data import CachedMasks, ModalityMasks, TopKPairs, TrainingPairs, get_dataset
from samfuse.semantics import get_provider

CROP = (192, 256)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {cores} cores, {gpu}; torch {torch.__version__} ({torch.get_num_threads()} threads)"


def per_sample_ms(ds: TrainingPairs, epoch: int, repeat: int = 1) -> float:
    """Median over the samples of each sample's fastest of ``repeat`` reads (the least disturbed)."""
    ds.set_epoch(epoch)
    times = []
    for i in range(len(ds)):
        best = float("inf")
        for _ in range(repeat):
            t = time.perf_counter()
            ds[i]
            best = min(best, time.perf_counter() - t)
        times.append(best)
    return 1000 * statistics.median(times)


def main() -> None:
    print(f"machine: {machine()}")
    pairs = get_dataset("train").pairs
    t = time.perf_counter()
    ds = TrainingPairs(pairs, CROP, seed=0)
    print(f"TrainingPairs over train ({len(ds)} pairs, checked): {time.perf_counter() - t:.2f} s")
    print(f"sample without masks: {per_sample_ms(ds, 0):.1f} ms (median of {len(ds)})")
    subset = [p for p in pairs if p.stem.startswith("FLIR")][:5] + [p for p in pairs if not p.stem.startswith("FLIR")]
    plain = TrainingPairs(subset, CROP, seed=0)
    print(f"10-pair subset, sample without masks: {per_sample_ms(plain, 0, 3):.1f} ms")
    provider = get_provider("regions")
    with tempfile.TemporaryDirectory() as cache:
        for product in (TopKPairs(k=4), ModalityMasks()):
            masks = CachedMasks(provider, cache, product)
            t = time.perf_counter()
            computed, cached = masks.prepare(subset)
            took = time.perf_counter() - t
            print(f"{product.params()['product']}: prepare {computed} computed + {cached} cached images: {took:.1f} s")
            ds = TrainingPairs(subset, CROP, seed=0, masks=masks)
            print(f"  sample, epoch 0 (cache files): {per_sample_ms(ds, 0):.1f} ms")
            print(f"  sample, epoch 1 (in memory):   {per_sample_ms(ds, 1, 3):.1f} ms")


if __name__ == "__main__":
    main()
