"""sage-rt against the authors' SAGE student on the CPU: frames per second at 640×480, in one run, as ratios.

Four paths, on one decoded 640×480 MSRS frame (00004N: IR and the visible luminance as float32 tensors in memory,
no I/O, batch 1, warm), interleaved round-robin so that load from other processes hits all of them alike:

* ``authors torch``: ``build("sage-student", weights=sage_student_official.pt)`` (samfuse's PyTorch path of the
  released network: BatchNorm folded, channels-last, inference mode);
* ``authors onnx``: the same exported with ``samfuse.export.export_onnx`` and run by onnxruntime;
* ``sage-rt torch`` and ``sage-rt onnx``: ``build("sage-rt", ...)`` with ``--weights FILE``, or untrained
  (``random_init=True``; the cost does not depend on the weights) when none is given; ``sage-rt onnx, 1 thread``:
  the same file on one onnxruntime thread (its small operations gain little from a second thread, and one core
  stays free for decoding frames).

Each round times ``--frames`` frames of each sage-rt path and ``--authors-frames`` of each authors' path and keeps
the median per frame; the tables give the median over ``--rounds`` rounds (FPS, per-round ratios) and the best
round of each path (the least disturbed by other processes). The machine line (``samfuse.machine``) and the
load average before and after are printed: on a shared machine the absolute FPS move with the load, and so do
the ratios, because sage-rt's many small operations suffer more from waiting for a core than the authors' few
large convolutions.

``--step-cost``: seconds per training step of ``samfuse train sage-rt --profile cpu`` instead (30 steps on
``--data msrs-train-128``, timed from step 10 to 30 from the run's log; data loading included), and how many
steps fit in two hours. Run it on one core: ``OMP_NUM_THREADS=1 taskset -c 1 python benchmarks/sage_rt_speed.py
--step-cost``.

Usage: ``OMP_NUM_THREADS=2 python benchmarks/sage_rt_speed.py [--rounds 9] [--frames 20] [--weights FILE]
[--out FILE.md]``.
"""

from __future__ import annotations

import os

# As samfuse sets for itself (docs/decisions.md, "Threads"): idle OpenMP threads sleep instead of spinning.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from samfuse.export import OnnxMethod, export_onnx
from samfuse.io import read_raw
from samfuse.io.colour import luma
from samfuse.machine import describe_machine
from samfuse.models import build
from samfuse.models.sage.student import SageStudentNet
from samfuse.models.sage_rt import conv_macs

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SAMFUSE_SHARED", REPO.parent / "shared"))
OFFICIAL = SHARED / "reference" / "sage" / "sage_student_official.pt"
FRAME = SHARED / "datasets" / "MSRS"

Path_ = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def frame() -> tuple[torch.Tensor, torch.Tensor]:
    """MSRS 00004N (640×480) as (IR, Y), (1,1,480,640) float32 in [0, 1]."""
    ir = torch.from_numpy(read_raw(FRAME / "ir" / "00004N.png").astype(np.float32) / 255)
    vi = torch.from_numpy(read_raw(FRAME / "vi" / "00004N.png").astype(np.float32) / 255)
    ir = ir.mean(-1) if ir.ndim == 3 else ir
    y = luma(vi.permute(2, 0, 1)[None])
    return ir[None, None].contiguous(), y.contiguous()


def paths(weights: Path | None, threads: int, tmp: Path) -> dict[str, Path_]:
    warnings.simplefilter("ignore")
    authors = build("sage-student", weights=OFFICIAL)
    rt = build("sage-rt", weights=weights) if weights else build("sage-rt", random_init=True)
    authors_onnx = OnnxMethod(export_onnx(authors, tmp / "authors.onnx", name="sage-student"), threads=threads)
    rt_file = export_onnx(rt, tmp / "rt.onnx", name="sage-rt")
    return {
        "authors torch": authors.forward_raw,
        "authors onnx": authors_onnx.forward_raw,
        "sage-rt torch": rt.forward_raw,
        "sage-rt onnx": OnnxMethod(rt_file, threads=threads).forward_raw,
        "sage-rt onnx, 1 thread": OnnxMethod(rt_file, threads=1).forward_raw,
    }


