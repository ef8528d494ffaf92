"""Tiled inference for large images: a method's network run on overlapping tiles, blended without seams.

A learned method holds activations for the whole image at once, so its memory grows with the pixel count (4.5–5
GiB for ``sage``/``sgdfuse`` on 3000×2000, more than 8 GB for ``sage-teacher``; issue 25). Each learned method
declares a pixel budget (:attr:`samfuse.models.base.FusionMethod.tile_pixels`): an image above it is fused in
square tiles of about half that many pixels (:func:`tile_for_budget`; the other half leaves room for the whole
image's arrays and masks), so peak memory stays below what an image of the budget costs, whatever the image size.
Below the budget nothing changes (the output is bit-identical to an untiled run). ``FusionPipeline(tile_pixels=)``
and ``samfuse fuse --tile-pixels N`` set another budget; ``0`` never tiles.

Blending. Tiles overlap by ``overlap`` pixels (default 128). Near a tile's inner edge the network sees padding
instead of the neighbouring pixels, so each tile's weight is 0 over the outer ``overlap // 4`` pixels of an
inner edge, then rises linearly to 1 across the middle half of the overlap; the weights are normalised, so every
pixel is a convex blend of the tiles covering it and the two tiles' contributions cross over smoothly. Tile starts
are multiples of 32 (``ALIGN``), so networks that downsample see the same grid in a tile as in the whole image.

What tiling cannot keep: anything a network computes over the whole image (a global mean, Restormer's transposed
attention, SGDFuse's per-call noise) is computed per tile. For the CNNs (``sage``, ``sage-student``, ``seafusion``)
the tiled output matches the untiled one to within a few grey levels in the overlaps and exactly in tile
interiors far from an edge; measured per method in ``tests/test_tiling.py`` and benchmarks/results/
large_images_methods.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

__all__ = [
    "ALIGN", "DEFAULT_OVERLAP", "tile_side", "tile_for_budget", "tile_spans", "blend_weights", "tiled_forward",
    "should_tile",
]  # fmt: skip

ALIGN = 32
DEFAULT_OVERLAP = 128


def tile_side(pixels: int, overlap: int = DEFAULT_OVERLAP) -> int:
    """The side of a square tile of about ``pixels`` pixels: a multiple of :data:`ALIGN`, at least twice the
    overlap plus one alignment step."""
    side = int(math.isqrt(max(1, int(pixels)))) // ALIGN * ALIGN
    return max(side, 2 * overlap + ALIGN)


def tile_for_budget(pixels: int, overlap: int = DEFAULT_OVERLAP) -> int:
    """The tile side used for an image above the budget ``pixels``: tiles of about ``pixels / 2``."""
    return tile_side(int(pixels) // 2, overlap)


def tile_spans(size: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` covering ``0..size``: starts at multiples of :data:`ALIGN`, neighbours overlapping
    by at least ``overlap``; every span is ``tile`` long except the last, which runs to ``size`` (up to
    ``tile + ALIGN - 1``). One span when ``size <= tile``."""
    if size <= tile:
        return [(0, size)]
    stride = max(ALIGN, (tile - overlap) // ALIGN * ALIGN)
    spans = []
    start = 0
    while start + tile < size:
        spans.append((start, start + tile))
        start += stride
    last = max(0, (size - tile) // ALIGN * ALIGN)
    if spans and last <= spans[-1][0]:
        spans.pop()  # the last span would start where an earlier one did: let it replace that one
    spans.append((last, size))
    return spans


def _ramp(n: int, overlap: int, inner_start: bool, inner_end: bool) -> torch.Tensor:
    """1-D weights of a span of ``n``: 0 over ``overlap // 4`` at an inner edge, then linear up to 1 across the
    middle half of the overlap (a small positive floor keeps a pixel covered by one tile only at weight > 0)."""
    w = torch.ones(n, dtype=torch.float32)
    margin = overlap // 4
    rise = max(1, overlap - 2 * margin)
    ramp = (torch.arange(rise, dtype=torch.float32) + 0.5) / rise
    edge = torch.cat([torch.full((margin,), 1e-6), ramp])[: n // 2]
    if inner_start:
        w[: edge.numel()] = edge
    if inner_end:
        w[n - edge.numel() :] = torch.minimum(w[n - edge.numel() :], edge.flip(0))
    return w


def blend_weights(span: tuple[int, int], size: int, overlap: int) -> torch.Tensor:
    """The 1-D blend weights of one span of :func:`tile_spans` (edges of the image are not inner edges)."""
    start, stop = span
    return _ramp(stop - start, overlap, start > 0, stop < size)


def should_tile(height: int, width: int, pixels: int | None) -> bool:
    """Whether an image of ``height``×``width`` is above the budget ``pixels`` (None or 0: never)."""
    return bool(pixels) and height * width > int(pixels)  # type: ignore[operator]


def tiled_forward(
    fn: Callable[..., torch.Tensor],
    inputs: Sequence[torch.Tensor | None],
    tile: int,
    overlap: int = DEFAULT_OVERLAP,
) -> torch.Tensor:
    """``fn(*tiles)`` on overlapping tiles of ``inputs`` (tensors (B, C, H, W) of one H×W, or None, passed on as
    None), blended into one (B, C', H, W) float32 output. ``fn`` must map an h×w tile to an h×w output."""
    ref = next(t for t in inputs if t is not None)
    h, w = ref.shape[-2:]
    rows, cols = tile_spans(h, tile, overlap), tile_spans(w, tile, overlap)
    out: torch.Tensor | None = None
    norm = torch.zeros(1, 1, h, w, dtype=torch.float32, device=ref.device)
    for r in rows:
        wy = blend_weights(r, h, overlap).to(ref.device)
        for c in cols:
            wx = blend_weights(c, w, overlap).to(ref.device)
            crop = [None if t is None else t[..., r[0] : r[1], c[0] : c[1]] for t in inputs]
            res = fn(*crop).float()
            if out is None:
                out = torch.zeros(*res.shape[:2], h, w, dtype=torch.float32, device=ref.device)
            wt = wy[:, None] * wx[None, :]
            out[..., r[0] : r[1], c[0] : c[1]] += res * wt
            norm[..., r[0] : r[1], c[0] : c[1]] += wt
            del res, crop
    assert out is not None
    return out / norm
