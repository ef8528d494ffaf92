"""Why SGDFuse's stage 2 does worse than its own stage 1 (issue 24): measurements on the 5 MSRS *training* pairs
(``MSRS/train``, never the 106 test pairs), full 640×480, ``regions`` masks, seed 0.

For a weights file (default: the shipped one) it prints, as means over the pairs:

1. the denoiser alone, one step: F1 noised to γ, x̂0 = (x_t − √(1−γ²)·ε̂)/γ; PSNR(x̂0, F1) next to PSNR(x_t/γ, F1)
   (the "do nothing" denoiser, ε̂ = 0) and the RMS error of ε̂;
2. the refiner at its stored start: PSNR and SSIM (luminance, [0, 1], skimage) of the sampler's own sample and of
   the final (HFAH) image against F1, and the source SSIM (mean of SSIM(F_Y, IR) and SSIM(F_Y, VIS_Y)) of F1, the
   sample and the final image;
3. stage 2's own fusion objective (λ_int·L_int^M + λ_grad·L_grad^M, per RGB channel and on the luminance) of F1
   and of the final image: what HFAH is trained toward, scored on both;
4. colour: mean |ΔCb| + |ΔCr| against the visible image (8-bit units, BT.601) of F1, the final image, and the
   method's output (after its chroma handling).

    python benchmarks/sgdfuse_diagnosis.py [--weights W] [--gammas 0.999,0.99,0.95,0.86] [--pairs 5]
        [--out benchmarks/results/sgdfuse_diagnosis.md]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from skimage.metrics import structural_similarity

from samfuse.io import read_image, read_raw
from samfuse.io.colour import split_luma
from samfuse.models import build
from samfuse.models.sgdfuse.method import as_mask_channels
from samfuse.models.sgdfuse.sampler import crop, pad_to_multiple, refine
from samfuse.semantics import MaskSource
from samfuse.training.losses.sgdfuse import _in_space, gradient_loss, intensity_loss, mask_weight, max_targets

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "datasets" / "MSRS" / "train"


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of two images in [0, 1]."""
    mse = float((a - b).square().mean())
    return 10 * np.log10(1.0 / max(mse, 1e-12))


