"""SAGE student on the CPU: the authors' inference path against samfuse's PyTorch and onnxruntime backends.

In one run, on the machine it prints:

1. **Speed at 640×480** (MSRS 00004N, decoded arrays, I/O excluded, batch 1, fp32, warm), interleaved round-robin
   so that load from other processes hits all three alike; median of ``--repeat`` rounds, each as a ratio to (1):
   (1) the authors' path: an independent transcription of their ``test.py`` (plain eager, ``torch.no_grad``,
       unfolded BatchNorm, OpenCV YCrCb on BGR uint8, ``utils.YCrCb2RGB``, ``save_image``'s quantisation);
   (2) samfuse PyTorch: ``FusionPipeline("sage-student", color="opencv").fuse_arrays`` (BN folded, inference mode);
   (3) samfuse onnxruntime: the same pipeline on ``samfuse.export.OnnxMethod``.
2. **Outputs**: (2) and (3) against (1) on pairs none of the tests use (MSRS test set, RoadScene), and all three
   against the authors' published PNGs (``../shared/reference/sage/expected``, the 8 M3FD pairs): fraction of
   identical values and the largest difference.
3. **Whole command**: ``samfuse fuse --color opencv`` on the 106 ``msrs`` pairs (fresh output folder), for both
   backends, as pairs per second including start-up, reading, PNG encoding and writing.

Usage: ``python benchmarks/sage_student_speed.py [--repeat 9] [--parity-pairs N] [--skip-outputs] [--skip-whole]
[--out benchmarks/results]`` (writes ``sage_student_speed.json``, or ``sage_student_speed_speed_only.json`` with
``--skip-outputs``; print the tables with ``| tee``).
"""

from __future__ import annotations

import os

# All three paths share this process, so they share OpenMP's wait policy: PASSIVE, as samfuse sets for itself
# (docs/decisions.md, "Threads"). It must be set before torch loads; with the default (spinning) policy, torch in
# this process ran ~1.5× slower than in `samfuse fuse` on the shared 2-core VM. The authors' path gets it too.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from samfuse.machine import cpu_model

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SAMFUSE_SHARED", REPO.parent / "shared"))
DATA = SHARED / "datasets"
SAGE = SHARED / "reference" / "sage"
WEIGHTS = SAGE / "sage_student_official.pt"


def machine() -> str:
    model = cpu_model()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{platform.platform()}; {model}; {os.cpu_count()} CPUs; no GPU used; torch {torch.__version__} "
        f"({torch.get_num_threads()} threads); Python {platform.python_version()}; load average at start {load}"
    )


# --- (1) the authors' inference path, transcribed independently of samfuse (docs/sage-notes.md §1, §6) -------------


