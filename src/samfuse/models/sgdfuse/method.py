"""The registered SGDFuse methods (``sgdfuse-stage1`` and ``sgdfuse``) and their weights files.

Method boundary (the samfuse contract): IR (B,1,H,W) and visible RGB (B,3,H,W) in [0, 1] → RGB in [0, 1];
inside, everything is in [−1, 1] (the authors' range). Colour (``config.chroma``, default ``"visible"``): the
networks see and emit RGB, but the method keeps only the BT.601 luminance of their (clamped) output and puts the
visible Cb/Cr back (:func:`samfuse.io.colour.merge_luma`, the pipeline's ``ycbcr`` path for ``consumes="y"``
methods), so SGDFuse keeps the visible colour like every other samfuse method; ``"network"`` returns the networks'
RGB (the behaviour before issue 24). ``sgdfuse`` takes the ``modality_mask`` product as
``masks``: M_ir and M_vis, binary, as a tensor (B,2,H,W) or (2,H,W) (channel 0 = IR, 1 = VIS), or a pair
``(m_ir, m_vis)`` of H×W arrays/tensors (bool or {0,1}), or a dict with keys ``"ir"`` and ``"vis"``. The
U-Net sees them as {−1, +1}; an empty mask is −1 everywhere (the no-guidance ablation feeds exactly that).

Weights: one safetensors file holding ``stage1.*`` (and for the full model ``unet.*``, ``hfah.*``) with the
whole :class:`~samfuse.models.sgdfuse.profiles.SGDFuseConfig` as JSON in the metadata key ``samfuse_config``
(the scheduler's configuration included), so a file alone rebuilds its model. Loaded with
``safetensors.torch.load_file`` (no unpickling).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from safetensors.torch import save as save_safetensors
from torch import nn

from samfuse.io import atomic_write
from samfuse.io.colour import merge_luma, split_luma
from samfuse.models.base import FusionMethod, MissingWeightsError
from samfuse.models.registry import register
from samfuse.models.sgdfuse.hfah import HFAH, guide_stack
from samfuse.models.sgdfuse.profiles import SGDFuseConfig, get_profile
from samfuse.models.sgdfuse.sampler import autocast, crop, pad_to_multiple, refine
from samfuse.models.sgdfuse.scheduler import NoiseScheduler
from samfuse.models.sgdfuse.stage1 import Stage1
from samfuse.models.sgdfuse.unet import UNet

__all__ = [
    "SGDFuseStage1Method",
    "SGDFuseMethod",
    "as_mask_channels",
    "save_weights",
    "load_weights",
    "build_sgdfuse_stage1",
    "build_sgdfuse",
]

CONFIG_KEY = "samfuse_config"
HOW_TO_TRAIN = (
    "no trained weights yet: train them with `samfuse train sgdfuse-stage1 --out RUN1` then `samfuse train "
    "sgdfuse --set stage1=RUN1/weights/sgdfuse_stage1.safetensors --out RUN2` and pass "
    "RUN2/weights/sgdfuse.safetensors with --weights (docs/sgdfuse.md)"
)


def _to_tensor(m: Any) -> torch.Tensor:
    t = m if isinstance(m, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(m))
    return t.float()


def as_mask_channels(masks: Any, batch: int, size: tuple[int, int], device: torch.device) -> torch.Tensor:
    """The ``modality_mask`` product in any accepted form (module docstring) → (B,2,H,W) float {0, 1}."""
    if isinstance(masks, Mapping):
        masks = (masks["ir"], masks["vis"])
    if isinstance(masks, tuple | list):
        if len(masks) != 2:
            raise ValueError(f"modality masks: expected (M_ir, M_vis), got {len(masks)} items")
        parts = []
        for m in masks:
            t = _to_tensor(m)
            t = t.reshape(-1, *t.shape[-2:]) if t.ndim > 2 else t[None]
            parts.append(t[:, None])
        out = torch.cat(parts, dim=1)
    else:
        out = _to_tensor(masks)
        if out.ndim == 3:
            out = out[None]
        if out.ndim != 4 or out.shape[1] != 2:
            raise ValueError(f"modality masks: expected (B,2,H,W) or (2,H,W), got {tuple(out.shape)}")
    if tuple(out.shape[-2:]) != tuple(size):
        raise ValueError(f"modality masks are {tuple(out.shape[-2:])}, the images {tuple(size)}")
    if out.shape[0] == 1 and batch > 1:
        out = out.expand(batch, -1, -1, -1)
    if out.shape[0] != batch:
        raise ValueError(f"modality masks: batch {out.shape[0]}, images {batch}")
    return (out > 0.5).float().to(device)


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    """NHWC layout: oneDNN's convolutions (depthwise ones above all) run 1.5–3× faster on CPU than in NCHW."""
    return x.contiguous(memory_format=torch.channels_last)


