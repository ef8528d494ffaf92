"""onnxruntime's per-node profile of the exported ``sage-rt`` network on a real 640×480 MSRS frame and on random
inputs of the same size (issue 23; docs/sage_rt.md, "Speed of the shipped weights"), one thread, mean ms per run by
operator type.

    python benchmarks/sage_rt_ort_profile.py [--onnx FILE] [--runs 40] [--out benchmarks/results/sage_rt_ort_profile.md]

Without ``--onnx`` the shipped default weights are exported into a temporary folder first.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import shlex
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

from samfuse.data.datasets import resolve_root
from samfuse.export import export_onnx
from samfuse.io import read_raw
from samfuse.machine import describe_machine
from samfuse.metrics.temporal import luminance


def profile(path: Path, ir: np.ndarray, vi: np.ndarray, runs: int, prefix: str) -> dict[str, float]:
    """Mean kernel time (ms per run) of each operator type over ``runs`` runs, one intra-op thread."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = 1
    options.enable_profiling = True
    options.profile_file_prefix = prefix
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    for _ in range(runs):
        session.run(None, {"ir": ir, "vi": vi})
    events = json.loads(Path(session.end_profiling()).read_text())
    per_op: dict[str, float] = collections.defaultdict(float)
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            per_op[e["args"]["op_name"]] += e["dur"] / runs / 1000
    return per_op


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onnx", type=Path, help="an exported sage-rt graph (default: export the shipped weights)")
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/sage_rt_ort_profile.md"))
    args = parser.parse_args()
    msrs = resolve_root(None) / "MSRS"
    ir = luminance(read_raw(msrs / "ir" / "00004N.png"))[None, None].copy()
    vi = luminance(read_raw(msrs / "vi" / "00004N.png"))[None, None].copy()
    rng = np.random.default_rng(0)
    noise = rng.random((2, 1, 1, 480, 640), dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.onnx or Path(tmp) / "sage_rt.onnx"
        if args.onnx is None:
            export_onnx("sage-rt", path)
        real = profile(path, ir, vi, args.runs, str(Path(tmp) / "real"))
        rand = profile(path, noise[0], noise[1], args.runs, str(Path(tmp) / "random"))
    ops = sorted(set(real) | set(rand), key=lambda k: -real.get(k, 0.0))
    lines = ["| operator | real frame (ms) | random inputs (ms) |", "|---|---:|---:|"]
    lines += [f"| {k} | {real.get(k, 0.0):.3f} | {rand.get(k, 0.0):.3f} |" for k in ops]
    lines.append(f"| **total** | **{sum(real.values()):.3f}** | **{sum(rand.values()):.3f}** |")
    command = "python benchmarks/sage_rt_ort_profile.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    text = [
        "# onnxruntime's per-operator time for the sage-rt network",
        "",
        f"Measured {datetime.date.today().isoformat()} on {describe_machine()}; onnxruntime {ort.__version__}, one "
        f"intra-op thread, mean over {args.runs} runs of a 640×480 input: the luminance of MSRS `00004N` (IR and "
        "visible) and uniform random inputs.",
        "",
        *lines,
        "",
        f"Command: `{command}`",
        "",
    ]
    args.out.write_text("\n".join(text), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
