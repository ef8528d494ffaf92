"""SGDFuse's Hierarchical Feature Aggregation Head (the authors' ``HFAF.py``, class ``HFAH``; docs/sgdfuse-notes.md §4).

Per decoder level (highest resolution first, channels ``width·mults``):

1. CBAM channel attention: avg- and max-pooled descriptors through a shared 1×1 MLP (ratio 16, no bias,
   ReLU), summed, sigmoid, multiplied in;
2. optional CBAM spatial attention (``spatial_attention=True``, design decision 4: the paper names spatial
   attention, R's code has channel attention only): 7×7 conv over [mean, max] across channels, sigmoid,
   multiplied in;
3. 1×1 conv to ``dim`` (R: 64);
4. bilinear resize (``align_corners=True``) to the level-0 size.

The levels are concatenated (L·dim channels) → 3×3 conv → ``dim``, ReLU → 3×3 conv → ``dim/2``, ReLU → 3×3 conv
→ 3·patch² → Tanh (then pixel-shuffled by ``patch`` when the U-Net runs at 1/patch resolution; ``patch = 1``
is R's head). Output in [−1, 1].

``residual`` (samfuse's deviation from R and the paper, issue 24; docs/sgdfuse.md "Diagnosis (issue 24)"): the
head's output is a **correction** added to the stage-1 image, fused = F1 + HFAH(features) (:meth:`HFAH.compose`),
and its last conv starts at zero, so an untrained head returns F1 exactly. ``residual=False`` is R's head, whose
output *is* the fused image (the weights shipped before issue 24 were trained that way; a stored configuration
without the key reads as ``False``).

``guide_channels`` (samfuse's second deviation, issue 24; docs/sgdfuse.md "Third round"): the head also reads
a full-resolution **guide**, [F1 (3), IR (1), visible (3)] in [−1, 1] (7 channels), or those and the two mask
channels [M_ir, M_vis] (9 channels, the U-Net's mask input; :func:`guide_stack`), space-to-depth'd by
``patch`` (:func:`torch.nn.functional.pixel_unshuffle`) to the level-0 size and concatenated with the levels
before the first 3×3 conv. The U-Net sees only the noised F1 and the masks, so a head that reads its features
alone cannot put back source detail that F1 lost (measured: its fusion terms fell about 2 % below F1's, whatever
the loss weights); with the guide, the correction is computed from the sources themselves, steered by the
denoiser's mask-conditioned features; with the masks in the guide as well, the head can also place its
correction by the semantic regions the stage-2 loss weights. 0 (the default, and every file written without the
key) is R's head.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["HFAHConfig", "HFAH", "ChannelAttention", "SpatialAttention", "GUIDE_CHANNELS", "guide_stack"]

#: what a guided head reads, by its ``guide_channels``
GUIDE_CHANNELS = {0: "nothing", 7: "[F1, IR, visible]", 9: "[F1, IR, visible, M_ir, M_vis]"}


def guide_stack(
    channels: int, f1: torch.Tensor, ir: torch.Tensor, vi: torch.Tensor, mask_channels: torch.Tensor
) -> torch.Tensor | None:
    """The guide a head with ``guide_channels`` = ``channels`` reads (None for 0): F1 (B,3), IR (B,1), visible
    (B,3) and, for 9, the mask channels (B,2) as the U-Net gets them; all of one size, in [−1, 1]."""
    if not channels:
        return None
    parts = [f1, ir, vi, mask_channels] if channels == 9 else [f1, ir, vi]
    return torch.cat([p.to(f1.dtype) for p in parts], dim=1)


@dataclass(frozen=True)
class HFAHConfig:
    """HFAH architecture; ``in_channels`` must match the U-Net's decoder levels (``width·mults``)."""

    in_channels: tuple[int, ...] = (64, 128, 256, 512)
    dim: int = 64
    ratio: int = 16
    spatial_attention: bool = False
    out_channels: int = 3
    patch: int = 1
    #: the output is a zero-initialised correction added to F1 (:meth:`HFAH.compose`) rather than the image itself
    residual: bool = True
    #: full-resolution guide channels read besides the features: 0 (R), 7 ([F1, IR, visible]) or 9 (and the masks)
    guide_channels: int = 0

    def __post_init__(self) -> None:
        if self.guide_channels not in GUIDE_CHANNELS:
            raise ValueError(f"guide_channels must be one of {sorted(GUIDE_CHANNELS)}, not {self.guide_channels}")
        object.__setattr__(self, "in_channels", tuple(self.in_channels))


