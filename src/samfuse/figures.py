"""The qualitative comparison figure: rows = pairs, columns = IR, VIS and each method, with a zoomed inset of
the same labelled region in every column (matplotlib, Agg backend; no hand-drawn pixels)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: (x0, y0, x1, y1) in pixels.
Region = tuple[int, int, int, int]


@dataclass
class FigureRow:
    """One row: a label (the pair's name), one uint8 image per column (grey H×W or RGB H×W×3), the zoom region."""

    label: str
    images: Sequence[np.ndarray | None]
    region: Region | None = None


def busiest_region(grey: np.ndarray, frac: float = 0.25) -> Region:
    """The window (``frac`` of each side) with the largest local standard deviation: a detailed region to zoom
    into when no label marks one."""
    import cv2

    h, w = grey.shape[:2]
    ww, wh = max(8, int(w * frac)), max(8, int(h * frac))
    g = grey.astype(np.float32)
    mean = cv2.blur(g, (ww, wh))
    var = cv2.blur(g * g, (ww, wh)) - mean * mean
    # only centres whose window lies inside the image
    y0, y1, x0, x1 = wh // 2, h - (wh - wh // 2), ww // 2, w - (ww - ww // 2)
    if y1 <= y0 or x1 <= x0:
        return (0, 0, w, h)
    sub = var[y0:y1, x0:x1]
    cy, cx = np.unravel_index(int(np.argmax(sub)), sub.shape)
    cx, cy = cx + x0, cy + y0
    return (cx - ww // 2, cy - wh // 2, cx - ww // 2 + ww, cy - wh // 2 + wh)


def grow_region(box: Region, shape: tuple[int, ...], min_frac: float = 0.2) -> Region:
    """A box grown to at least ``min_frac`` of the image's sides (centred on it), clipped to the image."""
    h, w = shape[:2]
    x0, y0, x1, y1 = box
    bw, bh = max(x1 - x0, int(w * min_frac)), max(y1 - y0, int(h * min_frac))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    nx0 = int(min(max(0, cx - bw / 2), max(0, w - bw)))
    ny0 = int(min(max(0, cy - bh / 2), max(0, h - bh)))
    return (nx0, ny0, min(w, nx0 + bw), min(h, ny0 + bh))


def comparison_figure(
    path: Path,
    columns: Sequence[str],
    rows: Sequence[FigureRow],
    *,
    title: str | None = None,
    cell_inches: float = 2.2,
    dpi: int = 90,
    quality: int = 80,
) -> Path:
    """Draw the grid and save it (JPEG when ``path`` ends in .jpg/.jpeg, else PNG), written atomically."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from samfuse.io import atomic_write

    ncol, nrow = len(columns), len(rows)
    aspect = 0.75
    for r in rows:
        first = next((im for im in r.images if im is not None), None)
        if first is not None:
            aspect = first.shape[0] / first.shape[1]
            break
    fig, axes = plt.subplots(
        nrow,
        ncol,
        figsize=(cell_inches * ncol, cell_inches * aspect * nrow + (0.35 if title else 0.1) + 0.25),
        squeeze=False,
    )
    for i, row in enumerate(rows):
        for j, name in enumerate(columns):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            img = row.images[j] if j < len(row.images) else None
            if i == 0:
                ax.set_title(name, fontsize=9)
            if j == 0:
                ax.set_ylabel(row.label, fontsize=8)
            if img is None:
                ax.text(0.5, 0.5, "n/a", ha="center", va="center", transform=ax.transAxes)
                continue
            cmap = "gray" if img.ndim == 2 else None
            ax.imshow(img, cmap=cmap, vmin=0, vmax=255, interpolation="nearest")
            if row.region is not None:
                x0, y0, x1, y1 = row.region
                # the inset goes in the corner away from the region, so it never hides it
                right = (x0 + x1) / 2 < img.shape[1] / 2
                bottom = (y0 + y1) / 2 < img.shape[0] / 2
                inset = ax.inset_axes((0.58 if right else 0.0, 0.0 if bottom else 0.58, 0.42, 0.42))
                inset.imshow(img, cmap=cmap, vmin=0, vmax=255, interpolation="nearest")
                inset.set_xlim(x0 - 0.5, x1 - 0.5)
                inset.set_ylim(y1 - 0.5, y0 - 0.5)
                inset.set_xticks([])
                inset.set_yticks([])
                for spine in inset.spines.values():
                    spine.set_edgecolor("yellow")
                ax.indicate_inset_zoom(inset, edgecolor="yellow", alpha=0.9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(pad=0.2, h_pad=0.2, w_pad=0.2)
    path = Path(path)
    suffix = path.suffix.lower()
    buf_fmt = "jpeg" if suffix in (".jpg", ".jpeg") else "png"
    kwargs = {"pil_kwargs": {"quality": quality, "optimize": True}} if buf_fmt == "jpeg" else {}

    def save(fh) -> None:  # type: ignore[no-untyped-def]
        fig.savefig(fh, format=buf_fmt, dpi=dpi, **kwargs)

    try:
        atomic_write(path, save)
    finally:
        plt.close(fig)
    return path