class AuthorsStudent(nn.Module):
    """upstream model_sub/model.py ``Network`` as docs/sage-notes.md §1 describes it (key names as in the
    checkpoint)."""

    def __init__(self, dim: int = 32) -> None:
        super().__init__()

        def block(cin: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin, dim, 3, 1, 1), nn.BatchNorm2d(dim), nn.LeakyReLU(0.01),
                nn.Conv2d(dim, dim, 3, 1, 1), nn.BatchNorm2d(dim), nn.LeakyReLU(0.01),
                nn.Conv2d(dim, dim, 3, 1, 1), nn.BatchNorm2d(dim), nn.LeakyReLU(0.01),
            )  # fmt: skip

        self.module1, self.module2, self.module3 = block(2), block(dim), block(dim)
        self.adjust_channels4 = nn.Sequential(nn.Conv2d(2 * dim, dim, 1), nn.BatchNorm2d(dim), nn.LeakyReLU(0.01))
        self.module4 = block(dim)
        self.adjust_channels5 = nn.Sequential(nn.Conv2d(2 * dim, dim, 1), nn.BatchNorm2d(dim), nn.LeakyReLU(0.01))
        self.module5 = block(dim)
        self.final_decoder = nn.Sequential(nn.Conv2d(dim, 1, 3, 1, 1), nn.Tanh())

    def forward(self, y: torch.Tensor, ir: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x1 = self.module1(torch.cat((y, ir), 1))
        x2 = self.module2(F.max_pool2d(x1, 2))
        x3 = self.module3(F.max_pool2d(x2, 2))
        u3 = F.interpolate(x3, size=x2.shape[2:], mode="bilinear", align_corners=False)
        x4 = self.module4(self.adjust_channels4(torch.cat((u3, x2), 1)))
        u4 = F.interpolate(x4, size=x1.shape[2:], mode="bilinear", align_corners=False)
        x5 = self.module5(self.adjust_channels5(torch.cat((u4, x1), 1)))
        return self.final_decoder(x5), [x1, x2, x3, x4, x5]


def authors_model() -> AuthorsStudent:
    m = AuthorsStudent()
    m.load_state_dict(torch.load(WEIGHTS, map_location="cpu", weights_only=True))
    return m.eval()


def authors_inputs(vi_bgr: np.ndarray, ir_bgr: np.ndarray) -> tuple[torch.Tensor, ...]:
    """dataset_test.py: cvtColor(BGR2YCrCb) → ToTensor (/255); IR: BGR2GRAY → /255."""
    ycrcb = torch.from_numpy(cv2.cvtColor(vi_bgr, cv2.COLOR_BGR2YCrCb).transpose(2, 0, 1).copy()).float().div(255)
    ir = torch.from_numpy(cv2.cvtColor(ir_bgr, cv2.COLOR_BGR2GRAY)).float().div(255)
    return ycrcb[None, 0:1], ycrcb[None, 1:2], ycrcb[None, 2:3], ir[None, None]


def authors_ycrcb2rgb(input_im: torch.Tensor) -> torch.Tensor:
    """utils.YCrCb2RGB (without .cuda())."""
    im_flat = input_im.transpose(1, 3).transpose(1, 2).reshape(-1, 3)
    mat = torch.tensor([[1.0, 1.0, 1.0], [1.403, -0.714, 0.0], [0.0, -0.344, 1.773]])
    bias = torch.tensor([0.0 / 255, -0.5, -0.5])
    temp = (im_flat + bias).mm(mat)
    n, _, h, w = input_im.shape
    return temp.reshape(n, h, w, 3).transpose(1, 3).transpose(2, 3)


def authors_fuse(model: AuthorsStudent, vi_bgr: np.ndarray, ir_bgr: np.ndarray) -> np.ndarray:
    """test.py on one pair, up to the uint8 RGB array that save_image writes."""
    with torch.no_grad():
        y, c1, c2, ir = authors_inputs(vi_bgr, ir_bgr)
        out, _ = model(y, ir)
        rgb = authors_ycrcb2rgb(torch.cat((out, c1, c2), dim=1))
        return rgb[0].mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to(torch.uint8).numpy()


# --- samfuse --------------------------------------------------------------------------------------------------


def samfuse_backends(tmp: Path) -> dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]]:
    from samfuse.export import OnnxMethod, export_onnx
    from samfuse.pipeline import FusionPipeline

    torch_pipe = FusionPipeline("sage-student", weights=WEIGHTS, color="opencv")
    onnx_file = export_onnx("sage-student", tmp / "sage_student.onnx", weights=WEIGHTS)
    onnx_pipe = FusionPipeline(OnnxMethod(onnx_file), color="opencv")
    # samfuse takes RGB arrays (read_raw); the authors' path takes cv2.imread's BGR
    return {
        "samfuse PyTorch": lambda vi_bgr, ir_bgr: torch_pipe.fuse_arrays(ir_bgr[..., ::-1], vi_bgr[..., ::-1]),
        "samfuse onnxruntime": lambda vi_bgr, ir_bgr: onnx_pipe.fuse_arrays(ir_bgr[..., ::-1], vi_bgr[..., ::-1]),
    }