def unit(x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """A padded [−1, 1] image cropped back to ``hw`` and mapped to [0, 1]."""
    return (crop(x, hw) + 1) / 2


def y_of(x: torch.Tensor) -> np.ndarray:
    """(1,C,H,W) in [0, 1] → H×W luminance (float64)."""
    y = split_luma(x.clamp(0, 1))[0] if x.shape[1] == 3 else x
    return y[0, 0].double().numpy()


def ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(structural_similarity(y_of(a), y_of(b), data_range=1.0))


def source_ssim(f: torch.Tensor, ir: torch.Tensor, vi: torch.Tensor) -> float:
    return 0.5 * (ssim(f, ir) + ssim(f, vi))


def chroma_error(f: torch.Tensor, vi: torch.Tensor) -> float:
    """mean(|Cb_F − Cb_V| + |Cr_F − Cr_V|) in 8-bit units (BT.601, kornia)."""
    return float((split_luma(f.clamp(0, 1))[1] - split_luma(vi)[1]).abs().sum(1).mean()) * 255


def fusion_objective(f: torch.Tensor, ir: torch.Tensor, vi: torch.Tensor, masks: torch.Tensor, space: str) -> float:
    """λ_int·L_int^M + λ_grad·L_grad^M (1.5, 1.0) of F ([0, 1]) as stage 2's loss scores it ([−1, 1])."""
    fs, i, v = _in_space(f * 2 - 1, ir * 2 - 1, vi * 2 - 1, space)  # type: ignore[arg-type]
    t_int, t_grad = max_targets(i.expand_as(v), v)
    w = mask_weight(masks[:, :1], masks[:, 1:2])
    return float(1.5 * intensity_loss(fs, t_int, w) + 1.0 * gradient_loss(fs, t_grad, w))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", type=Path, default=None, help="default: the shipped file")
    ap.add_argument("--gammas", default="0.999,0.99,0.95,0.86")
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.manual_seed(0)
    m = build("sgdfuse", weights=args.weights).eval()
    cfg = m.config
    gammas = [float(g) for g in args.gammas.split(",")]
    source = MaskSource.create("regions")
    rows: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        rows.setdefault(key, []).append(value)

    t0 = time.monotonic()
    stems = sorted(p.stem for p in (DATA / "ir").glob("*.png"))[: args.pairs]
    for stem in stems:
        ir_raw, vi_raw = read_raw(DATA / "ir" / f"{stem}.png"), read_raw(DATA / "vi" / f"{stem}.png")
        masks_np = source("modality_mask", ir_raw, vi_raw)
        ir = torch.from_numpy(read_image(DATA / "ir" / f"{stem}.png"))[None, None].float()
        vi = torch.from_numpy(read_image(DATA / "vi" / f"{stem}.png")).permute(2, 0, 1)[None].float()
        h, w = vi.shape[-2:]
        masks = as_mask_channels(torch.from_numpy(masks_np.astype(np.float32)), 1, (h, w), vi.device)
        with torch.inference_mode():
            x, hw = pad_to_multiple(torch.cat([ir * 2 - 1, vi * 2 - 1, masks * 2 - 1], 1), m.multiple)
            f1 = m.stage1(x[:, :1], x[:, 1:4])
            mp = x[:, 4:]
            gen = torch.Generator().manual_seed(0)
            for g in gammas:  # 1. one denoising step from γ
                noise = torch.randn(f1.shape, generator=gen)
                sigma = (1 - g * g) ** 0.5
                xt = g * f1 + sigma * noise
                eps = m.unet(torch.cat([xt, mp], 1), torch.tensor([g]))
                x0 = ((xt - sigma * eps) / g).clamp(-1, 1)
                add(f"x0_psnr@{g}", psnr(unit(x0, hw), unit(f1, hw)))
                add(f"identity_psnr@{g}", psnr(unit((xt / g).clamp(-1, 1), hw), unit(f1, hw)))
                add(f"eps_rms_err@{g}", float((eps - noise).square().mean().sqrt()))
                add(f"eps_rms@{g}", float(eps.square().mean().sqrt()))
            out = refine(
                m.unet,
                m.hfah,
                m.scheduler,
                f1,
                mp,
                steps=cfg.sampler.steps,
                generator=torch.Generator().manual_seed(cfg.sampler.seed),
            )
        f1u = (crop(f1, hw) + 1) / 2
        sample = (crop(out.sample, hw) + 1) / 2
        final_raw = out.fused if out.fused is not None else out.sample
        final = (crop(final_raw, hw).clamp(-1, 1) + 1) / 2
        with torch.inference_mode():
            shipped = m(ir, vi, masks=masks)
        add("sample_psnr_vs_f1", psnr(sample, f1u))
        add("final_psnr_vs_f1", psnr(final, f1u))
        add("sample_ssim_vs_f1", ssim(sample, f1u))
        add("final_ssim_vs_f1", ssim(final, f1u))
        add("f1_source_ssim", source_ssim(f1u, ir, vi))
        add("sample_source_ssim", source_ssim(sample, ir, vi))
        add("final_source_ssim", source_ssim(final, ir, vi))
        add("method_source_ssim", source_ssim(shipped, ir, vi))
        for space in ("rgb", "y"):
            add(f"f1_objective_{space}", fusion_objective(f1u, ir, vi, masks, space))
            add(f"final_objective_{space}", fusion_objective(final, ir, vi, masks, space))
        add("f1_chroma_err", chroma_error(f1u, vi))
        add("final_chroma_err", chroma_error(final, vi))
        add("method_chroma_err", chroma_error(shipped, vi))
    lines = [
        f"# SGDFuse stage-2 diagnosis (issue 24): {len(stems)} MSRS train pairs ({', '.join(stems)}), 640×480",
        "",
        f"Command: `python benchmarks/sgdfuse_diagnosis.py {' '.join(sys.argv[1:])}`",
        "",
        f"Weights: `{args.weights or 'shipped'}`; start_gamma {cfg.scheduler.start_gamma}, {cfg.sampler.steps} steps, "
        f"seed {cfg.sampler.seed}; HFAH residual {cfg.hfah.residual}; chroma `{cfg.chroma}`; `regions` masks; "
        f"load average {os.getloadavg()[0]:.2f}; {time.monotonic() - t0:.0f} s.",
        "",
        "| quantity | mean | per pair |",
        "|---|---:|---|",
        *(f"| {k} | {np.mean(v):.4f} | {', '.join(f'{x:.3f}' for x in v)} |" for k, v in rows.items()),
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
