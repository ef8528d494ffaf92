"""Feature extractors for SAGE's contrastive-semantic loss L_cs (docs/sage-notes.md §4).

A feature extractor maps a batch of 1-channel images (N, 1, H, W) to two feature maps ``[F1, F2]`` (each
(N, C, h, w)); :func:`samfuse.training.losses.sage.feature_distance` compares them after instance
normalisation. Both extractors are frozen (no parameter requires a gradient), but gradients flow through them
to the image.

* :class:`SamTwoBlocks` — the authors' extractor: a SAM ViT-B image encoder cut after its first two blocks
  (patch embedding 16×16 → 768, two windowed blocks: window 14, 12 heads, relative positions; no absolute
  position embedding, no neck), built from ``segment_anything``'s own ``PatchEmbed`` and ``Block``. F1, F2 =
  the outputs of blocks 0 and 1, (N, 768, H/16, W/16). The 1-channel input is repeated to 3 channels, with no
  pixel mean/std and no padding to 1024 (as the authors). :func:`load_sam_two_blocks` loads it from a user's
  **stock** SAM ViT-B checkpoint (its ``image_encoder.`` keys) and refuses, in one line, any file whose keys or
  shapes do not match. (The authors' key filter matched no key of a stock checkpoint and silently left the
  encoder random.)

* :class:`FilterBankFeatures` — the stand-in used when no SAM checkpoint is given (the normal case here: SAM
  weights cannot be had offline). A fixed, weight-free multi-scale filter bank (kornia):
  for σ ∈ {1, 2}: the Gaussian-smoothed image ``G_σ``, its Sobel derivatives ``∂x G_σ``, ``∂y G_σ`` and its
  Laplacian ``ΔG_σ`` (a Laplacian of Gaussian): 8 channels, replicate borders. F1 = the bank on the image
  averaged over 2×2 blocks (1/2 size), F2 = the bank on the image averaged over 8×8 blocks (1/8 size): medium
  and coarse structure, as SAM's 1/16-resolution tokens see coarse structure (the pixel and gradient terms
  already take care of the finest detail).

Why this stand-in (and not SAM's ViT-B blocks with a fixed seeded random initialisation): neither carries any
semantics — a random ViT only projects 16×16 patches randomly — so what L_cs can still do without SAM is to
pull the student's local structure, region by region (each term is weighted by a masked image), toward the
teacher's and away from a single source's. The filter bank does that with interpretable responses (intensity,
edges, blobs at two scales), is deterministic across machines and versions (no seed, no weights to ship or to
reproduce), and costs a small fraction of the ViT blocks (``python benchmarks/sage_lcs_cost.py``). Its loss
values are ratios of distances, so they sit on the same scale as with SAM and the authors' ``CS / 3000``
weighting is kept. What is lost: the semantic grouping that SAM's features would add.
"""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path

import kornia.filters as kf
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FilterBankFeatures", "SamTwoBlocks", "load_sam_two_blocks", "sam_two_blocks_from_state_dict", "SAM_PREFIX"]

#: prefix of the image-encoder keys in a stock SAM checkpoint
SAM_PREFIX = "image_encoder."


class _Frozen(nn.Module):
    """Eval mode, no parameter requires a gradient (``train()`` keeps it in eval mode)."""

    def freeze(self) -> None:
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> _Frozen:
        return super().train(False)


