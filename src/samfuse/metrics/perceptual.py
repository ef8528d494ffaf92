"""Human-perception-inspired fusion metrics of Z. Liu's toolbox, as VIFB runs them: Qcb and Qcv.

Qcb: Y. Chen and R. S. Blum, "A new automated quality assessment algorithm for image fusion", Image Vis.
Comput. 27(10) (2009), as ``metricChenBlum.m``. Qcv: H. Chen and P. K. Varshney, "A human perception inspired
quality metric for image fusion based on regional information", Inf. Fusion 8(2) (2007), as ``metricChen.m``.
Both from Z. Liu et al., "Objective assessment of multiresolution image fusion algorithms for context
enhancement in night vision: a comparative study", IEEE TPAMI 34(1) (2012). float64 throughout.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import fft as sfft

from samfuse.metrics._filters import check_size, correlate_same_zero, sobel_zero


def normalize255(x: np.ndarray) -> np.ndarray:
    """Liu's ``normalize1``: round(255·(x - min)/(max - min)); a constant image becomes zeros."""
    x = np.asarray(x, dtype=np.float64)
    lo, hi = x.min(), x.max()
    if hi == lo:
        return np.zeros_like(x)
    return np.floor((x - lo) / (hi - lo) * 255 + 0.5)


def _freqspace(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB ``freqspace([h w], 'meshgrid')``: u = ((0:w-1) - floor(w/2))·2/w, v likewise, as an h×w grid."""
    u = (np.arange(w) - w // 2) * 2.0 / w
    v = (np.arange(h) - h // 2) * 2.0 / h
    return np.meshgrid(u, v)


#: CSF grids of images up to this many pixels are kept for the next image of the same size (a 640×480 grid is
#: 2.4 MB); larger ones (a 6000×4000 grid is 192 MB) are recomputed, so they do not stay in memory.
_CACHE_PIXELS = 4_000_000


def _csf_chen_blum(h: int, w: int) -> np.ndarray:
    return _csf_chen_blum_cached(h, w) if h * w <= _CACHE_PIXELS else _csf_chen_blum_compute(h, w)


def _csf_mannos_sakrison(h: int, w: int) -> np.ndarray:
    return _csf_mannos_sakrison_cached(h, w) if h * w <= _CACHE_PIXELS else _csf_mannos_sakrison_compute(h, w)


def _csf_chen_blum_compute(h: int, w: int) -> np.ndarray:
    """DoG contrast sensitivity Sd(r) = e^{-(r/15.3870)²} - 0.7622·e^{-(r/1.3456)²}, r on the grid ×(w/30, h/30),
    returned ``ifftshift``-ed so that it multiplies ``fft2`` directly."""
    u, v = _freqspace(h, w)
    r = np.sqrt((u * w / 30) ** 2 + (v * h / 30) ** 2)
    sd = np.exp(-((r / 15.3870) ** 2)) - 0.7622 * np.exp(-((r / 1.3456) ** 2))
    return np.fft.ifftshift(sd)


def _csf_mannos_sakrison_compute(h: int, w: int) -> np.ndarray:
    """Mannos–Sakrison CSF 2.6(0.0192 + 0.144r)e^{-(0.144r)^1.1}, r on the grid ×(w/8, h/8), ``ifftshift``-ed."""
    u, v = _freqspace(h, w)
    r = np.sqrt((u * w / 8) ** 2 + (v * h / 8) ** 2)
    return np.fft.ifftshift(2.6 * (0.0192 + 0.144 * r) * np.exp(-((0.144 * r) ** 1.1)))


_csf_chen_blum_cached = lru_cache(maxsize=16)(_csf_chen_blum_compute)
_csf_mannos_sakrison_cached = lru_cache(maxsize=16)(_csf_mannos_sakrison_compute)


def _unnormalised_gaussian_1d(sigma: float, half: int = 15) -> np.ndarray:
    """1-D factor of exp(-(x²+y²)/(2σ²))/(2πσ²) on -15..15 (the 2-D window is its outer product)."""
    x = np.arange(-half, half + 1, dtype=np.float64)
    return np.exp(-(x * x) / (2 * sigma * sigma)) / np.sqrt(2 * np.pi * sigma * sigma)


def qcb(ir: np.ndarray, vi: np.ndarray, fused: np.ndarray, *, cache: dict | None = None) -> float:
    """Chen–Blum Q_CB (0..1, higher is better), ``metricChenBlum.m`` (its argument order: VI, IR, F).

    Each image: min-max to 0..255 and rounded; CSF filtering in the frequency domain
    (``ifft2(ifftshift(fftshift(fft2(x)).*Sd))``, complex result); local contrast
    C = |G1∗x / G2∗x - 1| with 31×31 Gaussians σ = 2, 4 (zero-padded 'same' correlation);
    masked contrast C' = C³/(C² + 1e-4); Q_XF = min(C'_X, C'_F)/max(C'_X, C'_F);
    λ_X = C'_X²/(C'_1² + C'_2²); Qcb = mean(λ_1·Q_1F + λ_2·Q_2F).
    ``cache``: a dict shared between calls on the same source arrays (same objects) to compute C' once.
    """
    check_size(fused.shape, 2, "Qcb")
    h, w = fused.shape
    sd = _csf_chen_blum(h, w)
    g1 = _unnormalised_gaussian_1d(2.0)
    g2 = _unnormalised_gaussian_1d(4.0)

    def masked_contrast(x: np.ndarray) -> np.ndarray:
        key = (id(x), "qcb")
        if cache is not None and key in cache:
            return cache[key][1]
        # In-place forms of the same operations (identical values): a 6000×4000 complex image is 384 MB.
        y = sfft.fft2(normalize255(x))
        y *= sd
        y = sfft.ifft2(y)
        num = correlate_same_zero(y, g1)
        den = correlate_same_zero(y, g2)
        del y
        with np.errstate(divide="ignore", invalid="ignore"):
            num /= den
        del den
        num -= 1
        c = np.abs(num)
        del num
        cp = c**3
        c **= 2
        c += 1e-4
        cp /= c
        del c
        if cache is not None:
            cache[key] = (x, cp)
        return cp

    def ratio(cx: np.ndarray, cf: np.ndarray) -> np.ndarray:  # where(cx < cf, cx/cf, cf/cx)
        q = cx / cf
        np.copyto(q, cf / cx, where=~(cx < cf))
        return q

    c1 = masked_contrast(vi)
    c2 = masked_contrast(ir)
    cf = masked_contrast(fused)
    with np.errstate(divide="ignore", invalid="ignore"):
        q1 = ratio(c1, cf)
        q2 = ratio(c2, cf)
        s1, s2 = c1**2, c2**2
        total = s1 + s2
        lam1 = np.divide(s1, total, out=s1)
        lam2 = np.divide(s2, total, out=s2)
        del total
    lam1 *= q1
    lam2 *= q2
    lam1 += lam2
    return float(np.mean(lam1))


def _block_sum(x: np.ndarray, size: int) -> np.ndarray:
    """Sums over size×size blocks, partial blocks zero-padded (MATLAB ``blkproc``)."""
    h, w = x.shape
    ph, pw = -h % size, -w % size
    if ph or pw:
        x = np.pad(x, ((0, ph), (0, pw)))
    hb, wb = x.shape[0] // size, x.shape[1] // size
    return x.reshape(hb, size, wb, size).sum(axis=(1, 3))


def qcv(
    ir: np.ndarray, vi: np.ndarray, fused: np.ndarray, *, block: int = 16, alpha: float = 5.0, cache: dict | None = None
) -> float:
    """Chen–Varshney Q_CV (≥ 0, **lower is better**), ``metricChen.m`` (argument order VI, IR, F).

    Images min-max to 0..255 and rounded. Saliency λ_X = Σ_block g_X^α (Sobel magnitude, 'same' zero padding,
    α = 5, 16×16 blocks zero-padded). Differences X - F filtered by the Mannos–Sakrison CSF in the frequency
    domain; per block D_X = mean(x.^2) (complex square, real part kept). Qcv = Σ(λ_1D_1 + λ_2D_2)/Σ(λ_1 + λ_2).
    """
    check_size(fused.shape, 2, "Qcv")
    f = normalize255(fused)
    h, w = f.shape
    csf = _csf_mannos_sakrison(h, w)

    def prepare(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        key = (id(x), "qcv", block, alpha)
        if cache is not None and key in cache:
            return cache[key][1]
        xn = normalize255(x)
        gx, gy = sobel_zero(xn)
        sal = _block_sum(np.sqrt(gx * gx + gy * gy) ** alpha, block)
        if cache is not None:
            cache[key] = (x, (xn, sal))
        return xn, sal

    def distortion(x: np.ndarray) -> np.ndarray:
        y = sfft.ifft2(sfft.fft2(x - f) * csf)
        return _block_sum((y * y).real, block) / (block * block)

    a, lam1 = prepare(vi)
    b, lam2 = prepare(ir)
    d1, d2 = distortion(a), distortion(b)
    return float(np.sum(lam1 * d1 + lam2 * d2) / np.sum(lam1 + lam2))
