"""Where does ``sage-rt``'s flicker come from? (issue 23; docs/sage_rt.md, "Temporal stability").

The network's output is ``F = a·Y + b·I + c + g·m`` (:mod:`samfuse.models.sage_rt.net`). On panning clips made from
the five full-size MSRS **training** pairs (:func:`samfuse.video.synthetic.pan_zoom_frames`, lossless), the fused
luminance is rendered with one ingredient changed at a time and its flicker measured
(:func:`samfuse.metrics.temporal.temporal_stability`, on the grey output):

* ``as trained``: the network unchanged;
* ``g = 0``: without the max-abs detail term;
* ``smoothed k``: the coefficient maps averaged over 5×5 cells at 1/4 resolution before the upsampling;
* ``a + b = 1``: the two fusion weights rescaled to sum to one (a convex combination where both are ≥ 0).

Usage::

    python benchmarks/sage_rt_flicker_diagnosis.py --weights sage-rt.distilled sage-rt.temporal \\
        [--frames 16] [--out benchmarks/results/sage_rt_flicker_diagnosis.md]
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from samfuse.data.datasets import resolve_root
from samfuse.io import read_raw
from samfuse.machine import describe_machine
from samfuse.metrics.temporal import luminance, temporal_stability
from samfuse.models.pretrained import resolve
from samfuse.models.sage_rt.method import load_rt
from samfuse.models.sage_rt.net import SageRTNet
from samfuse.video.synthetic import pan_zoom_frames

STEMS = ("00001D", "00556D", "00633D", "00881N", "01023N")
VARIANTS = ("as trained", "g = 0", "smoothed k", "a + b = 1")


def render(net: SageRTNet, y: torch.Tensor, ir: torch.Tensor, variant: str) -> torch.Tensor:
    """The network's output on (1,1,H,W) ``y`` and ``ir`` with ``variant`` applied, clamped to [0, 1]."""
    h, w = y.shape[-2:]
    yp, ip, m, x0 = net.inputs(y, ir)
    k = net.coefficients(x0)
    if variant == "smoothed k":
        k = F.avg_pool2d(k, 5, 1, 2, count_include_pad=False)
    a, b, c, g = (net.upsample(k[:, i : i + 1]) for i in range(4))
    if variant == "g = 0":
        g = torch.zeros_like(g)
    if variant == "a + b = 1":
        a, b = a / (a + b), b / (a + b)
    return (a * yp + b * ip + c + g * m)[..., :h, :w].clamp(0.0, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", nargs="+", default=["sage-rt.distilled"], help="sage-rt weights names or files")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/sage_rt_flicker_diagnosis.md"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    root = resolve_root(None) / "MSRS" / "train"
    clips = [
        list(
            pan_zoom_frames(
                read_raw(root / "ir" / f"{s}.png"), read_raw(root / "vi" / f"{s}.png"), args.frames, (640, 480)
            )
        )
        for s in STEMS
    ]
    lines = ["| weights | " + " | ".join(f"flicker, {v}" for v in VARIANTS) + " |", "|---|" + "---:|" * len(VARIANTS)]
    for weights in args.weights:
        net = load_rt(resolve("sage-rt", weights))  # type: ignore[arg-type]
        cells = []
        for variant in VARIANTS:
            per_clip = []
            for frames in clips:
                fused = []
                for ir, vi in frames:
                    y = torch.from_numpy(luminance(vi))[None, None]
                    i = torch.from_numpy(luminance(ir))[None, None]
                    with torch.no_grad():
                        out = render(net, y, i, variant)
                    fused.append((out[0, 0].numpy() * 255).round().astype(np.uint8))
                per_clip.append(temporal_stability((f[0] for f in frames), (f[1] for f in frames), fused).flicker)
            cells.append(f"{np.mean(per_clip):.3f}")
            print(f"{weights} {variant}: {np.mean(per_clip):.3f}", file=sys.stderr)
        lines.append(f"| `{weights}` | " + " | ".join(cells) + " |")
    command = "python benchmarks/sage_rt_flicker_diagnosis.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    text = [
        "# Where sage-rt's flicker comes from",
        "",
        f"Measured {datetime.date.today().isoformat()} on {describe_machine()}; torch {torch.__version__}, 1 thread.",
        "",
        f"{len(clips)} lossless panning clips of {args.frames} frames at 640×480 over the full-size MSRS training "
        f"pairs {', '.join(f'`{s}`' for s in STEMS)}; flicker (grey levels per pixel and frame, the mean over the "
        "clips) of the fused **luminance** with one ingredient of F = a·Y + b·I + c + g·m changed at a time "
        "(the script's docstring). It differs from `temporal.md`'s figure, which is taken on the colour output.",
        "",
        *lines,
        "",
        f"Command: `{command}`",
        "",
    ]
    args.out.write_text("\n".join(text), encoding="utf-8")


if __name__ == "__main__":
    main()
