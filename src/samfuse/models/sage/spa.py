"""SAGE's Semantic Persistent Attention (SPA) stage and the transformer it is built from.

Exactly the teacher's modules of the authors' code (``docs/sage-notes.md`` §2), written anew:

* :class:`SpatialTransformer` (latent-diffusion style): GroupNorm(4, eps 1e-6) → 1×1 conv → tokens →
  ``x += SelfAttn(LN x)``; ``x += Attn2(LN x, ctx)``; ``x += GEGLU-FF(LN x)`` → 1×1 conv (zero-initialised) →
  + input. 64 channels, 2 heads of 32, depth 1: 91,456 parameters.
* The second attention takes the *persistent repository* as context: a pair ``(K, V)`` of already projected
  image tokens, to which it applies its own ``to_k`` / ``to_v`` again (the authors' double projection), and it
  returns its own projected ``(K, V)``. Without context it attends to itself and returns its own ``K, V``.
* :class:`SPAStage`: one set of modules, shared by all five stages of the teacher (see :meth:`SPAStage.forward`).

Attention goes through :func:`torch.nn.functional.scaled_dot_product_attention` (scale ``32^-0.5``, as the
authors), which on CPU and CUDA uses a fused kernel that never builds the (tokens × tokens) matrix, so a
640×480 image (19,200 tokens at the first stage) fits in memory.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Context", "CrossAttention", "GEGLUFeedForward", "TransformerBlock", "SpatialTransformer", "SPAStage"]

#: the persistent repository: projected keys and values, each (B, tokens, channels)
Context = tuple[torch.Tensor, torch.Tensor]


class CrossAttention(nn.Module):
    """Multi-head attention, q/k/v ``Linear`` without bias, output ``Linear`` with bias, scale ``d_head^-0.5``.

    ``forward(x, ctx)`` returns ``(out, (k, v))`` with ``k = to_k(ctx_k)``, ``v = to_v(ctx_v)`` when a context
    ``ctx = (ctx_k, ctx_v)`` is given, else ``k = to_k(x)``, ``v = to_v(x)``; ``k``, ``v`` are (B, N, heads·d_head).
    """

    def __init__(self, dim: int, heads: int, d_head: int) -> None:
        super().__init__()
        inner = heads * d_head
        self.heads = heads
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_k = nn.Linear(dim, inner, bias=False)
        self.to_v = nn.Linear(dim, inner, bias=False)
        self.to_out = nn.Linear(inner, dim)

    def _split(self, t: torch.Tensor) -> torch.Tensor:
        b, n, c = t.shape
        return t.view(b, n, self.heads, c // self.heads).transpose(1, 2)

    def forward(self, x: torch.Tensor, ctx: Context | None = None) -> tuple[torch.Tensor, Context]:
        q = self.to_q(x)
        k = self.to_k(x if ctx is None else ctx[0])
        v = self.to_v(x if ctx is None else ctx[1])
        out = F.scaled_dot_product_attention(self._split(q), self._split(k), self._split(v))
        b, _, n, _ = out.shape
        return self.to_out(out.transpose(1, 2).reshape(b, n, -1)), (k, v)


class GEGLUFeedForward(nn.Module):
    """``Linear(dim, 2·4·dim)`` → split ``(a, b)`` → ``a · gelu(b)`` → ``Linear(4·dim, dim)`` (exact erf GELU)."""

    def __init__(self, dim: int, mult: int = 4) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, 2 * mult * dim)
        self.out = nn.Linear(mult * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.proj(x).chunk(2, dim=-1)
        return self.out(a * F.gelu(b))


class TransformerBlock(nn.Module):
    """Pre-norm block: self-attention, context attention, GEGLU feed-forward, each with a residual."""

    def __init__(self, dim: int, heads: int, d_head: int) -> None:
        super().__init__()
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn1 = CrossAttention(dim, heads, d_head)
        self.attn2 = CrossAttention(dim, heads, d_head)
        self.ff = GEGLUFeedForward(dim)

    def forward(self, x: torch.Tensor, ctx: Context | None = None) -> tuple[torch.Tensor, Context]:
        x = x + self.attn1(self.norm1(x))[0]
        out, kv = self.attn2(self.norm2(x), ctx)
        x = x + out
        x = x + self.ff(self.norm3(x))
        return x, kv


class SpatialTransformer(nn.Module):
    """GroupNorm → 1×1 conv → tokens → :class:`TransformerBlock` → 1×1 conv (zero init) → + input.

    ``forward(x, ctx)`` takes (B, C, h, w) and returns ``(y, (k, v))``: ``y`` the same shape as ``x``, and the
    block's context-attention keys and values (see :class:`CrossAttention`).
    """

    def __init__(self, channels: int = 64, heads: int = 2, d_head: int = 32, groups: int = 4) -> None:
        super().__init__()
        inner = heads * d_head
        self.norm = nn.GroupNorm(groups, channels, eps=1e-6)
        self.proj_in = nn.Conv2d(channels, inner, 1)
        self.block = TransformerBlock(inner, heads, d_head)
        self.proj_out = nn.Conv2d(inner, channels, 1)
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)

    def forward(self, x: torch.Tensor, ctx: Context | None = None) -> tuple[torch.Tensor, Context]:
        b, _, h, w = x.shape
        t = self.proj_in(self.norm(x))
        c = t.shape[1]
        t, kv = self.block(t.flatten(2).transpose(1, 2), ctx)
        t = t.transpose(1, 2).reshape(b, c, h, w)
        return self.proj_out(t) + x, kv


def _conv_lrelu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1), nn.LeakyReLU(0.01))


class SPAStage(nn.Module):
    """The SPA stage (docs/sage-notes.md §2): image tokens ``I``, VIS-mask tokens ``V``, IR-mask tokens ``R``,
    64 ch each.

    With ``P`` = MaxPool(4) and CL = Conv3×3 128→64 + LeakyReLU (separate weights at each place):

    1. ``I1, V1, R1 = P(I), P(V), P(R)`` (the stage's skip copies are these pooled tensors);
    2. ``I', PR = T_img1(I1)``: PR, the image tokens' projected keys/values, is the *persistent repository*;
    3. ``V' = T_vi(V1, PR)``, ``R' = T_ir(R1, PR)``;
    4. ``R'' = CL(R', R1) + R'``, ``V'' = CL(V', V1) + V'``;
    5. ``M = CL(R'', V'') + R'' + V'' + V' + R'``, ``I'' = CL(I', I1) + I'``;
    6. ``M', PR2 = T_mask2(M, PR)``, ``I''' = T_img2(I'', PR2)``;
    7. ``O = cat(I''', I1, I'', M')`` (256 ch); ``O``, ``V''``, ``R''`` bilinearly (align_corners=False) back to
       the input size. PR is rebuilt at every call; nothing is carried between stages.

    The input size must be a multiple of 4. 5 × 91,456 + 4 × 73,792 = 752,448 parameters.
    """

    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        c = channels
        self.img_transformer1 = SpatialTransformer(c)
        self.vi_transformer = SpatialTransformer(c)
        self.ir_transformer = SpatialTransformer(c)
        self.mask_transformer2 = SpatialTransformer(c)
        self.img_transformer2 = SpatialTransformer(c)
        self.merge_ir = _conv_lrelu(2 * c, c)
        self.merge_vi = _conv_lrelu(2 * c, c)
        self.merge_mask = _conv_lrelu(2 * c, c)
        self.merge_img = _conv_lrelu(2 * c, c)

    def forward(
        self, img: torch.Tensor, vi: torch.Tensor, ir: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        size = img.shape[-2:]
        i1, v1, r1 = F.max_pool2d(img, 4), F.max_pool2d(vi, 4), F.max_pool2d(ir, 4)
        i_a, pr = self.img_transformer1(i1)
        v_a, _ = self.vi_transformer(v1, pr)
        r_a, _ = self.ir_transformer(r1, pr)
        r_b = self.merge_ir(torch.cat((r_a, r1), 1)) + r_a
        v_b = self.merge_vi(torch.cat((v_a, v1), 1)) + v_a
        m = self.merge_mask(torch.cat((r_b, v_b), 1)) + r_b + v_b + v_a + r_a
        i_b = self.merge_img(torch.cat((i_a, i1), 1)) + i_a
        m_c, pr2 = self.mask_transformer2(m, pr)
        i_c, _ = self.img_transformer2(i_b, pr2)
        out = torch.cat((i_c, i1, i_b, m_c), 1)

        def up(t: torch.Tensor) -> torch.Tensor:
            return F.interpolate(t, size=size, mode="bilinear", align_corners=False)

        return up(out), up(v_b), up(r_b)
