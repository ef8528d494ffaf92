"""Gradient-based fusion metrics: Qabf (Xydeas & Petrović) and Nabf (Kumar's modified fusion artefacts).

Qabf: C. S. Xydeas and V. Petrović, "Objective image fusion performance measure", Electron. Lett. 36(4)
(2000). Nabf: B. K. Shreyamsha Kumar, "Multifocus and multispectral image fusion based on pixel significance
using discrete cosine harmonic wavelet transform", Signal, Image and Video Processing 7 (2013), modifying
Petrović & Xydeas' artefact measure N^{AB/F}.
"""

from __future__ import annotations

import math

import numpy as np

from samfuse.metrics._filters import sobel_zero
from samfuse.metrics._float32 import sum32


def _edges(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edge strength g = sqrt(x² + y²) and orientation α = arctan(y/x) (π/2 where x = 0), in img's dtype.

    x, y: Sobel responses of ``conv2(img, k, 'same')`` (see :func:`sobel_zero`).
    """
    sx, sy = sobel_zero(img)
    g = np.sqrt(sx * sx + sy * sy)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.arctan(sy / sx)
    a[sx == 0] = img.dtype.type(math.pi / 2)
    return g, a


def _preservation(g_src: np.ndarray, a_src: np.ndarray, g_f: np.ndarray, a_f: np.ndarray) -> np.ndarray:
    """Q^{XF} = 0.9994/(1 + e^{-15(G - 0.5)}) · 0.9879/(1 + e^{-22(A - 0.8)}).

    G = min(g_X, g_F)/max(g_X, g_F), **but G = g_F where g_X == g_F** (the reference quirk);
    A = 1 - |α_X - α_F|/(π/2).
    """
    # In-place forms of the formulas (the same operations in the same order: identical values) so that a large
    # image needs few image-sized temporaries.
    gaf = np.minimum(g_src, g_f)
    tmp = np.maximum(g_src, g_f)
    with np.errstate(divide="ignore", invalid="ignore"):
        gaf /= tmp
    tie = g_src == g_f
    gaf[tie] = g_f[tie]
    del tie
    aaf = np.subtract(a_src, a_f, out=tmp)
    np.abs(aaf, out=aaf)
    aaf /= math.pi / 2
    np.subtract(1, aaf, out=aaf)
    qg = gaf  # 0.9994 / (1 + exp(-15 (G - 0.5)))
    qg -= 0.5
    qg *= -15
    np.exp(qg, out=qg)
    qg += 1
    np.divide(0.9994, qg, out=qg)
    qa = aaf  # 0.9879 / (1 + exp(-22 (A - 0.8)))
    qa -= 0.8
    qa *= -22
    np.exp(qa, out=qa)
    qa += 1
    np.divide(0.9879, qa, out=qa)
    qg *= qa
    return qg


def qabf(
    ir: np.ndarray,
    vi: np.ndarray,
    fused: np.ndarray,
    *,
    dtype: type = np.float64,
    scale: float = 1.0,
    cache: dict | None = None,
) -> float:
    """Q^{AB/F} = Σ(Q^{AF}·g_A + Q^{BF}·g_B) / Σ(g_A + g_B) (L = 1, all pixels, no border crop).

    ``dtype``: arithmetic precision (float32 reproduces CDDFuse, float64 VIFB). ``scale`` multiplies the
    inputs first (VIFB passes 255·x; only the g_A == g_F tie sees it). ``cache``: a dict shared between calls
    on the same arrays (same objects) to compute each image's edges once.
    """

    def edges(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        key = (id(x), "qabf", np.dtype(dtype).str, scale)
        if cache is not None and key in cache:
            return cache[key][1]
        y = np.asarray(x, dtype=dtype)
        out = _edges(y * dtype(scale) if scale != 1 else y)
        if cache is not None:
            cache[key] = (x, out)
        return out

    ga, aa = edges(ir)
    gb, ab = edges(vi)
    gf, af = edges(fused)
    qaf = _preservation(ga, aa, gf, af)
    qbf = _preservation(gb, ab, gf, af)
    del aa, ab, gf, af
    den = sum32(ga + gb)
    qaf *= ga  # num = Σ(Q^{AF}·g_A + Q^{BF}·g_B), in place
    qbf *= gb
    qaf += qbf
    del qbf
    num = sum32(qaf)
    return float(num / den)


# --- Nabf ---------------------------------------------------------------------------------------------------


def _sobel_kumar(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kumar's ``sobel_fn``: correlation with [[-1,0,1],[-2,0,2],[-1,0,1]]/8 (gv) and its transpose-like
    [[-1,-2,-1],[0,0,0],[1,2,1]]/8 (gh), the image extended by mirror reflection without repeating the edge."""
    p = np.pad(x, 1, mode="reflect")
    s = p[:-2, :] + 2 * p[1:-1, :] + p[2:, :]
    gv = (s[:, 2:] - s[:, :-2]) / 8
    t = p[:, :-2] + 2 * p[:, 1:-1] + p[:, 2:]
    gh = (t[2:, :] - t[:-2, :]) / 8
    return gv, gh


def nabf(ir: np.ndarray, vi: np.ndarray, fused: np.ndarray) -> float:
    """Kumar's modified fusion-artefact measure N_{AB/F} (lower is better, 0..1), float64 on 0..255.

    Per pixel: g = sqrt(gv² + gh²) and α = arctan(gv/gh) (0 where both are 0) from :func:`_sobel_kumar`;
    G_XF = min/max of (g_X, g_F) (0 if either is 0); A_XF = |(|α_X - α_F| - π/2)|·2/π;
    Q_XF = sqrt(0.9999/(1 + e^{-19(G - 0.5)}) · 0.9995/(1 + e^{-22(A - 0.5)}));
    weights w_X = g_X^1.5 where g_X ≥ 2, else 0.001. With AM = [g_F > g_A and g_F > g_B],
    N = Σ AM·((1 - Q_AF)·w_A + (1 - Q_BF)·w_B) / Σ(w_A + w_B).
    """
    # In-place forms of the formulas, one source at a time (the same operations in the same order: identical
    # values), so that a large image needs few image-sized float64 arrays at once.

    def strength_angle(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        gv, gh = _sobel_kumar(np.asarray(x, dtype=np.float64))
        g = gh * gh
        g += gv * gv
        np.sqrt(g, out=g)
        zero = (gv == 0) & (gh == 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            ang = np.divide(gv, gh, out=gv)
        np.arctan(ang, out=ang)
        ang[zero] = 0.0
        return g, ang

    def q(gx: np.ndarray, ax: np.ndarray, gf: np.ndarray, af: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = gx / gf
            np.copyto(ratio, gf / gx, where=gx > gf)
        ratio[(gx == 0) | (gf == 0)] = 0.0
        ang = np.subtract(ax, af)
        np.abs(ang, out=ang)
        ang -= math.pi / 2
        np.abs(ang, out=ang)
        ang *= 2
        ang /= math.pi
        qg = ratio  # 0.9999 / (1 + exp(-19 (ratio - 0.5)))
        qg -= 0.5
        qg *= -19
        np.exp(qg, out=qg)
        qg += 1
        np.divide(0.9999, qg, out=qg)
        qa = ang  # 0.9995 / (1 + exp(-22 (ang - 0.5)))
        qa -= 0.5
        qa *= -22
        np.exp(qa, out=qa)
        qa += 1
        np.divide(0.9995, qa, out=qa)
        qg *= qa
        return np.sqrt(qg, out=qg)

    gf, af = strength_angle(fused)
    ga, aa = strength_angle(ir)
    qaf = q(ga, aa, gf, af)
    del aa
    gb, ab = strength_angle(vi)
    qbf = q(gb, ab, gf, af)
    del ab, af

    def weight(g: np.ndarray) -> np.ndarray:
        w = g**1.5
        w[~(g >= 2)] = 0.001
        return w

    wa = weight(ga)
    wb = weight(gb)
    am = (gf > ga) & (gf > gb)
    del ga, gb, gf
    den = np.sum(wa + wb)
    np.subtract(1, qaf, out=qaf)  # am · ((1 - Q_AF)·w_A + (1 - Q_BF)·w_B)
    qaf *= wa
    np.subtract(1, qbf, out=qbf)
    qbf *= wb
    qaf += qbf
    del qbf, wa, wb
    np.multiply(am, qaf, out=qaf)
    return float(np.sum(qaf) / den)
