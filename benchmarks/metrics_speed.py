"""Speed of samfuse's metrics at 640×480, against a straightforward ``convolve2d`` VIF, and of ``samfuse eval``.

On the real MSRS pair ``00004N`` (IR + visible, 640×480) with the fused image F = round((IR + VI)/2):

1. the 8-metric CDDFuse set EN SD SF MI SCD VIF Qabf SSIM, one call each back to back, and VIF alone, first
   (so that ``--default-malloc`` measures a fresh process);
2. the same VIF (VIFp(IR, F) + VIFp(VI, F)) written the straightforward way with ``scipy.signal.convolve2d``
   (as the reference evaluator does it), its time and the speed-up ratio, and the agreement of the values;
3. seconds per pair of every metric of the ``cddfuse`` profile (grey float32, as CDDFuse reads) and of the
   ``vifb`` profile (RGB, per channel), the median (and minimum) of ``--repeat`` calls;
4. with ``--msrs``: the wall time of ``samfuse eval --jobs 2`` over all 106 MSRS test pairs (fused images:
   the per-channel average of IR and VI, written once to a temporary folder), process start included.

Large temporaries are kept on the heap as ``samfuse eval`` does (``--default-malloc`` to measure without,
see ``samfuse.metrics._malloc``). Prints the machine (platform, CPU model, CPU count). Usage:
``python benchmarks/metrics_speed.py [--repeat 7] [--msrs] [--data ../shared/datasets]``.
"""

from __future__ import annotations

import argparse
import os
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
from scipy.signal import convolve2d

from samfuse.io import read_raw
from samfuse.machine import cpu_model
from samfuse.metrics import CONVENTIONS
from samfuse.metrics._malloc import tune_malloc
from samfuse.metrics.reading import grey_cddfuse

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets"
SET8 = ["EN", "SD", "SF", "MI", "SCD", "VIF", "Qabf", "SSIM"]
REFERENCE_SET8_S = 3.32  # ../shared/reference/cddfuse/README.md: the evaluator itself, same kind of machine


