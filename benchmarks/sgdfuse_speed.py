"""SGDFuse inference speed and memory on this CPU, with random weights (time and memory do not depend on them).

On the real MSRS pair ``00004N`` (640×480) with modality masks from a simple IR/VIS threshold (mask content does
not change the work done):

1. seconds per image for ``sgdfuse-stage1`` and for the full ``sgdfuse`` pipeline at 5 / 10 / 20 steps
   (``--profile cpu`` by default), median and minimum of ``--repeat`` calls after one warm-up, through the
   method's public ``forward`` (inputs in [0, 1], padding, stage 1, sampler, HFAH, crop);
2. parameter counts of the ``cpu`` and ``paper`` profiles (stage 1, U-Net, HFAH);
3. with ``--memory``: peak resident memory at 1280×1024 (LLVIP size), each case in a fresh process
   (``ru_maxrss``), next to the same process's resident memory before the call: stage 1, the full pipeline at
   10 steps in float32, in bfloat16 autocast and with 512-pixel tiles.

Prints the machine (platform, CPU model, CPU count) and the load average before and after, since other jobs
on a shared 2-core VM slow every figure down. Usage:
``python benchmarks/sgdfuse_speed.py [--profile cpu] [--repeat 3] [--memory] [--out results/sgdfuse_speed.md]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from samfuse.io import read_image
from samfuse.machine import cpu_model
from samfuse.models import build
from samfuse.models.sgdfuse import get_profile

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets"


def machine() -> str:
    model = cpu_model()
    return (
        f"{platform.platform()}; {model}; {os.cpu_count()} CPUs; torch {torch.__version__} "
        f"({torch.get_num_threads()} threads); Python {platform.python_version()}"
    )


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float, float]:
    """(median, min) wall seconds of ``repeat`` calls after one warm-up call, and the median process CPU
    seconds per call (user + system of all threads; less sensitive than wall time to other jobs' load)."""
    fn()
    times, cpu = [], []
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(times), min(times), statistics.median(cpu)


def msrs_pair(data: Path, size: tuple[int, int] | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """IR (1,1,H,W), VIS (1,3,H,W) in [0, 1] and masks (1,2,H,W): IR > mean + 0.5 std, VIS grey > its mean."""
    ir = read_image(data / "MSRS/ir/00004N.png")
    vi = read_image(data / "MSRS/vi/00004N.png")
    if size is not None:  # tile the pair to a larger size (LLVIP-sized memory test)
        reps = (-(-size[0] // ir.shape[0]), -(-size[1] // ir.shape[1]))
        ir = np.tile(ir, reps)[: size[0], : size[1]]
        vi = np.tile(vi, (*reps, 1))[: size[0], : size[1]]
    grey = vi.mean(axis=2)
    m = np.stack([ir > ir.mean() + 0.5 * ir.std(), grey > grey.mean()])
    ir_t = torch.from_numpy(np.ascontiguousarray(ir))[None, None].float()
    vi_t = torch.from_numpy(np.ascontiguousarray(vi)).permute(2, 0, 1)[None].float()
    return ir_t, vi_t, torch.from_numpy(m)[None]


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def memory_case(case: str, profile: str, data: Path) -> dict[str, float]:
    """Run one 1280×1024 case in this (fresh) process; report resident memory before and the peak, in MiB."""
    ir, vi, masks = msrs_pair(data, (1024, 1280))
    if case == "stage1":
        method = build("sgdfuse-stage1", profile=profile, random_init=True)
        call = lambda: method(ir, vi)  # noqa: E731
    else:
        opts = {"fp32": {}, "bf16": {"precision": "bfloat16"}, "tiles512": {"tile": 512, "tile_overlap": 64}}[case]
        method = build("sgdfuse", profile=profile, random_init=True, steps=10, **opts)
        call = lambda: method(ir, vi, masks=masks)  # noqa: E731
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    with torch.inference_mode():
        call()
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"before_mib": before, "peak_mib": peak, "seconds": seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--steps", type=int, nargs="+", default=[5, 10, 20])
    ap.add_argument("--memory", action="store_true", help="also measure peak memory at 1280×1024")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, default=None, help="also write the report (Markdown) here")
    ap.add_argument("--memory-case", default=None, help=argparse.SUPPRESS)  # internal: one case, JSON out
    args = ap.parse_args()

    if args.memory_case:
        print(json.dumps(memory_case(args.memory_case, args.profile, args.data)))
        return

    lines: list[str] = []

    def say(s: str = "") -> None:
        print(s, flush=True)
        lines.append(s)

    say(f"machine: {machine()}")
    say(f"load average before: {os.getloadavg()[0]:.2f}")
    say()
    say("parameters (random weights):")
    say()
    say("| profile | stage 1 | U-Net | HFAH | total |")
    say("|---|---:|---:|---:|---:|")
    for name in ("cpu", "paper"):
        m = build("sgdfuse", profile=name, random_init=True)
        say(f"| {name} | {count(m.stage1):,} | {count(m.unet):,} | {count(m.hfah):,} | {count(m):,} |")
    say()

    torch.manual_seed(0)
    ir, vi, masks = msrs_pair(args.data)
    cfg = get_profile(args.profile)
    multiple = 2 ** (len(cfg.unet.channel_mults) - 1) * cfg.unet.patch
    say(f"profile {args.profile}: U-Net multiple {multiple}; MSRS 00004N 640×480; median/min of {args.repeat} calls")
    say()
    say("| measurement | median s/image | min s/image | CPU s/image |")
    say("|---|---:|---:|---:|")
    s1 = build("sgdfuse-stage1", profile=args.profile, random_init=True)
    with torch.inference_mode():
        med, low, cpu = timed(lambda: s1(ir, vi), args.repeat)
    say(f"| stage 1 (`sgdfuse-stage1`) | {med:.3f} | {low:.3f} | {cpu:.3f} |")
    for steps in args.steps:
        m = build("sgdfuse", profile=args.profile, random_init=True, steps=steps)
        with torch.inference_mode():
            med, low, cpu = timed(lambda m=m: m(ir, vi, masks=masks), args.repeat)
        say(f"| full `sgdfuse`, {steps} steps | {med:.3f} | {low:.3f} | {cpu:.3f} |")
    m = build("sgdfuse", profile=args.profile, random_init=True, steps=10, precision="bfloat16")
    with torch.inference_mode():
        med, low, cpu = timed(lambda: m(ir, vi, masks=masks), args.repeat)
    say(f"| full `sgdfuse`, 10 steps, bfloat16 autocast | {med:.3f} | {low:.3f} | {cpu:.3f} |")
    say()
    say(f"load average after timing: {os.getloadavg()[0]:.2f}")

    if args.memory:
        say()
        say("peak resident memory at 1280×1024 (fresh process per case, 10 steps):")
        say()
        say("| case | RSS before call MiB | peak RSS MiB | seconds |")
        say("|---|---:|---:|---:|")
        for case in ("stage1", "fp32", "bf16", "tiles512"):
            cmd = [sys.executable, __file__, "--profile", args.profile, "--data", str(args.data), "--memory-case", case]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            r = json.loads(out)
            say(f"| {case} | {r['before_mib']:.0f} | {r['peak_mib']:.0f} | {r['seconds']:.1f} |")
        say()
        say(f"load average after: {os.getloadavg()[0]:.2f}")

    if args.out:
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