class ChannelAttention(nn.Module):
    """CBAM channel attention: ``x · σ(MLP(avgpool x) + MLP(maxpool x))``, MLP = 1×1 C→C/r, ReLU, 1×1 C/r→C."""

    def __init__(self, channels: int, ratio: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // ratio)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=False), nn.ReLU(), nn.Conv2d(hidden, channels, 1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = self.mlp(x.mean(dim=(2, 3), keepdim=True))
        mx = self.mlp(x.amax(dim=(2, 3), keepdim=True))
        return x * torch.sigmoid(avg + mx)


class SpatialAttention(nn.Module):
    """CBAM spatial attention: ``x · σ(conv7×7([mean_c x, max_c x]))``."""

    def __init__(self, kernel: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel, padding=kernel // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        desc = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(desc))


class HFAH(nn.Module):
    """``forward(features) -> image or correction``: ``features`` highest resolution first; output (B, 3, p·H0, p·W0)
    in [−1, 1]: the fused image (``residual=False``) or the correction to add to F1 (:meth:`compose`)."""

    def __init__(self, config: HFAHConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or HFAHConfig()
        d = cfg.dim
        self.attn = nn.ModuleList(
            nn.Sequential(ChannelAttention(c, cfg.ratio), SpatialAttention())
            if cfg.spatial_attention
            else ChannelAttention(c, cfg.ratio)
            for c in cfg.in_channels
        )
        self.proj = nn.ModuleList(nn.Conv2d(c, d, 1) for c in cfg.in_channels)
        self.head = nn.Sequential(
            nn.Conv2d(d * len(cfg.in_channels) + cfg.guide_channels * cfg.patch**2, d, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(d, d // 2, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(d // 2, cfg.out_channels * cfg.patch**2, 3, padding=1),
            nn.Tanh(),
        )
        if cfg.residual:  # a correction that starts at zero: the untrained head hands F1 back unchanged
            nn.init.zeros_(self.out_conv.weight)
            nn.init.zeros_(self.out_conv.bias)

    @property
    def out_conv(self) -> nn.Conv2d:
        """The last conv (before the Tanh): zero at initialisation when ``residual``."""
        return self.head[-2]  # type: ignore[return-value]

    def compose(self, out: torch.Tensor, anchor: torch.Tensor) -> torch.Tensor:
        """The fused image from the head's ``out`` (:meth:`forward`): ``anchor + out`` (F1 + correction) when
        ``residual``, else ``out`` itself (R's head). Not clamped; both (B, 3, H, W) in the [−1, 1] scale."""
        return anchor + out if self.config.residual else out

    def forward(self, features: Sequence[torch.Tensor], guide: torch.Tensor | None = None) -> torch.Tensor:
        """``guide`` (B, ``guide_channels``, p·H0, p·W0): required when ``guide_channels`` > 0, else ignored."""
        if len(features) != len(self.proj):
            raise ValueError(f"HFAH expects {len(self.proj)} feature levels, got {len(features)}")
        size = features[0].shape[-2:]
        levels = []
        cfg = self.config
        if cfg.guide_channels:
            if guide is None or guide.shape[1] != cfg.guide_channels:
                got = "none" if guide is None else f"{guide.shape[1]} channels"
                raise ValueError(f"this HFAH reads a {cfg.guide_channels}-channel guide, got {got}")
            levels.append(F.pixel_unshuffle(guide, cfg.patch) if cfg.patch > 1 else guide)
        for f, attn, proj in zip(features, self.attn, self.proj, strict=True):
            y = proj(attn(f))
            if y.shape[-2:] != size:
                y = F.interpolate(y, size=size, mode="bilinear", align_corners=True)
            levels.append(y)
        if cfg.guide_channels:  # the guide last, so the level channels keep their order
            levels.append(levels.pop(0))
        out = self.head(torch.cat(levels, dim=1))
        return F.pixel_shuffle(out, self.config.patch) if self.config.patch > 1 else out
