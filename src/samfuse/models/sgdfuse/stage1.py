"""SGDFuse stage 1: IR features through MSFEM, VIS features through Transformer blocks, bidirectional
cross-attention, and a head producing the initial fused image F1 ∈ [−1, 1] (3-channel RGB).

Only MSFEM exists in the authors' code (``MSFEM.py``); the rest follows docs/sgdfuse-notes.md §1 (decisions 5 and 6):

* **MSFEM, feature-level (default).** The IR image is embedded to C channels by a 3×3 conv, then R's branch
  topology runs on C channels: parallel 1×1 / 3×3 / 5×5 / 7×7 convs (+ GELU, which R lacks); the 3/5/7 branches
  are concatenated → depthwise 3×3 → pointwise 1×1 → depthwise 3×3; concatenated with the 1×1 branch; fused
  2C→C by a 1×1 conv; SE channel attention (reduction 4) *multiplies*; a residual adds the input. Reason:
  cross-attention needs C-channel features, and R's additive, activation-free, 1-channel module is an image
  enhancer, not a feature extractor.
* **MSFEM, ``faithful_r=True``.** R's module exactly (in_channels = 1, no activation or normalisation, output
  ``x + sigmoid(map)``) on the raw IR image, followed by the 3×3 embedding conv to C channels.
* **Transformer blocks (VIS).** 3×3 conv 3→C, then Restormer blocks (LayerNorm → multi-Dconv head *transposed*
  attention → residual; LayerNorm → gated depthwise-conv FFN, expansion 2.66 → residual). **Why channel
  attention:** the attention matrix is (C/heads)² per head and costs O(H·W·C²), linear in pixels, so a full
  640×480 (or 1280×1024) image runs on this CPU in one piece; pixel-token self-attention would need a
  (H·W)² map, 94 × 10⁹ entries at 640×480, which fits in no memory.
* **Cross-attention.** The same transposed form, bidirectional: Q from IR with K/V from VIS, and Q from VIS
  with K/V from IR; the two directions are summed, concatenated with both inputs, 1×1 conv 3C→C.
* **Head.** 3×3 conv C→16, LeakyReLU(0.2), 3×3 conv 16→3, Tanh → F1 ∈ [−1, 1].

Inputs are in [−1, 1]: IR (B,1,H,W), VIS (B,3,H,W). Fully convolutional apart from the global channel
attention, so any H×W works without padding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Stage1Config", "Stage1", "MSFEM", "MSFEMFaithful", "TransformerBlock", "ChannelCrossAttention"]


@dataclass(frozen=True)
class Stage1Config:
    """Stage-1 architecture. ``channels`` is C (the note's 32); ``faithful_r`` selects R's MSFEM."""

    channels: int = 32
    msfem_mid: int = 32
    se_reduction: int = 4
    blocks: int = 2
    heads: int = 4
    ffn_expansion: float = 2.66
    head_hidden: int = 16
    faithful_r: bool = False

    def __post_init__(self) -> None:
        if self.channels % self.heads:
            raise ValueError(f"channels ({self.channels}) must be a multiple of heads ({self.heads})")


class SqueezeExcite(nn.Module):
    """SE channel attention: ``x · sigmoid(W2 ReLU(W1 avgpool(x))))``."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.fc2(F.relu(self.fc1(x.mean(dim=(2, 3), keepdim=True))))
        return x * torch.sigmoid(w)


