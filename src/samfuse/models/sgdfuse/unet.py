"""SGDFuse's denoising U-Net: SR3's ``sr3_modules/unet.py`` (the blobs the authors' repository carries), with its
configuration exposed (docs/sgdfuse-notes.md §3 a).

* Res block: GroupNorm → Swish → 3×3 conv, then the noise embedding is **added** (no scale/shift), then
  GroupNorm → Swish → dropout → 3×3 conv, plus a 1×1 residual projection when the width changes.
* Noise-level embedding (SR3/WaveGrad): the continuous γ = √ᾱ, not an integer t. Sinusoidal(width) of γ
  (``γ·exp(−ln(10⁴)·k/(width/2))``, sin and cos) → Linear width→4·width → Swish → Linear 4·width→width, projected
  per res block by a Linear to its channel count.
* Single-head self-attention (GroupNorm, 1×1 qkv without bias, 1×1 out, residual) at the levels whose nominal
  resolution (``image_size`` halved per level) is in ``attn_res``, and always in the middle block.
  ``torch.nn.functional.scaled_dot_product_attention`` computes it, so the (H·W)² map is never stored.
* Encoder: 3×3 conv in → per level ``res_blocks`` res blocks (width·mult), then a stride-2 3×3 conv (not after
  the last level). Middle: res+attn, res. Decoder: per level ``res_blocks + 1`` res blocks on the
  concatenation with the matching skip, then nearest ×2 + 3×3 conv (not after level 0). Out: GN → Swish → 3×3.
* ``patch > 1`` (a samfuse option for the ``cpu`` profile, not in SR3): pixel-unshuffle the input by
  ``patch`` and pixel-shuffle the output back, so the whole network runs at 1/patch resolution (as in
  "simple diffusion", Hoogeboom et al. 2023). ``patch = 1`` is SR3.

``forward(x, gamma)`` returns ε (B, out_channels, H, W); with ``return_features=True`` also the decoder's
multi-level features for HFAH: the output of the **last** res block of each decoder level, highest resolution
first (channels ``width·mults``; design decision 3). H and W must be multiples of :attr:`UNet.multiple`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["UNetConfig", "UNet", "noise_level_encoding"]


@dataclass(frozen=True)
class UNetConfig:
    """U-Net architecture (the authors': in 5, out 3, width 64, mults 1,2,4,8, res_blocks 2, attn_res [16],
    dropout 0.2, GroupNorm 32, nominal image_size 160)."""

    in_channels: int = 5
    out_channels: int = 3
    width: int = 64
    channel_mults: tuple[int, ...] = (1, 2, 4, 8)
    res_blocks: int = 2
    attn_res: tuple[int, ...] = (16,)
    dropout: float = 0.2
    norm_groups: int = 32
    image_size: int = 160
    patch: int = 1
    init: str = "orthogonal"

    def __post_init__(self) -> None:
        object.__setattr__(self, "channel_mults", tuple(self.channel_mults))
        object.__setattr__(self, "attn_res", tuple(self.attn_res))
        for m in self.channel_mults:
            if (self.width * m) % self.norm_groups:
                raise ValueError(f"width·mult = {self.width * m} is not a multiple of norm_groups {self.norm_groups}")
        if self.width % 2:
            raise ValueError("width must be even (sinusoidal embedding)")
        if self.init not in ("orthogonal", "default"):
            raise ValueError("init must be 'orthogonal' or 'default'")


def noise_level_encoding(gamma: torch.Tensor, dim: int) -> torch.Tensor:
    """SR3's ``PositionalEncoding``: (B,) γ → (B, dim) = [sin(γ·f_k), cos(γ·f_k)], f_k = 10⁴^(−k/(dim/2))."""
    count = dim // 2
    step = torch.arange(count, dtype=gamma.dtype, device=gamma.device) / count
    enc = gamma[:, None] * torch.exp(-math.log(1e4) * step[None, :])
    return torch.cat([torch.sin(enc), torch.cos(enc)], dim=-1)


class _Block(nn.Sequential):
    """GroupNorm → Swish → (dropout) → 3×3 conv."""

    def __init__(self, cin: int, cout: int, groups: int, dropout: float = 0.0) -> None:
        super().__init__(
            nn.GroupNorm(groups, cin),
            nn.SiLU(),
            nn.Dropout(dropout) if dropout > 0 else nn.Identity(),
            nn.Conv2d(cin, cout, 3, padding=1),
        )


class ResBlock(nn.Module):
    """SR3 ``ResnetBlocWithAttn``: res block with the additive noise embedding, optional self-attention."""

    def __init__(self, cin: int, cout: int, emb_dim: int, groups: int, dropout: float, attn: bool) -> None:
        super().__init__()
        self.block1 = _Block(cin, cout, groups)
        self.noise = nn.Linear(emb_dim, cout)
        self.block2 = _Block(cout, cout, groups, dropout)
        self.res = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()
        self.attn = SelfAttention(cout, groups) if attn else None

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.block1(x) + self.noise(emb)[:, :, None, None]
        h = self.block2(h) + self.res(x)
        return self.attn(h) if self.attn is not None else h


