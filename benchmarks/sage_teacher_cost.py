"""What the SAGE teacher and its losses cost on this machine.

1. One 640×480 forward of ``sage-teacher`` (random weights: no trained teacher exists yet; the cost does not
   depend on the values) on MSRS pair 00004N with 4 rank-paired threshold masks, batch 1, in a fresh
   interpreter run under ``/usr/bin/time -v``: peak resident memory (the whole process, torch included) and the
   forward's wall time (median of 3, after one warm-up).
2. One 192×256 batch of 4 (the authors' training crop): the contrastive-semantic term L_cs (4 + 4 masked slots)
   forward + backward with each feature extractor — the filter-bank stand-in and SAM ViT-B cut after two blocks
   (randomly initialised: the same cost as with real weights) — median of 3 after one warm-up; and one teacher
   forward + backward with taps (the teacher step's network part), median of 2 after one warm-up.

Prints the machine and its load average (the development VM is shared). Usage:
python benchmarks/sage_teacher_cost.py [--skip-forward] [--skip-losses]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import time

FORWARD = r"""
import statistics, time
import numpy as np, torch
from samfuse.data import resolve_root
from samfuse.io import read_image
from samfuse.models.sage.teacher import SageTeacher, SageTeacherNet
from samfuse.semantics import MaskSet, top_k_pairs
root = resolve_root() / "MSRS"
ir = read_image(root / "ir/00004N.png")
vi = read_image(root / "vi/00004N.png")
y = (0.299 * vi[..., 0] + 0.587 * vi[..., 1] + 0.114 * vi[..., 2]).astype(np.float32)
pairs = top_k_pairs(
    MaskSet.from_masks([ir > np.quantile(ir, q) for q in (0.2, 0.4, 0.6, 0.8)]),
    MaskSet.from_masks([y > np.quantile(y, q) for q in (0.2, 0.4, 0.6, 0.8)]),
    k=4,
)
torch.manual_seed(0)
method = SageTeacher(SageTeacherNet()).eval()
ir_t, y_t = torch.from_numpy(ir)[None, None], torch.from_numpy(y)[None, None]
runs = []
with torch.inference_mode():
    for _ in range(4):
        t = time.perf_counter()
        out = method(ir_t, y_t, masks=pairs)
        runs.append(time.perf_counter() - t)
assert out.shape == (1, 1, 480, 640) and torch.isfinite(out).all()
print(f"FORWARD_S {statistics.median(runs[1:]):.3f}")
"""


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    py = platform.python_version()
    return f"{platform.node()}: {os.cpu_count()} cores ({cpu}), no GPU used, Python {py}; load average {load}"


def forward_cost() -> None:
    proc = subprocess.run(
        ["/usr/bin/time", "-v", sys.executable, "-c", FORWARD], capture_output=True, text=True, check=True
    )
    fwd = float(re.search(r"FORWARD_S ([\d.]+)", proc.stdout).group(1))  # type: ignore[union-attr]
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))  # type: ignore[union-attr]
    wall = re.search(r"Elapsed \(wall clock\) time.*: (\S+)", proc.stderr).group(1)  # type: ignore[union-attr]
    print("## sage-teacher, one 640×480 forward (batch 1)")
    print(f"- forward wall time: {fwd:.2f} s (median of 3 after a warm-up; inference mode)")
    print(
        f"- peak resident memory of the process: {rss_kb / 2**20:.2f} GiB "
        "(`/usr/bin/time -v`; 4 forwards, torch included)"
    )
    print(f"- whole process wall time (import, read, 4 forwards): {wall}")


def _median(fn, runs: int) -> float:  # type: ignore[no-untyped-def]
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def loss_cost() -> None:
    import torch

    from samfuse.models.sage.teacher import SageTeacherNet
    from samfuse.training.losses.sage import contrastive_semantic_loss, feature_loss
    from samfuse.training.losses.sage_features import FilterBankFeatures, SamTwoBlocks

    torch.manual_seed(0)
    b, h, w = 4, 192, 256
    o = torch.rand(b, 1, h, w, requires_grad=True)
    t, y, ir = (torch.rand(b, 1, h, w) for _ in range(3))
    vm = y * (torch.rand(b, 4, h, w) > 0.5)
    im = ir * (torch.rand(b, 4, h, w) > 0.5)
    print("\n## one 192×256 batch of 4")
    for name, extractor in (("filter bank (stand-in)", FilterBankFeatures()), ("SAM ViT-B, 2 blocks", SamTwoBlocks())):

        def step(ex=extractor) -> None:  # type: ignore[no-untyped-def]
            o.grad = None
            contrastive_semantic_loss(o, t, y, ir, vm, im, ex).backward()

        print(f"- L_cs forward + backward, {name}: {_median(step, 3):.2f} s")
    net = SageTeacherNet().train()
    taps_ref = None

    def teacher_step() -> None:
        nonlocal taps_ref
        net.zero_grad()
        out, taps = net(y, ir, vm, im, return_taps=True)
        taps_ref = taps_ref or [torch.randn_like(x) for x in taps]
        (out.mean() + feature_loss(taps, taps_ref)).backward()

    print(f"- teacher forward + backward with taps: {_median(teacher_step, 2):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-forward", action="store_true")
    parser.add_argument("--skip-losses", action="store_true")
    args = parser.parse_args()
    print(f"machine: {machine()}\n")
    if not args.skip_forward:
        forward_cost()
    if not args.skip_losses:
        loss_cost()
    print(f"\nload average at the end: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