class FilterBankFeatures(_Frozen):
    """Weight-free stand-in for SAM's first two blocks (see the module docstring). ``[F1, F2]``, 8 ch each."""

    def __init__(self, sigmas: tuple[float, ...] = (1.0, 2.0), factors: tuple[int, ...] = (2, 8)) -> None:
        super().__init__()
        self.sigmas = sigmas
        self.factors = factors
        self.freeze()

    def bank(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) → (N, 4·len(sigmas)·C, H, W): per σ, ``[G_σ, ∂x G_σ, ∂y G_σ, ΔG_σ]`` of each channel."""
        n, c, h, w = x.shape
        z = x.reshape(1, n * c, h, w)  # batch folded into channels: depthwise convs, much faster on CPU
        out = []
        for s in self.sigmas:
            k = 2 * math.ceil(3 * s) + 1
            g = kf.gaussian_blur2d(z, (k, k), (s, s), border_type="replicate")
            d = kf.spatial_gradient(g, mode="sobel", order=1, normalized=True)  # (1, N·C, 2, H, W)
            lap = kf.laplacian(g, 3, border_type="replicate", normalized=True)
            out += [g, d[:, :, 0], d[:, :, 1], lap]
        r = len(out)
        return torch.cat(out, 0).view(r, n, c, h, w).transpose(0, 1).reshape(n, r * c, h, w)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.bank(F.avg_pool2d(x, f, ceil_mode=True) if f > 1 else x) for f in self.factors]


class SamTwoBlocks(_Frozen):
    """SAM ViT-B image encoder cut after two blocks (see the module docstring); randomly initialised until
    loaded with :func:`load_sam_two_blocks`. Needs the ``segment_anything`` package (``samfuse[sam]``)."""

    def __init__(self, embed_dim: int = 768, heads: int = 12, window: int = 14, depth: int = 2) -> None:
        super().__init__()
        from samfuse.semantics.compat import install

        install()  # segment_anything imports torchvision at package import time
        try:
            from segment_anything.modeling.image_encoder import Block, PatchEmbed
        except ImportError as err:
            msg = f"the SAM feature extractor needs segment_anything (pip install samfuse[sam]): {err}"
            raise ValueError(msg) from None
        self.patch_embed = PatchEmbed(kernel_size=(16, 16), stride=(16, 16), in_chans=3, embed_dim=embed_dim)
        self.blocks = nn.ModuleList(
            Block(
                dim=embed_dim,
                num_heads=heads,
                mlp_ratio=4.0,
                qkv_bias=True,
                norm_layer=partial(nn.LayerNorm, eps=1e-6),
                act_layer=nn.GELU,
                use_rel_pos=True,
                rel_pos_zero_init=True,
                window_size=window,
                input_size=(64, 64),
            )
            for _ in range(depth)
        )
        self.freeze()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        t = self.patch_embed(x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x)  # (N, h, w, 768)
        feats = []
        for blk in self.blocks:
            t = blk(t)
            feats.append(t.permute(0, 3, 1, 2))
        return feats


def sam_two_blocks_from_state_dict(sd: dict[str, torch.Tensor], name: str = "state dict") -> SamTwoBlocks:
    """:class:`SamTwoBlocks` with the weights of a SAM ViT-B state dict (see :func:`load_sam_two_blocks`);
    ``name`` (the file) starts the one-line ``ValueError`` on a mismatch."""
    with torch.device("meta"):  # names and shapes only: no memory, no random initialisation
        model = SamTwoBlocks()
    own = model.state_dict()
    enc = {k[len(SAM_PREFIX) :]: v for k, v in sd.items() if k.startswith(SAM_PREFIX)}
    if not enc and all(k in sd for k in own):
        enc = sd  # an encoder-only state dict
    if not enc:
        raise ValueError(f"{name}: no '{SAM_PREFIX}*' tensors: not a SAM checkpoint")
    missing = [k for k in own if k not in enc]
    wrong = [k for k in own if k in enc and enc[k].shape != own[k].shape]
    if missing or wrong:
        what = (
            f"{len(missing)} tensor(s) missing (first: {SAM_PREFIX}{missing[0]})"
            if missing
            else f"{SAM_PREFIX}{wrong[0]} is {tuple(enc[wrong[0]].shape)}, ViT-B needs {tuple(own[wrong[0]].shape)}"
        )
        raise ValueError(f"{name}: not a SAM ViT-B checkpoint: {what}")
    model.load_state_dict({k: enc[k].to(torch.float32) for k in own}, strict=True, assign=True)
    model.freeze()
    return model


def load_sam_two_blocks(path: str | Path) -> SamTwoBlocks:
    """:class:`SamTwoBlocks` with the weights of a stock SAM ViT-B checkpoint (e.g. ``sam_vit_b_01ec64.pth``).

    Takes the file's ``image_encoder.patch_embed.*`` and ``image_encoder.blocks.{0,1}.*`` tensors (an
    encoder-only file with the same names minus the prefix is accepted too); everything else in the file is
    ignored. Raises ``ValueError`` with one line naming the file when a needed tensor is missing or has the
    wrong shape (a ViT-L/H or MobileSAM file, an unrelated file).
    """
    from samfuse.io.checkpoint import load_state_dict

    return sam_two_blocks_from_state_dict(load_state_dict(path), str(path))