class _MSFEMBranches(nn.Module):
    """R's branch topology: 1/3/5/7 convs; cat(3,5,7) → dw3×3 → pw1×1 → dw3×3; cat with the 1×1 branch."""

    def __init__(self, cin: int, mid: int, act: bool) -> None:
        super().__init__()
        self.b1 = nn.Conv2d(cin, mid, 1)
        self.b3 = nn.Conv2d(cin, mid, 3, padding=1)
        self.b5 = nn.Conv2d(cin, mid, 5, padding=2)
        self.b7 = nn.Conv2d(cin, mid, 7, padding=3)
        self.dw1 = nn.Conv2d(3 * mid, 3 * mid, 3, padding=1, groups=3 * mid)
        self.pw = nn.Conv2d(3 * mid, mid, 1)
        self.dw2 = nn.Conv2d(mid, mid, 3, padding=1, groups=mid)
        self.act = nn.GELU() if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.act
        big = torch.cat([a(self.b3(x)), a(self.b5(x)), a(self.b7(x))], dim=1)
        big = self.dw2(self.pw(self.dw1(big)))
        return torch.cat([big, a(self.b1(x))], dim=1)


class MSFEM(nn.Module):
    """Feature-level MSFEM (default, design decision 5): branches + GELU, 1×1 2·mid→C, SE, residual."""

    def __init__(self, channels: int, mid: int = 32, se_reduction: int = 4) -> None:
        super().__init__()
        self.branches = _MSFEMBranches(channels, mid, act=True)
        self.fuse = nn.Conv2d(2 * mid, channels, 1)
        self.se = SqueezeExcite(channels, se_reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.se(self.fuse(self.branches(x)))


class MSFEMFaithful(nn.Module):
    """R's ``MSFEM.py`` as written: 1-channel in/out, no activation, ``out = x + sigmoid(1×1(branches(x)))``."""

    def __init__(self, in_channels: int = 1, mid: int = 32) -> None:
        super().__init__()
        self.branches = _MSFEMBranches(in_channels, mid, act=False)
        self.fuse = nn.Conv2d(2 * mid, in_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.sigmoid(self.fuse(self.branches(x)))


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channel axis of an NCHW tensor (Restormer's ``WithBias_LayerNorm``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def transposed_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, temperature: torch.Tensor
) -> torch.Tensor:
    """Restormer's MDTA core: per head, softmax(τ · q̂ k̂ᵀ) v with q̂, k̂ L2-normalised over pixels.

    q, k, v: (B, C, H, W); the attention matrix is (C/heads × C/heads), so cost and memory are linear in H·W.
    Computed on (B, H·W, C) views (free for channels-last tensors): one C×C Gram matrix qᵀk, divided by the
    norms (= F.normalize, eps 1e-12), softmax per head block, and one product v·Aᵀ with the block-diagonal A.
    """
    b, c, h, w = q.shape
    d = c // heads
    qs, ks, vs = (t.permute(0, 2, 3, 1).reshape(b, h * w, c) for t in (q, k, v))
    gram = qs.transpose(1, 2) @ ks  # (B, C, C)
    nq = torch.linalg.vector_norm(qs, dim=1).clamp_min(1e-12)  # (B, C)
    nk = torch.linalg.vector_norm(ks, dim=1).clamp_min(1e-12)
    gram = gram / (nq[:, :, None] * nk[:, None, :])
    blocks = torch.stack([gram[:, i * d : (i + 1) * d, i * d : (i + 1) * d] for i in range(heads)], dim=1)
    attn = torch.softmax(blocks * temperature, dim=-1)  # (B, heads, d, d)
    full = torch.zeros(b, c, c, dtype=attn.dtype, device=attn.device)
    for i in range(heads):
        full[:, i * d : (i + 1) * d, i * d : (i + 1) * d] = attn[:, i]
    out = vs @ full.transpose(1, 2)  # (B, HW, C): out[p, i] = Σ_j A[i, j] v[p, j]
    return out.reshape(b, h, w, c).permute(0, 3, 1, 2)


class ChannelSelfAttention(nn.Module):
    """Multi-Dconv head transposed attention (Restormer, Zamir et al. 2022)."""

    def __init__(self, channels: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.qkv_dw = nn.Conv2d(3 * channels, 3 * channels, 3, padding=1, groups=3 * channels)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv_dw(self.qkv(x)).chunk(3, dim=1)
        return self.proj(transposed_attention(q, k, v, self.heads, self.temperature))


class GatedDconvFFN(nn.Module):
    """Restormer's GDFN: 1×1 C→2h, depthwise 3×3, GELU(x1)·x2, 1×1 h→C, with h = int(C·expansion)."""

    def __init__(self, channels: int, expansion: float) -> None:
        super().__init__()
        hidden = int(channels * expansion)
        self.inp = nn.Conv2d(channels, 2 * hidden, 1)
        self.dw = nn.Conv2d(2 * hidden, 2 * hidden, 3, padding=1, groups=2 * hidden)
        self.out = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.dw(self.inp(x)).chunk(2, dim=1)
        return self.out(F.gelu(a) * b)


class TransformerBlock(nn.Module):
    """Restormer block: x + MDTA(LN(x)), then x + GDFN(LN(x))."""

    def __init__(self, channels: int, heads: int, expansion: float) -> None:
        super().__init__()
        self.norm1 = ChannelLayerNorm(channels)
        self.attn = ChannelSelfAttention(channels, heads)
        self.norm2 = ChannelLayerNorm(channels)
        self.ffn = GatedDconvFFN(channels, expansion)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class ChannelCrossAttention(nn.Module):
    """Transposed cross-attention: queries from ``x``, keys and values from ``context`` (each LayerNormed)."""

    def __init__(self, channels: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.norm_q = ChannelLayerNorm(channels)
        self.norm_kv = ChannelLayerNorm(channels)
        self.q = nn.Sequential(
            nn.Conv2d(channels, channels, 1), nn.Conv2d(channels, channels, 3, padding=1, groups=channels)
        )
        self.kv = nn.Sequential(
            nn.Conv2d(channels, 2 * channels, 1),
            nn.Conv2d(2 * channels, 2 * channels, 3, padding=1, groups=2 * channels),
        )
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        q = self.q(self.norm_q(x))
        k, v = self.kv(self.norm_kv(context)).chunk(2, dim=1)
        return self.proj(transposed_attention(q, k, v, self.heads, self.temperature))


class Stage1(nn.Module):
    """Stage 1: ``forward(ir, vis) -> F1``; ir (B,1,H,W), vis (B,3,H,W), all in [−1, 1]; F1 (B,3,H,W) in [−1, 1]."""

    def __init__(self, config: Stage1Config | None = None) -> None:
        super().__init__()
        self.config = cfg = config or Stage1Config()
        c = cfg.channels
        self.ir_enhance: nn.Module = MSFEMFaithful(1, cfg.msfem_mid) if cfg.faithful_r else nn.Identity()
        self.ir_embed = nn.Conv2d(1, c, 3, padding=1)
        self.ir_msfem: nn.Module = nn.Identity() if cfg.faithful_r else MSFEM(c, cfg.msfem_mid, cfg.se_reduction)
        self.vis_embed = nn.Conv2d(3, c, 3, padding=1)
        self.vis_blocks = nn.Sequential(*(TransformerBlock(c, cfg.heads, cfg.ffn_expansion) for _ in range(cfg.blocks)))
        self.ir_from_vis = ChannelCrossAttention(c, cfg.heads)
        self.vis_from_ir = ChannelCrossAttention(c, cfg.heads)
        self.merge = nn.Conv2d(3 * c, c, 1)
        self.head = nn.Sequential(
            nn.Conv2d(c, cfg.head_hidden, 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(cfg.head_hidden, 3, 3, padding=1),
            nn.Tanh(),
        )

    def forward(self, ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
        f_ir = self.ir_msfem(self.ir_embed(self.ir_enhance(ir)))
        f_vis = self.vis_blocks(self.vis_embed(vis))
        cross = self.ir_from_vis(f_ir, f_vis) + self.vis_from_ir(f_vis, f_ir)
        return self.head(self.merge(torch.cat([cross, f_ir, f_vis], dim=1)))