def compare(a: np.ndarray, b: np.ndarray) -> tuple[int, int, int]:
    """(identical values, all values, largest difference)."""
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return int((d == 0).sum()), int(d.size), int(d.max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--parity-pairs", type=int, default=0, help="pairs per set for (2); 0 = all")
    ap.add_argument("--skip-whole", action="store_true", help="skip part 3 (a quick check of the script)")
    ap.add_argument("--skip-outputs", action="store_true", help="skip part 2 (the output comparisons)")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = ap.parse_args()
    print(f"machine: {machine()}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="sage-bench-"))
    authors = authors_model()
    paths: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
        "authors (eager, unfolded BN)": lambda v, r: authors_fuse(authors, v, r)
    }
    paths.update(samfuse_backends(tmp))
    names = list(paths)
    result: dict[str, object] = {"machine": machine()}

    # 1. speed at 640×480, round-robin
    vi = cv2.imread(str(DATA / "MSRS/vi/00004N.png"))
    ir = cv2.imread(str(DATA / "MSRS/ir/00004N.png"))
    assert vi.shape == (480, 640, 3)
    times: dict[str, list[float]] = {n: [] for n in names}
    outs = {n: fn(vi, ir) for n, fn in paths.items()}  # warm-up
    for _ in range(args.repeat):
        for n, fn in paths.items():
            t0 = time.perf_counter()
            fn(vi, ir)
            times[n].append(time.perf_counter() - t0)
    base = statistics.median(times[names[0]])
    speed = {}
    print(f"\n## 640×480, median of {args.repeat} interleaved rounds (decoded arrays; colour conversion included)\n")
    print("| path | ms per pair | pairs/s | ratio to the authors' path | identical values vs (1) | max diff |")
    print("|---|---|---|---|---|---|")
    for n in names:
        med = statistics.median(times[n])
        same, total, worst = compare(outs[n], outs[names[0]])
        speed[n] = {"median_s": med, "min_s": min(times[n]), "ratio": base / med, "identical": same / total,
                    "max_diff": worst}  # fmt: skip
        print(f"| {n} | {med * 1e3:.0f} | {1 / med:.2f} | {base / med:.2f}× | {100 * same / total:.4f} % | {worst} |")
    result["speed_640x480"] = speed

    # 2. outputs: published PNGs (M3FD) and unseen pairs (MSRS test, RoadScene) against the transcription
    print("\n## Outputs\n")
    print("| pairs | compared | path | identical values | max diff |")
    print("|---|---|---|---|---|")
    parity: dict[str, dict[str, object]] = {}
    m3fd = sorted((SAGE / "expected").glob("*.png"))
    for n, fn in () if args.skip_outputs else paths.items():
        same = total = worst = 0
        for ref in m3fd:
            out = fn(cv2.imread(str(DATA / "M3FD/vi" / ref.name)), cv2.imread(str(DATA / "M3FD/ir" / ref.name)))
            s, t, w = compare(out, cv2.imread(str(ref))[..., ::-1])
            same, total, worst = same + s, total + t, max(worst, w)
        parity[f"M3FD vs published / {n}"] = {"pairs": len(m3fd), "identical": same / total, "max_diff": worst}
        print(f"| M3FD, {len(m3fd)} | published PNGs | {n} | {100 * same / total:.4f} % | {worst} |")
    sets = (("MSRS test", DATA / "MSRS"), ("RoadScene", DATA / "RoadScene"))
    for set_name, folder in () if args.skip_outputs else sets:
        stems = sorted(p for p in (folder / "vi").iterdir() if p.is_file())
        if args.parity_pairs:
            stems = stems[: args.parity_pairs]
        acc = {n: [0, 0, 0] for n in names[1:]}
        for vi_path in stems:
            ir_path = next((folder / "ir").glob(vi_path.stem + ".*"))
            v, r = cv2.imread(str(vi_path)), cv2.imread(str(ir_path))
            ref = paths[names[0]](v, r)
            for n in names[1:]:
                s, t, w = compare(paths[n](v, r), ref)
                acc[n] = [acc[n][0] + s, acc[n][1] + t, max(acc[n][2], w)]
        for n, (s, t, w) in acc.items():
            parity[f"{set_name} vs authors' path / {n}"] = {"pairs": len(stems), "identical": s / t, "max_diff": w}
            print(f"| {set_name}, {len(stems)} | authors' path (1) | {n} | {100 * s / t:.4f} % | {w} |")
    result["outputs"] = parity

    # 3. whole command on the 106 msrs pairs, next to the same backend's compute-only rate on the same pairs
    print("\n## `samfuse fuse --color opencv` on the 106 msrs pairs (whole command, fresh output folder)\n")
    print("Compute only = `fuse_arrays` over the 106 pairs already decoded in memory, run just before the command.\n")
    print("| backend | compute only, pairs/s | whole command, wall s | whole command, pairs/s | whole / compute only |")
    print("|---|---|---|---|---|")
    whole = {}
    decoded = []
    for vi_path in sorted((DATA / "MSRS/vi").iterdir()):
        decoded.append((cv2.imread(str(vi_path)), cv2.imread(str(DATA / "MSRS/ir" / vi_path.name))))
    env = dict(os.environ, SAMFUSE_CACHE_DIR=str(tmp / "cache"))
    for backend, label in () if args.skip_whole else (("torch", "samfuse PyTorch"), ("onnx", "samfuse onnxruntime")):
        t0 = time.perf_counter()
        for v, r in decoded:
            paths[label](v, r)
        compute = len(decoded) / (time.perf_counter() - t0)
        weights = str(tmp / "sage_student.onnx") if backend == "onnx" else str(WEIGHTS)
        cmd = [sys.executable, "-m", "samfuse", "fuse", "--ir", str(DATA / "MSRS/ir"), "--vi", str(DATA / "MSRS/vi"),
               "--out", str(tmp / f"out-{backend}"), "--method", "sage-student", "--weights", weights,
               "--color", "opencv", "--backend", backend]  # fmt: skip
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        assert proc.returncode == 0 and "106 fused" in proc.stderr, proc.stderr[-500:]
        rate = len(decoded) / wall
        whole[backend] = {"compute_pairs_per_s": compute, "wall_s": wall, "pairs_per_s": rate}
        print(f"| {backend} | {compute:.2f} | {wall:.1f} | {rate:.2f} | {100 * rate / compute:.0f} % |", flush=True)
    result["whole_command_msrs"] = whole
    print(f"\nload average at end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.skip_whole or args.parity_pairs:
        return  # a quick check: nothing recorded
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "_speed_only" if args.skip_outputs else ""
    (args.out / f"sage_student_speed{suffix}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