def _with_chroma(rgb: torch.Tensor, vi: torch.Tensor, chroma: str) -> torch.Tensor:
    """The method's output from the networks' RGB in [0, 1]: its luminance with ``vi``'s Cb/Cr (``"visible"``),
    or the RGB itself (``"network"``); contiguous, in [0, 1]."""
    rgb = rgb.clamp(0.0, 1.0)
    if chroma == "visible":
        rgb = merge_luma(split_luma(rgb)[0], split_luma(vi.float())[1])
    return rgb.contiguous()


class SGDFuseStage1Method(FusionMethod):
    """SGDFuse stage 1 on its own (the ablation "stage 1 alone"): F1 mapped to [0, 1]."""

    consumes = "rgb"
    tile_pixels = 2_097_152  # larger images are fused in tiles (samfuse.tiling); 0.78 GiB over the process at 1024×1024

    def __init__(self, config: SGDFuseConfig) -> None:
        super().__init__()
        self.config = config
        self.stage1 = Stage1(config.stage1)
        self.to(memory_format=torch.channels_last)

    def forward(self, ir: torch.Tensor, vi: torch.Tensor, masks: Any = None) -> torch.Tensor:
        f1 = self.stage1(_channels_last(ir * 2 - 1), _channels_last(vi * 2 - 1))
        return _with_chroma((f1 + 1) / 2, vi, self.config.chroma)


class SGDFuseMethod(FusionMethod):
    """Full SGDFuse: stage 1 → mask-conditioned diffusion refiner → HFAH (docs/sgdfuse-notes.md §3, refiner reading).

    Deterministic: every call seeds its own generator with ``config.sampler.seed``.
    """

    consumes = "rgb"
    needs_masks = "modality_mask"
    tile_pixels = 1_572_864  # larger images are fused in tiles (samfuse.tiling); LLVIP (1280×1024) whole

    def __init__(self, config: SGDFuseConfig) -> None:
        super().__init__()
        self.config = config
        self.stage1 = Stage1(config.stage1)
        self.unet = UNet(config.unet)
        self.hfah = HFAH(config.hfah)
        self.scheduler = NoiseScheduler(config.scheduler)
        if not (config.guidance and config.diffusion):
            self.needs_masks = None  # type: ignore[misc]  (instance override: these ablations take no masks)
        self.to(memory_format=torch.channels_last)

    @property
    def multiple(self) -> int:
        return self.unet.multiple

    def forward(self, ir: torch.Tensor, vi: torch.Tensor, masks: Any = None) -> torch.Tensor:
        cfg = self.config
        b, _, h, w = vi.shape
        if not cfg.diffusion:  # ablation: stage 1 alone (no padding needed, masks unused)
            f1 = self.stage1(_channels_last(ir * 2 - 1), _channels_last(vi * 2 - 1))
            return _with_chroma((f1 + 1) / 2, vi, cfg.chroma)
        if cfg.guidance:
            if masks is None:
                raise ValueError("sgdfuse needs modality_mask masks (M_ir, M_vis); pass masks=")
            m = as_mask_channels(masks, b, (h, w), vi.device)
        else:
            m = torch.zeros(b, 2, h, w, device=vi.device)
        x = torch.cat([ir * 2 - 1, vi * 2 - 1, m * 2 - 1], dim=1)
        s = cfg.sampler
        x, hw = pad_to_multiple(x, self.multiple)
        x = _channels_last(x)
        ir_p, vi_p, m_p = x[:, :1], x[:, 1:4], x[:, 4:]
        with autocast(s.precision, vi.device):
            f1 = self.stage1(ir_p, vi_p).float()
        gen = torch.Generator(device=vi.device).manual_seed(s.seed)
        out = refine(
            self.unet,
            self.hfah if cfg.use_hfah else None,
            self.scheduler,
            f1,
            m_p,
            steps=s.steps,
            generator=gen,
            tile=s.tile,
            tile_overlap=s.tile_overlap,
            precision=s.precision,
            guide=guide_stack(cfg.hfah.guide_channels, f1, ir_p, vi_p, m_p),
        )
        img = out.fused if cfg.use_hfah and out.fused is not None else out.sample
        return _with_chroma((crop(img, hw) + 1) / 2, vi, cfg.chroma)


def save_weights(path: str | Path, model: nn.Module, config: SGDFuseConfig) -> None:
    """Write ``model``'s parameters and buffers plus ``config`` (JSON metadata) as one safetensors file, atomically."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    data = save_safetensors(tensors, metadata={CONFIG_KEY: config.to_json()})
    atomic_write(path, lambda fh: fh.write(data))


def load_weights(path: str | Path) -> tuple[SGDFuseConfig, dict[str, torch.Tensor]]:
    """Read a weights file written by :func:`save_weights`: its config and its tensors (CPU)."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{p}: no such weights file")
    try:
        with safe_open(str(p), framework="pt") as fh:
            meta = fh.metadata() or {}
        tensors = load_file(str(p), device="cpu")
    except Exception as err:  # safetensors raises its own error types for a damaged file
        raise ValueError(f"{p}: not a safetensors weights file ({err})") from err
    if CONFIG_KEY not in meta:
        raise ValueError(f"{p}: no {CONFIG_KEY} metadata (not an SGDFuse weights file)")
    return SGDFuseConfig.from_json(meta[CONFIG_KEY]), tensors