def speed(args: argparse.Namespace) -> list[str]:
    torch.set_num_threads(args.threads)
    lines = [f"machine: {describe_machine()}", f"torch {torch.__version__}, {args.threads} threads (torch and ORT)"]
    ir, y = frame()
    with tempfile.TemporaryDirectory() as tmp:
        fns = paths(args.weights, args.threads, Path(tmp))
        per_round: dict[str, list[float]] = {k: [] for k in fns}
        with torch.inference_mode():
            for fn in fns.values():  # warm-up
                fn(ir, y)
                fn(ir, y)
            for _ in range(args.rounds):
                for name, fn in fns.items():
                    n = args.authors_frames if name.startswith("authors") else args.frames
                    times = []
                    for _ in range(n):
                        t0 = time.perf_counter()
                        fn(ir, y)
                        times.append(time.perf_counter() - t0)
                    per_round[name].append(statistics.median(times))
    load_end = os.getloadavg()
    rt_macs, authors_macs = conv_macs(build("sage-rt", random_init=True).net), conv_macs(SageStudentNet())
    lines += [
        f"load average at the end: {load_end[0]:.1f} (1 min), {load_end[1]:.1f} (5 min)",
        f"convolution MACs per 640x480 frame: sage-rt {rt_macs / 1e9:.3f} G, "
        f"authors' student {authors_macs / 1e9:.2f} G",
        f"weights: sage-rt {args.weights or 'random_init (the cost does not depend on the weights)'}; "
        f"authors {OFFICIAL.name}",
        "",
        f"640x480, batch 1, median over {args.rounds} interleaved rounds:",
        "",
        "| path | ms / frame | FPS | best round: ms / frame | FPS |",
        "|---|---:|---:|---:|---:|",
    ]
    for k, v in per_round.items():
        med, best = statistics.median(v), min(v)
        lines.append(f"| {k} | {med * 1e3:.1f} | {1 / med:.1f} | {best * 1e3:.1f} | {1 / best:.1f} |")

    def ratio(a: str, b: str) -> str:
        med = statistics.median(x / z for x, z in zip(per_round[a], per_round[b], strict=True))
        return f"{med:.1f} | {min(per_round[a]) / min(per_round[b]):.1f}"

    lines += [
        "",
        "| speed-up | median of per-round ratios | best round / best round |",
        "|---|---:|---:|",
        f"| sage-rt onnx vs authors onnx | {ratio('authors onnx', 'sage-rt onnx')} |",
        f"| sage-rt onnx (1 thread) vs authors onnx ({args.threads} threads) | "
        f"{ratio('authors onnx', 'sage-rt onnx, 1 thread')} |",
        f"| sage-rt onnx vs authors torch | {ratio('authors torch', 'sage-rt onnx')} |",
        f"| sage-rt torch vs authors torch | {ratio('authors torch', 'sage-rt torch')} |",
        f"| sage-rt torch vs authors onnx | {ratio('authors onnx', 'sage-rt torch')} |",
    ]
    return lines


def step_cost() -> list[str]:
    from samfuse.training import train

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        train(
            "sage-rt", out=out, data="msrs-train-128", profile="cpu", overrides={"log_every": "10"}, max_steps=30,
            progress=False,
        )  # fmt: skip
        recs = {r["step"]: r for r in map(json.loads, (out / "log.jsonl").read_text().splitlines()) if "event" not in r}
    per_step = (recs[30]["wall_s"] - recs[10]["wall_s"]) / 20
    return [
        f"machine: {describe_machine()}",
        f"torch threads: {torch.get_num_threads()}; CPU affinity: {sorted(os.sched_getaffinity(0))}",
        f"samfuse train sage-rt --profile cpu --data msrs-train-128: {per_step:.3f} s/step (steps 10-30, data "
        f"loading included) -> {7200 / per_step:.0f} steps in two hours",
        f"load average at the end: {os.getloadavg()[0]:.1f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--frames", type=int, default=20, help="sage-rt frames per path and round")
    parser.add_argument("--authors-frames", type=int, default=2, help="authors' frames per path and round")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--weights", type=Path, default=None, help="a sage-rt weights file (default: random_init)")
    parser.add_argument("--step-cost", action="store_true", help="time training steps instead (see the docstring)")
    parser.add_argument("--out", type=Path, default=None, help="also write the lines to this file")
    args = parser.parse_args()
    lines = step_cost() if args.step_cost else speed(args)
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
