"""SGDFuse stage-2 sampling, the "refiner" reading (docs/sgdfuse-notes.md §3, decisions 1–3 and 12).

* U-Net input = concat(x_t [3 ch], M_ir, M_vis) = 5 channels; the mask channels (in [−1, 1]) are the same at
  every step, only x_t changes.
* SDEdit-style start: F1 (stage 1's image, [−1, 1]) is noised to the scheduler's start timestep
  (γ ≈ 0.86, the end of SR3's 60-step sampling schedule) and denoised back in ``steps`` steps.
* The last step (t = 0) runs the U-Net with ``return_features=True``; HFAH reads those decoder features. With
  a residual head (the default since issue 24) the fused image is **F1 + HFAH(features)**, anchored on the clean
  F1, so the sampler's residual noise reaches the output only through the features and an untrained (zero)
  head returns F1 exactly; R's replacing head (``residual=False``, the pre-issue-24 weights) emits the fused
  image itself. Without HFAH (ablation) the sampler's own final sample is returned (x̂0 clamped to [−1, 1] at
  every step, :meth:`NoiseScheduler.step`).
* Sizes: everything is reflect-padded to the U-Net's multiple and cropped back by the caller
  (:func:`pad_to_multiple`, :func:`crop`).
* Large images: ``tile`` runs the U-Net (and HFAH) on overlapping tiles blended with linear ramps. This is
  an approximation (GroupNorm statistics and attention see one tile), so it is off by default: the middle
  attention uses ``scaled_dot_product_attention`` and never stores the (H·W)² map, which is what made
  1280×1024 need tiling in the authors' code. ``precision="bfloat16"`` (CPU or GPU) or ``"float16"`` (GPU)
  runs the networks (stage 1 included, in the method) under autocast; the scheduler arithmetic stays float32.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from samfuse.models.sgdfuse.hfah import HFAH
from samfuse.models.sgdfuse.scheduler import NoiseScheduler
from samfuse.models.sgdfuse.unet import UNet

__all__ = ["SamplerConfig", "autocast", "pad_to_multiple", "crop", "refine", "tiled_apply"]

Precision = Literal["float32", "bfloat16", "float16"]


@dataclass(frozen=True)
class SamplerConfig:
    """Inference settings (no effect on the weights)."""

    steps: int = 10
    seed: int = 0
    tile: int | None = None
    tile_overlap: int = 32
    precision: Precision = "float32"

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError("steps must be >= 1")
        if self.tile is not None and self.tile <= self.tile_overlap:
            raise ValueError("tile must be larger than tile_overlap")
        if self.precision not in ("float32", "bfloat16", "float16"):
            raise ValueError(f"unknown precision {self.precision!r}")


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad the bottom/right of (B,C,H,W) to multiples of ``multiple``; returns it and the original (H, W).

    Reflection needs the pad smaller than the side; for a pad ≥ the side (tiny images) replicate is used.
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x, (h, w)
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode), (h, w)


def crop(x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    return x[..., : hw[0], : hw[1]]


def _ramp(n: int, overlap: int, at_start: bool, at_end: bool, device: torch.device) -> torch.Tensor:
    w = torch.ones(n, device=device)
    r = torch.linspace(0.0, 1.0, overlap + 2, device=device)[1:-1]
    if overlap and not at_start:
        w[:overlap] = r
    if overlap and not at_end:
        w[-overlap:] = r.flip(0)
    return w


def _starts(size: int, tile: int, stride: int) -> list[int]:
    if size <= tile:
        return [0]
    starts = list(range(0, size - tile, stride)) + [size - tile]
    return sorted(set(starts))


def tiled_apply(
    fn: Callable[[torch.Tensor], Sequence[torch.Tensor]], x: torch.Tensor, tile: int, overlap: int
) -> list[torch.Tensor]:
    """Apply a size-preserving ``fn`` (returning tensors of x's H×W) on overlapping ``tile``² tiles, blended.

    ``tile`` and ``overlap`` should be multiples of the network's multiple, as are x's sides (then every tile
    start is too). The blend weight is a separable linear ramp across each overlap.
    """
    h, w = x.shape[-2:]
    th, tw = min(tile, h), min(tile, w)
    ys, xs = _starts(h, th, th - overlap), _starts(w, tw, tw - overlap)
    outs: list[torch.Tensor] | None = None
    norm = torch.zeros(1, 1, h, w, device=x.device)
    for y in ys:
        for x0 in xs:
            res = fn(x[..., y : y + th, x0 : x0 + tw])
            wy = _ramp(th, min(overlap, th // 2), y == 0, y + th == h, x.device)
            wx = _ramp(tw, min(overlap, tw // 2), x0 == 0, x0 + tw == w, x.device)
            wt = (wy[:, None] * wx[None, :])[None, None]
            if outs is None:
                outs = [torch.zeros(*r.shape[:2], h, w, device=x.device, dtype=torch.float32) for r in res]
            for acc, r in zip(outs, res, strict=True):
                acc[..., y : y + th, x0 : x0 + tw] += wt * r.float()
            norm[..., y : y + th, x0 : x0 + tw] += wt
    assert outs is not None
    return [o / norm for o in outs]


def autocast(precision: Precision, device: torch.device) -> AbstractContextManager:
    """Autocast to ``precision`` on ``device`` (a no-op for float32)."""
    if precision == "float32":
        return nullcontext()
    dtype = torch.bfloat16 if precision == "bfloat16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


@dataclass(frozen=True)
class RefineOutput:
    """``fused``: HFAH's image (None without HFAH; F1 + correction for a residual head, not clamped); ``sample``:
    the sampler's own final x0, clamped to [−1, 1]."""

    fused: torch.Tensor | None
    sample: torch.Tensor


def refine(
    unet: UNet,
    hfah: HFAH | None,
    scheduler: NoiseScheduler,
    f1: torch.Tensor,
    mask_channels: torch.Tensor,
    *,
    steps: int,
    generator: torch.Generator | None = None,
    start_timestep: int | None = None,
    tile: int | None = None,
    tile_overlap: int = 32,
    precision: Precision = "float32",
    guide: torch.Tensor | None = None,
) -> RefineOutput:
    """Denoise the noised ``f1`` (B,3,H,W) back in ``steps`` steps, the masks (B,2,H,W, [−1, 1]) at every step.

    H and W must already be multiples of ``unet.multiple``. ``start_timestep`` defaults to the scheduler's
    SDEdit start (``config.start_gamma``). Same ``generator`` seed → identical output. ``guide``: what a
    guided HFAH reads at the last step (``HFAHConfig.guide_channels``; tiled with the U-Net input).
    """
    start = scheduler.sdedit_start() if start_timestep is None else start_timestep
    timesteps = scheduler.set_timesteps(steps, start_timestep=start)
    noise = torch.randn(f1.shape, generator=generator, device=f1.device, dtype=f1.dtype)
    n_in = f1.shape[1] + mask_channels.shape[1]  # the U-Net's input channels; a guide follows them at the last step
    x = scheduler.add_noise(f1, noise, timesteps=int(timesteps[0]))
    fused = None
    for i, t in enumerate(timesteps.tolist()):
        last = i == len(timesteps) - 1
        gamma = scheduler.gamma(t).to(f1.device)
        want_head = last and hfah is not None

        def net(inp: torch.Tensor, gamma: torch.Tensor = gamma, want_head: bool = want_head) -> list[torch.Tensor]:
            with autocast(precision, inp.device):
                if not want_head:
                    return [unet(inp, gamma).float()]
                g = inp[:, n_in:] if inp.shape[1] > n_in else None
                eps, feats = unet(inp[:, :n_in], gamma, return_features=True)
                return [eps.float(), hfah(feats, g).float()]  # type: ignore[misc]

        parts = [x, mask_channels.to(x.dtype)]
        if want_head and guide is not None:
            parts.append(guide.to(x.dtype))
        inp = torch.cat(parts, dim=1)
        res = net(inp) if tile is None else tiled_apply(net, inp, tile, tile_overlap)
        if want_head:
            fused = hfah.compose(res[1], f1)  # type: ignore[union-attr]  (residual: F1 + correction)
        x = scheduler.step(res[0], t, x, generator=generator).prev_sample
    return RefineOutput(fused, x.clamp(-1.0, 1.0))