def machine() -> str:
    model = cpu_model()
    return f"{platform.platform()}; {model}; {os.cpu_count()} CPUs; Python {platform.python_version()}"


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(median, min) seconds of ``repeat`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def vifp_convolve2d(ref: np.ndarray, dist: np.ndarray) -> float:
    """Baseline: multi-scale VIFp written directly with ``scipy.signal.convolve2d`` (2-D windows, float64)."""
    ref = ref.astype(np.float64)
    dist = dist.astype(np.float64)
    eps, sigma_nsq = 1e-10, 2.0
    num = den = 0.0
    for scale in range(1, 5):
        n = 2 ** (5 - scale) + 1
        half = (n - 1) / 2
        y, x = np.ogrid[-half : half + 1, -half : half + 1]
        win = np.exp(-(x * x + y * y) / (2 * (n / 5.0) ** 2))
        win[win < np.finfo(np.float64).eps * win.max()] = 0
        win /= win.sum()
        if scale > 1:
            ref = convolve2d(ref, win, mode="valid")[::2, ::2]
            dist = convolve2d(dist, win, mode="valid")[::2, ::2]
        mu1 = convolve2d(ref, win, mode="valid")
        mu2 = convolve2d(dist, win, mode="valid")
        s1 = convolve2d(ref * ref, win, mode="valid") - mu1 * mu1
        s2 = convolve2d(dist * dist, win, mode="valid") - mu2 * mu2
        s12 = convolve2d(ref * dist, win, mode="valid") - mu1 * mu2
        s1[s1 < 0] = 0
        s2[s2 < 0] = 0
        g = s12 / (s1 + eps)
        sv = s2 - g * s12
        g[s1 < eps] = 0
        sv[s1 < eps] = s2[s1 < eps]
        s1[s1 < eps] = 0
        g[s2 < eps] = 0
        sv[s2 < eps] = 0
        sv[g < 0] = s2[g < 0]
        g[g < 0] = 0
        sv[sv <= eps] = eps
        num += np.sum(np.log10(1 + g * g * s1 / (sv + sigma_nsq)))
        den += np.sum(np.log10(1 + s1 / sigma_nsq))
    return float(num / den)


def per_metric_table(name: str, ir: np.ndarray, vi: np.ndarray, fused: np.ndarray, repeat: int) -> list[str]:
    conv = CONVENTIONS[name]
    lines = [f"| {name} metric | median s/pair | min s/pair |", "|---|---|---|"]
    for metric in conv.metrics:
        med, best = timed(lambda m=metric: conv.compute(m, ir, vi, fused), repeat)
        lines.append(f"| {metric} | {med:.4f} | {best:.4f} |")
    med, best = timed(lambda: conv.evaluate(ir, vi, fused), repeat)
    lines.append(f"| all {len(conv.default)} default metrics | {med:.4f} | {best:.4f} |")
    return lines


def msrs_eval(data: Path, jobs: int) -> str:
    ir_dir, vi_dir = data / "MSRS/ir", data / "MSRS/vi"
    stems = sorted(p.stem for p in ir_dir.glob("*.png"))
    with tempfile.TemporaryDirectory(prefix="samfuse-bench-") as tmp:
        fused_dir = Path(tmp) / "fused"
        fused_dir.mkdir()
        for stem in stems:
            ir = read_raw(ir_dir / f"{stem}.png").astype(np.float32)
            vi = read_raw(vi_dir / f"{stem}.png").astype(np.float32)
            if vi.ndim == 3 and ir.ndim == 2:
                ir = ir[..., None]
            f = np.round((ir + vi) / 2).astype(np.uint8)
            cv2.imwrite(str(fused_dir / f"{stem}.png"), f[..., ::-1] if f.ndim == 3 else f)
        entry = "from samfuse.cli.main import main; main()"
        cmd = [
            *(sys.executable, "-c", entry, "eval", "--ir", str(ir_dir), "--vi", str(vi_dir)),
            *("--fused", str(fused_dir), "--jobs", str(jobs), "--out", str(Path(tmp) / "m.csv")),
        ]
        out = []
        for convention in ("cddfuse", "vifb"):
            t0 = time.perf_counter()
            proc = subprocess.run([*cmd, "--convention", convention], capture_output=True, text=True)
            dt = time.perf_counter() - t0
            if proc.returncode != 0:
                raise RuntimeError(proc.stderr[-2000:])
            out.append(
                f"| samfuse eval --convention {convention} --jobs {jobs} (default metrics) | {len(stems)} | "
                f"{dt:.1f} s | {dt / len(stems):.3f} s |"
            )
    return "\n".join(["| command | pairs | wall time | per pair |", "|---|---|---|---|", *out])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--msrs", action="store_true", help="also time `samfuse eval --jobs 2` on 106 MSRS pairs")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--default-malloc", action="store_true", help="do not raise glibc's mmap/trim thresholds (samfuse eval does)"
    )
    args = parser.parse_args()
    data = args.data.resolve()
    tuned = False if args.default_malloc else tune_malloc()
    print(f"machine: {machine()}")
    print(f"glibc malloc thresholds raised as in `samfuse eval`: {tuned}")
    print(f"load average before: {os.getloadavg()[0]:.2f}\n")

    raw_ir = read_raw(data / "MSRS/ir/00004N.png")
    raw_vi = read_raw(data / "MSRS/vi/00004N.png")
    # cddfuse: grey float32 as its reader gives; F = round((IR + VI)/2)
    ir, vi = grey_cddfuse(raw_ir), grey_cddfuse(raw_vi)
    fused = np.round((ir + vi) / 2)
    # vifb: uint8 as decoded; F = per-channel average
    vifb_f = np.round((raw_ir.astype(np.float32)[..., None] + raw_vi) / 2).astype(np.uint8)
    print(f"pair: MSRS 00004N, {ir.shape[1]}x{ir.shape[0]}; F = round((IR + VI)/2); median/min of {args.repeat}\n")

    conv = CONVENTIONS["cddfuse"]
    set_med, set_min = timed(lambda: [conv.compute(m, ir, vi, fused) for m in SET8], args.repeat)
    vif_med, vif_min = timed(lambda: conv.compute("VIF", ir, vi, fused), args.repeat)
    base_repeat = max(3, args.repeat // 2)
    base_med, base_min = timed(lambda: vifp_convolve2d(ir, fused) + vifp_convolve2d(vi, fused), base_repeat)
    ours = conv.compute("VIF", ir, vi, fused)
    base = vifp_convolve2d(ir, fused) + vifp_convolve2d(vi, fused)
    print("| measurement | median s/pair | min s/pair |")
    print("|---|---|---|")
    print(f"| 8-metric cddfuse set {' '.join(SET8)} | {set_med:.4f} | {set_min:.4f} |")
    print(f"| VIF, samfuse (separable, OpenCV) | {vif_med:.4f} | {vif_min:.4f} |")
    print(f"| VIF, straightforward convolve2d baseline | {base_med:.4f} | {base_min:.4f} |")
    print()
    print(f"VIF speed-up over the convolve2d baseline (medians): {base_med / vif_med:.1f}x")
    print(f"VIF values: samfuse {ours!r}, baseline {base!r}, relative difference {abs(ours - base) / base:.1e}")
    print(
        f"8-metric set vs the reference evaluator's {REFERENCE_SET8_S} s (cddfuse README, its pinned environment): "
        f"{REFERENCE_SET8_S / set_med:.0f}x (target: <= 0.1 s, >= 30x)"
    )
    print()
    print("\n".join(per_metric_table("cddfuse", ir, vi, fused, args.repeat)))
    print()
    print("\n".join(per_metric_table("vifb", raw_ir, raw_vi, vifb_f, args.repeat)))
    print()

    if args.msrs:
        print()
        print(msrs_eval(data, args.jobs))
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
