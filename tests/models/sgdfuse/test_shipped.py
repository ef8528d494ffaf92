"""The shipped SGDFuse weights (``samfuse/models/sgdfuse/weights``) on real MSRS pairs, through the pipeline, and the
diagnostics of issue 24 on 96×128 crops of the 5 MSRS *training* pairs (seconds each): the denoiser hands back an
almost clean input, the refiner does not lower stage 1's SSIM, and both methods keep the visible colour."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from samfuse.io import read_raw
from samfuse.io.colour import split_luma
from samfuse.models import build
from samfuse.models.sgdfuse import load_weights
from samfuse.models.sgdfuse.shipped import MODEL_CARD, SGDFUSE
from samfuse.pipeline import FusionPipeline
from samfuse.semantics import MaskSource
from shared_paths import DATASETS

PAIR = "00004N"
TRAIN = DATASETS / "MSRS/train"
#: the shipped file predates issue 24 (R's replacing HFAH, trained toward the fusion target instead of F1)
OLD_HEAD = not load_weights(SGDFUSE)[0].hfah.residual if SGDFUSE.is_file() else True


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ir = read_raw(DATASETS / "MSRS/ir" / f"{PAIR}.png")
    vi = read_raw(DATASETS / "MSRS/vi" / f"{PAIR}.png")
    masks = MaskSource.create("regions")("modality_mask", ir, vi)
    return ir, vi, masks


def test_the_shipped_file_and_its_card_are_in_the_package() -> None:
    assert SGDFUSE.is_file() and SGDFUSE.stat().st_size < 5_000_000
    card = MODEL_CARD.read_text()
    assert SGDFUSE.name in card and "regions" in card


def chroma_error(fused: np.ndarray | torch.Tensor, vi: np.ndarray | torch.Tensor) -> float:
    """mean(|Cb_F − Cb_V| + |Cr_F − Cr_V|) in 8-bit units (BT.601), two H×W×3 arrays or (1,3,H,W) tensors."""
    f, v = (torch.from_numpy(np.asarray(x, np.float32)).permute(2, 0, 1)[None] if not torch.is_tensor(x) else x
            for x in (fused, vi))  # fmt: skip
    return float((split_luma(f.clamp(0, 1))[1] - split_luma(v)[1]).abs().sum(1).mean()) * 255


def test_shipped_sgdfuse_fuses_a_real_msrs_pair_in_colour_deterministically(pair) -> None:  # noqa: ANN001
    ir, vi, masks = pair
    fused = {}
    for seed in (0, 0, 1):
        pipeline = FusionPipeline("sgdfuse", seed=seed)  # the shipped weights: no --weights
        fused.setdefault(seed, []).append(pipeline.fuse_arrays(ir, vi, masks=masks))
    a, b = fused[0]
    assert a.shape == (480, 640, 3) and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0
    np.testing.assert_array_equal(a, b)  # same seed, identical image
    assert np.abs(a - fused[1][0]).max() > 0  # another seed, another sample
    # the refined image stays close to stage 1's F1 (the refiner starts from F1 noised to an intermediate step)
    stage1 = FusionPipeline(build("sgdfuse-stage1")).fuse_arrays(ir, vi)
    assert np.abs(a - stage1).mean() < 0.1
    # both keep the visible colour (issue 24: the night scenes' foliage came out grey)
    assert chroma_error(a, vi / 255.0) <= 2.0 and chroma_error(stage1, vi / 255.0) <= 2.0


@pytest.fixture(scope="module")
def crops() -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """96×128 centre crops of the 5 MSRS training pairs: IR (1,1,h,w), VIS (1,3,h,w) in [0, 1], ``regions``
    modality masks (1,2,h,w)."""
    source, out = MaskSource.create("regions"), []
    for ir_path in sorted(Path(TRAIN / "ir").glob("*.png")):
        ir_u8 = read_raw(ir_path)[192:288, 256:384]
        vi_u8 = read_raw(TRAIN / "vi" / ir_path.name)[192:288, 256:384]
        masks = source("modality_mask", ir_u8, vi_u8).astype(np.float32)
        ir = torch.from_numpy(ir_u8 / 255.0).float()[None, None]
        vi = torch.from_numpy(vi_u8 / 255.0).float().permute(2, 0, 1)[None]
        out.append((ir, vi, torch.from_numpy(masks)[None]))
    assert len(out) == 5
    return out


def luma_ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """skimage SSIM of the BT.601 luminances (a 1-channel tensor is its own), data range 1."""
    y = [(split_luma(x.clamp(0, 1))[0] if x.shape[1] == 3 else x)[0, 0].double().numpy() for x in (a, b)]
    return float(structural_similarity(y[0], y[1], data_range=1.0))


def source_ssim(fused: torch.Tensor, ir: torch.Tensor, vi: torch.Tensor) -> float:
    return 0.5 * (luma_ssim(fused, ir) + luma_ssim(fused, vi))


@pytest.mark.parametrize("gamma", [0.99, 0.999])
def test_shipped_denoiser_hands_back_an_almost_clean_input(crops, gamma: float) -> None:  # noqa: ANN001
    """One step of the trained ε-model at γ ≥ 0.99: x̂0 = (x_t − √(1−γ²)·ε̂)/γ is within 30 dB of the clean F1.
    (Doing nothing, ε̂ = 0, gives about 23 dB at γ = 0.99 and 33 dB at 0.999: 0.99 is the check that bites.)"""
    m = build("sgdfuse").eval()
    gen, sigma = torch.Generator().manual_seed(0), (1 - gamma * gamma) ** 0.5
    for ir, vi, masks in crops:
        with torch.inference_mode():
            f1 = m.stage1(ir * 2 - 1, vi * 2 - 1)
            x_t = gamma * f1 + sigma * torch.randn(f1.shape, generator=gen)
            eps = m.unet(torch.cat([x_t, masks * 2 - 1], 1), torch.tensor([gamma]))
            x0 = ((x_t - sigma * eps) / gamma).clamp(-1, 1)
        psnr = 10 * np.log10(4.0 / float((x0 - f1).square().mean()))  # [−1, 1]: peak-to-peak 2
        assert psnr >= 30.0, psnr


@pytest.mark.xfail(
    OLD_HEAD,
    strict=True,
    reason="the shipped stage 2 predates issue 24: its HFAH replaces F1 instead of correcting it and lowers the "
    "source SSIM by about 0.05 on these crops; passes once stage 2 is retrained with the residual head",
)
def test_shipped_refiner_does_not_lower_stage1_ssim(crops) -> None:  # noqa: ANN001
    """At its stored start, sgdfuse's mean source SSIM (mean of SSIM(F_Y, IR) and SSIM(F_Y, VIS_Y)) over the
    5 crops is at most 0.02 below sgdfuse-stage1's."""
    full, stage1 = build("sgdfuse").eval(), build("sgdfuse-stage1").eval()
    s_full, s_stage1 = [], []
    for ir, vi, masks in crops:
        with torch.inference_mode():
            s_full.append(source_ssim(full(ir, vi, masks=masks), ir, vi))
            s_stage1.append(source_ssim(stage1(ir, vi), ir, vi))
    assert np.mean(s_full) >= np.mean(s_stage1) - 0.02, (np.mean(s_full), np.mean(s_stage1))


def test_shipped_methods_keep_the_visible_colour(crops) -> None:  # noqa: ANN001
    """Colour fidelity, mean |ΔCb| + |ΔCr| against the visible image in 8-bit units, ≤ 2 for both methods (the
    networks' own RGB, ``chroma="network"``, is at about 9 on these crops)."""
    full, stage1 = build("sgdfuse").eval(), build("sgdfuse-stage1").eval()
    raw = build("sgdfuse-stage1", chroma="network").eval()
    errs: dict[str, list[float]] = {"sgdfuse": [], "stage1": [], "network": []}
    for ir, vi, masks in crops:
        with torch.inference_mode():
            errs["sgdfuse"].append(chroma_error(full(ir, vi, masks=masks), vi))
            errs["stage1"].append(chroma_error(stage1(ir, vi), vi))
            errs["network"].append(chroma_error(raw(ir, vi), vi))
    assert max(errs["sgdfuse"]) <= 2.0 and max(errs["stage1"]) <= 2.0, errs
    assert np.mean(errs["network"]) > 2.0, errs  # the measure does see the grey cast this fixes