class SelfAttention(nn.Module):
    """SR3's single-head self-attention over pixels (scale 1/√C), via scaled_dot_product_attention."""

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1, bias=False)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        # (B, 1, HW, C) each, contiguous: the layout CPU flash attention takes (otherwise the math path
        # materialises the (HW)² map)
        qkv = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).transpose(-1, -2).contiguous()
        q, k, v = (t.unsqueeze(1) for t in qkv.unbind(1))
        y = F.scaled_dot_product_attention(q, k, v)[:, 0]
        return x + self.out(y.transpose(-1, -2).reshape(b, c, h, w))


class UNet(nn.Module):
    """SR3 U-Net predicting ε from ``x`` (B, in_channels, H, W) and the noise level γ (B,) or scalar."""

    def __init__(self, config: UNetConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or UNetConfig()
        w, g, p = cfg.width, cfg.norm_groups, cfg.patch
        self.embed = nn.Sequential(nn.Linear(w, 4 * w), nn.SiLU(), nn.Linear(4 * w, w))
        self.conv_in = nn.Conv2d(cfg.in_channels * p * p, w, 3, padding=1)
        self.down = nn.ModuleList()
        skips = [w]
        ch, res = w, cfg.image_size
        n = len(cfg.channel_mults)
        self._down_is_res: list[bool] = []
        for i, mult in enumerate(cfg.channel_mults):
            for _ in range(cfg.res_blocks):
                self.down.append(ResBlock(ch, w * mult, w, g, cfg.dropout, res in cfg.attn_res))
                self._down_is_res.append(True)
                ch = w * mult
                skips.append(ch)
            if i < n - 1:
                self.down.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
                self._down_is_res.append(False)
                skips.append(ch)
                res //= 2
        self.mid = nn.ModuleList(
            [ResBlock(ch, ch, w, g, cfg.dropout, attn=True), ResBlock(ch, ch, w, g, cfg.dropout, attn=False)]
        )
        self.up_levels = nn.ModuleList()
        self.upsamples = nn.ModuleList()
        for i in reversed(range(n)):
            mult = cfg.channel_mults[i]
            blocks = nn.ModuleList()
            for _ in range(cfg.res_blocks + 1):
                blocks.append(ResBlock(ch + skips.pop(), w * mult, w, g, cfg.dropout, res in cfg.attn_res))
                ch = w * mult
            self.up_levels.append(blocks)
            if i > 0:
                self.upsamples.append(
                    nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(ch, ch, 3, padding=1))
                )
                res *= 2
        self.conv_out = _Block(ch, cfg.out_channels * p * p, g)
        self.feature_channels = [w * m for m in cfg.channel_mults]
        if cfg.init == "orthogonal":
            self.apply(_orthogonal_init)

    @property
    def multiple(self) -> int:
        """H and W must be multiples of this: 2^(levels − 1) · patch."""
        return 2 ** (len(self.config.channel_mults) - 1) * self.config.patch

    def forward(
        self, x: torch.Tensor, gamma: torch.Tensor | float, return_features: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        m = self.multiple
        if x.shape[-2] % m or x.shape[-1] % m:
            raise ValueError(f"U-Net input {tuple(x.shape[-2:])} is not a multiple of {m} (pad it first)")
        gamma = torch.as_tensor(gamma, dtype=x.dtype, device=x.device)
        if gamma.ndim == 0:
            gamma = gamma.expand(x.shape[0])
        emb = self.embed(noise_level_encoding(gamma.reshape(-1).to(x.dtype), self.config.width))
        if self.config.patch > 1:
            x = F.pixel_unshuffle(x, self.config.patch)
        h = self.conv_in(x)
        skips = [h]
        for layer, is_res in zip(self.down, self._down_is_res, strict=True):
            h = layer(h, emb) if is_res else layer(h)
            skips.append(h)
        for layer in self.mid:
            h = layer(h, emb)
        feats: list[torch.Tensor] = []
        for j, blocks in enumerate(self.up_levels):
            for block in blocks:
                h = block(torch.cat([h, skips.pop()], dim=1), emb)
            feats.append(h)
            if j < len(self.upsamples):
                h = self.upsamples[j](h)
        out = self.conv_out(h)
        if self.config.patch > 1:
            out = F.pixel_shuffle(out, self.config.patch)
        return (out, feats[::-1]) if return_features else out


def _orthogonal_init(m: nn.Module) -> None:
    """Lineage init (SR3 ``weights_init_orthogonal``): orthogonal conv/linear weights (gain 1), zero biases."""
    if isinstance(m, nn.Conv2d | nn.Linear):
        nn.init.orthogonal_(m.weight, gain=1.0)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
