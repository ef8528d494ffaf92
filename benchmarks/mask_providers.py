"""Seconds per 640×480 image for each mask provider and SAM preset on this machine, and the
``samfuse masks`` run over the 106 MSRS IR images (first run, then the cached rerun).

Usage: python benchmarks/mask_providers.py [--models vit_t,vit_b,vit_l,vit_h] [--no-cli] [--out FILE.md]

* ``regions`` and ``thermal``: median wall time over MSRS 00004N and 00081D, IR and visible, ``--repeat`` runs.
* ``sam``: random-weight models of the real architectures (no checkpoint is available offline; the cost does
  not depend on the weights).  ``vit_t`` and ``vit_b`` go through the provider exactly as a user's checkpoint
  does (seeded random state dict saved with torch.save, then loaded); ``vit_l``/``vit_h`` are timed with the
  same package generator directly (saving multi-GB random checkpoints would only cost disk).
  Per model we measure the image encoder (one ``set_image``) and the prompt decoder (per point prompt, at 64
  and 256 prompts per batch), each the fastest of 3 runs (the least disturbed on a shared machine), and
  report for each preset, at the library's 64 prompts per batch (256 is slower per prompt on this CPU),
  ``n_encoder_passes · t_encoder + n_prompts · t_prompt`` with the counts taken from the generator itself
  (``sage``: 5 crops, 32,768 prompts; ``default``: 1, 1,024; ``fast``: 1, 256).  The ``fast`` preset is
  also run end to end for vit_t and vit_b (``--full-fast``: every model) to check the model against a real run.
  The decoder is the same network in every model, so its per-prompt figures differ only by machine load.
  A random model keeps almost no masks, so mask post-processing (RLE, NMS, SAGE's small-region clean-up) is
  not in these figures: with real weights expect somewhat more.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from samfuse.data import resolve_root
from samfuse.io import read_raw
from samfuse.machine import cpu_model
from samfuse.semantics import get_provider
from samfuse.semantics.compat import install
from samfuse.semantics.sam import PRESETS

STEMS = ("00004N", "00081D")


def machine() -> str:
    cpu = cpu_model()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{platform.node()}: {cpu}, {cores} cores{mem}, {gpu}; Python {platform.python_version()}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), {platform.system()} {platform.release()}"
    )


def timed(fn: Any, *args: Any) -> float:
    """Wall seconds of one call (see :func:`best`)."""
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def best(fn: Any, *args: Any, runs: int = 3) -> tuple[float, float]:
    """(min wall s, CPU s of that run) over ``runs`` calls: the minimum is the least disturbed by other
    processes on a shared machine."""
    out = []
    for _ in range(runs):
        c0, t0 = time.process_time(), time.perf_counter()
        fn(*args)
        out.append((time.perf_counter() - t0, time.process_time() - c0))
    return min(out)


def weight_free(images: list[np.ndarray], repeat: int) -> list[tuple[str, str, float, str]]:
    rows = []
    for name in ("regions", "thermal"):
        provider = get_provider(name)
        provider(images[0])  # warm-up (imports)
        times = [min(timed(provider, img) for _ in range(repeat)) for img in images]
        counts = [len(provider(img)) for img in images]
        note = f"median over {len(times)} images of the fastest of {repeat} runs; masks {min(counts)}-{max(counts)}"
        rows.append((name, "defaults", statistics.median(times), note))
    return rows


def sam_model(model: str, tmp: Path) -> tuple[Any, Any, str]:
    """(net, generator class, how it was loaded) for a seeded random model."""
    install()
    if model == "vit_t":
        from mobile_sam import SamAutomaticMaskGenerator, sam_model_registry
    else:
        from segment_anything import SamAutomaticMaskGenerator, sam_model_registry
    torch.manual_seed(0)
    net = sam_model_registry[model]()
    if model in ("vit_t", "vit_b"):
        ckpt = tmp / f"{model}_random.pt"
        torch.save(net.state_dict(), ckpt)
        del net
        provider = get_provider("sam", checkpoint=ckpt, preset="fast")
        ckpt.unlink()
        return provider.net, SamAutomaticMaskGenerator, "provider (checkpoint file)"
    return net.eval(), SamAutomaticMaskGenerator, "package generator"


def sam_rows(
    model: str, image: np.ndarray, tmp: Path, full_fast: bool, full_default: bool = False
) -> list[tuple[str, str, float, str]]:
    install()
    from segment_anything.utils.amg import generate_crop_boxes

    net, gen_cls, how = sam_model(model, tmp)
    rgb = np.ascontiguousarray(image)
    with torch.inference_mode():
        gen = gen_cls(net, points_per_side=32, points_per_batch=64)
        t_enc, c_enc = best(gen.predictor.set_image, rgb)
        size = rgb.shape[:2]
        points = gen.point_grids[0] * np.array(size)[None, ::-1]
        t_prompt: dict[int, float] = {}
        for ppb in (64, 256):
            wall, _ = best(gen._process_batch, points[:ppb], size, [0, 0, size[1], size[0]], size)
            t_prompt[ppb] = wall / ppb
        gen.predictor.reset_image()
    rows = []
    for preset, args in PRESETS.items():
        g = gen_cls(net, **args)
        boxes, layers = generate_crop_boxes(size, g.crop_n_layers, g.crop_overlap_ratio)
        n_prompts = sum(len(g.point_grids[layer]) for layer in layers)
        ppb = 64  # the library default, which every preset uses (256 was measured slower per prompt)
        est = len(boxes) * t_enc + n_prompts * t_prompt[ppb]
        note = (
            f"model: {len(boxes)} x {t_enc:.1f} s encoder ({c_enc:.1f} CPU s) + {n_prompts:,} prompts x "
            f"{t_prompt[ppb] * 1000:.0f} ms (batch 64; batch 256: {t_prompt[256] * 1000:.0f} ms); {how}"
        )
        rows.append((f"sam {model}", preset, est, note))
        end_to_end = (preset == "fast" and (full_fast or model in ("vit_t", "vit_b"))) or (
            preset == "default" and full_default
        )
        if end_to_end:
            g = gen_cls(net, **args)
            with torch.inference_mode():
                t, c = best(g.generate, rgb, runs=1)
            note = f"measured end to end, {c:.0f} CPU s (model above: {est:.0f} s)"
            rows.append((f"sam {model}", preset, t, note))
    del net
    return rows


def cli_runs(ir_dir: Path, tmp: Path) -> list[tuple[str, float, str]]:
    out = tmp / "masks"
    cmd = [sys.executable, "-m", "samfuse", "masks", "--images", str(ir_dir), "--out", str(out),
           "--masks", "regions", "--jobs", "2"]  # fmt: skip
    rows = []
    for label in ("first run", "second run (cache)"):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        dt = time.perf_counter() - t0
        summary = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
        rows.append((label, dt, summary))
    files = list(out.rglob("*.npz"))
    kib = [f.stat().st_size / 1024 for f in files]
    if kib:
        size = f"{len(files)} cache files, {sum(kib) / 1024:.2f} MiB, {min(kib):.1f}-{max(kib):.1f} KiB each"
        rows.append(("cache on disk", float("nan"), size))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="vit_t,vit_b,vit_l,vit_h")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--full-fast", action="store_true", help="run the fast preset end to end for every model")
    parser.add_argument(
        "--full-default", action="store_true", help="also run the default preset end to end (minutes per model)"
    )
    parser.add_argument("--no-cli", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="also write the Markdown here")
    args = parser.parse_args()

    root = resolve_root() / "MSRS"
    images = [read_raw(root / mod / f"{s}.png") for s in STEMS for mod in ("ir", "vi")]
    assert all(img.shape[:2] == (480, 640) for img in images)
    load0 = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    lines = [
        f"Machine: {machine()}",
        "",
        f"Load average at the start (1/5/15 min): {load0[0]:.1f} / {load0[1]:.1f} / {load0[2]:.1f}",
        "",
    ]
    print(lines[0], flush=True)

    rows = weight_free(images, args.repeat)
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for model in [m for m in args.models.split(",") if m]:
            t0 = time.perf_counter()
            rows += sam_rows(model, images[3], tmp, args.full_fast, args.full_default)  # MSRS 00081D visible
            print(f"{model} done in {time.perf_counter() - t0:.0f} s", flush=True)
        cli = [] if args.no_cli else cli_runs(root / "ir", tmp)

    lines += ["| provider | preset | s / 640×480 image | how |", "|---|---|---:|---|"]
    for name, preset, sec, note in rows:
        shown = f"{sec:,.0f} (≈ {sec / 3600:.1f} h)" if sec >= 1000 else (f"{sec:.0f}" if sec >= 10 else f"{sec:.2f}")
        lines.append(f"| {name} | {preset} | {shown} | {note} |")
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    lines += ["", f"Load average at the end (1/5/15 min): {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"]
    if cli:
        lines += ["", "`samfuse masks --images MSRS/ir --masks regions --jobs 2` (106 images):", ""]
        lines += ["| run | wall s | summary |", "|---|---:|---|"]
        lines += [f"| {label} | {'' if sec != sec else f'{sec:.1f}'} | {summary} |" for label, sec, summary in cli]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
        args.out.with_suffix(".json").write_text(
            json.dumps({"machine": machine(), "rows": rows, "cli": cli}, indent=1) + "\n"
        )


if __name__ == "__main__":
    main()