def _load_into(model: nn.Module, tensors: dict[str, torch.Tensor], path: str | Path, prefix_filter: str | None) -> None:
    if prefix_filter is not None:
        tensors = {k: v for k, v in tensors.items() if k.startswith(prefix_filter)}
    if prefix_filter is None and tensors and all(k.startswith("stage1.") for k in tensors):
        raise ValueError(f"{path}: holds stage 1 only; train stage 2 on it with `samfuse train sgdfuse ...`")
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{path}: weights do not fit the model (missing {len(missing)}, unexpected {len(unexpected)} tensors)"
        )


def _config(
    weights: str | Path | None, profile: str, random_init: bool, name: str
) -> tuple[SGDFuseConfig, dict[str, torch.Tensor] | None, str | Path]:
    """The configuration and tensors of ``weights`` (the shipped file when None), and the file they came from."""
    if weights is None:
        if random_init:
            return get_profile(profile), None, ""
        from samfuse.models.sgdfuse.shipped import SGDFUSE

        if not SGDFUSE.is_file():
            raise MissingWeightsError(HOW_TO_TRAIN)
        weights = SGDFUSE
    cfg, tensors = load_weights(weights)
    return cfg, tensors, weights


@register("sgdfuse-stage1", "SGDFuse stage 1: MSFEM IR + Restormer VIS + cross-attention → RGB (shipped cpu weights)")
def build_sgdfuse_stage1(
    weights: str | Path | None = None, profile: str = "cpu", random_init: bool = False, chroma: str | None = None
) -> SGDFuseStage1Method:
    """``weights``: a stage-1 or full SGDFuse file; ``random_init=True`` (tests, speed) builds ``profile`` untrained.
    ``chroma``: ``"visible"`` (default: the visible Cb/Cr on F1's luminance) or ``"network"`` (F1's own RGB)."""
    cfg, tensors, path = _config(weights, profile, random_init, "sgdfuse-stage1")
    if chroma is not None:
        cfg = replace(cfg, chroma=chroma)  # type: ignore[arg-type]  (checked by SGDFuseConfig)
    method = SGDFuseStage1Method(cfg)
    if tensors is not None:
        _load_into(method, tensors, path, prefix_filter="stage1.")
    return method


@register("sgdfuse", "SGDFuse: stage 1 + mask-conditioned diffusion refiner + HFAH → RGB (shipped weights; masks)")
def build_sgdfuse(
    weights: str | Path | None = None,
    profile: str = "cpu",
    random_init: bool = False,
    steps: int | None = None,
    seed: int | None = None,
    kind: str | None = None,
    tile: int | None = None,
    tile_overlap: int | None = None,
    precision: str | None = None,
    guidance: bool | None = None,
    diffusion: bool | None = None,
    use_hfah: bool | None = None,
    start_gamma: float | None = None,
    chroma: str | None = None,
) -> SGDFuseMethod:
    """Build SGDFuse; the sampler options and the ablations override what the weights file (or profile) says.

    ``guidance=False``: empty mask channels (no masks needed); ``diffusion=False``: stage 1 alone;
    ``use_hfah=False``: the sampler's own output. ``kind``: ``"ddpm"`` (default) or ``"ddim"`` (eta 0).
    ``start_gamma``: the noise level γ (signal share) F1 is noised to before it is denoised back (the SDEdit start;
    1 = no noise, smaller = more noise; the file's value, 0.86 unless a model card says otherwise).
    ``chroma``: ``"visible"`` (default: the fused luminance with the visible Cb/Cr) or ``"network"`` (the
    networks' RGB, as before issue 24).
    """
    cfg, tensors, path = _config(weights, profile, random_init, "sgdfuse")
    sampler = {
        k: v
        for k, v in {
            "steps": steps,
            "seed": seed,
            "tile": tile,
            "tile_overlap": tile_overlap,
            "precision": precision,
        }.items()
        if v is not None
    }
    if sampler:
        cfg = cfg.with_sampler(**sampler)
    if kind is not None:
        cfg = replace(cfg, scheduler=replace(cfg.scheduler, kind=kind))
    if start_gamma is not None:
        cfg = replace(cfg, scheduler=replace(cfg.scheduler, start_gamma=float(start_gamma)))
    ablate = {
        k: v
        for k, v in {"guidance": guidance, "diffusion": diffusion, "use_hfah": use_hfah, "chroma": chroma}.items()
        if v is not None
    }
    if ablate:
        cfg = replace(cfg, **ablate)
    method = SGDFuseMethod(cfg)
    if tensors is not None:
        _load_into(method, tensors, path, prefix_filter=None)
    return method


def config_json(method: SGDFuseMethod | SGDFuseStage1Method) -> str:
    """The method's configuration as indented JSON (for model cards and logs)."""
    return json.dumps(json.loads(method.config.to_json()), indent=2)
