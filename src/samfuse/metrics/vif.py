"""Visual information fidelity: pixel-domain multi-scale VIF (VIFp) and Han et al.'s fusion metric VIFF.

VIFp: H. R. Sheikh and A. C. Bovik, "Image information and visual quality", IEEE TIP 15(2) (2006), as the
MATLAB ``vifp_mscale.m`` (and CDDFuse's port ``compare_viff``). VIFF: Y. Han, Y. Cai, Y. Cao and X. Xu,
"A new image fusion performance metric based on visual information fidelity", Information Fusion 14(2)
(2013), as their ``VIFF_Public.m``.

Both use four scales s = 1..4 with the Gaussian window N = 2^(5-s) + 1 (17, 9, 5, 3), σ = N/5, built like
``fspecial``. For s > 1 both images are first filtered 'valid' with that window and decimated by 2. Local
statistics μ, σ², σ12 come from 'valid' filtering. The windows are separable, so each 2-D filtering is two
1-D passes (OpenCV ``sepFilter2D``, float64): ~45× faster than ``convolve2d`` (``benchmarks/metrics_speed.py``).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from samfuse.metrics._filters import check_size, correlate_valid, correlate_valid_decimated, gaussian_1d

#: Smallest side the four scales need (the last scale must keep one 'valid' pixel).
VIF_MIN_SIDE = 41

_EPS = 1e-10


def _scale_terms(
    refs: list[np.ndarray], dist: np.ndarray, sigma_nsq: float
) -> Iterator[Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """For each scale, an iterator over the references of their (information with distortion VID, without VIND,
    gain g) maps, computed one reference at a time (consume each before the next: large images stay in memory
    bounds).

    Per pixel, with the clamping order of ``vifp_mscale.m``: σ² < 0 → 0; g = σ12/(σ1² + ε),
    sv² = σ2² - g·σ12; where σ1² < ε: g = 0, sv² = σ2², σ1² = 0; where σ2² < ε: g = 0, sv² = 0;
    where g < 0: sv² = σ2², g = 0; sv² ≥ ε. VID = log10(1 + g²σ1²/(sv² + σn²)), VIND = log10(1 + σ1²/σn²).
    """
    d = np.asarray(dist, dtype=np.float64)
    for scale in range(1, 5):
        n = 2 ** (5 - scale) + 1
        g1 = gaussian_1d(n, n / 5.0)
        if scale > 1:
            refs = [correlate_valid_decimated(np.asarray(r, dtype=np.float64), g1) for r in refs]
            d = correlate_valid_decimated(d, g1)
        mu_d = correlate_valid(d, g1)
        s2 = correlate_valid(d * d, g1)
        s2 -= mu_d * mu_d
        np.maximum(s2, 0.0, out=s2)
        yield _reference_terms(refs, d, mu_d, s2, g1, sigma_nsq)


def _reference_terms(
    refs: list[np.ndarray], d: np.ndarray, mu_d: np.ndarray, s2: np.ndarray, g1: np.ndarray, sigma_nsq: float
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    for ref in refs:
        r = np.asarray(ref, dtype=np.float64)
        mu_r = correlate_valid(r, g1)
        s1 = correlate_valid(r * r, g1)
        s1 -= mu_r * mu_r
        np.maximum(s1, 0.0, out=s1)
        s12 = correlate_valid(r * d, g1)
        s12 -= mu_r * mu_d
        del r, mu_r
        yield _clamped_terms(s1, s2, s12, sigma_nsq)
        del s1, s12


def _clamped_terms(
    sig1: np.ndarray, s2: np.ndarray, sig12: np.ndarray, sigma_nsq: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(VID, VIND, g) maps of one reference from its statistics (σ² already ≥ 0), clamped as documented above.

    The sequential masked assignments of the reference collapse to: g = 0 where σ1² < ε, σ2² < ε or g < 0;
    sv² = 0 where σ2² < ε, else σ2² where σ1² < ε or g < 0, else σ2² - g·σ12; then sv² ≥ ε; σ1² = 0 where < ε.
    ``sig1`` and ``sig12`` are overwritten (in-place forms of the same operations: identical values, fewer
    image-sized temporaries).
    """
    gain = sig1 + _EPS
    np.divide(sig12, gain, out=gain)
    sv = np.multiply(gain, sig12, out=sig12)
    np.subtract(s2, sv, out=sv)
    m1 = sig1 < _EPS
    m2 = s2 < _EPS
    neg = (gain < 0) & ~m1 & ~m2
    zero_gain = m1 | m2 | neg
    np.copyto(sv, s2, where=m1 | neg)
    sv[m2] = 0.0
    np.maximum(sv, _EPS, out=sv)
    gain[zero_gain] = 0.0
    del m2, neg, zero_gain
    sig1[m1] = 0.0
    sv += sigma_nsq
    vid = gain * gain
    vid *= sig1
    vid /= sv
    del sv
    vid += 1
    np.log10(vid, out=vid)
    vind = np.divide(sig1, sigma_nsq, out=sig1)
    vind += 1
    np.log10(vind, out=vind)
    return vid, vind, gain


def vifp_pair(ref: np.ndarray, dist: np.ndarray, *, sigma_nsq: float = 2.0) -> float:
    """VIFp(ref, dist) = Σ_scales Σ VID / Σ_scales Σ VIND (σn² = 2 on 0..255); NaN → 1.0 as the port does."""
    return vifp(ref, None, dist, sigma_nsq=sigma_nsq)


def vifp(ir: np.ndarray, vi: np.ndarray | None, fused: np.ndarray, *, sigma_nsq: float = 2.0) -> float:
    """CDDFuse ``VIFF``: VIFp(IR, F) + VIFp(VI, F), a **sum** (float64, 0..255 images, σn² = 2).

    Despite CDDFuse's name this is Sheikh & Bovik's VIFp, not Han et al.'s VIFF (see :func:`viff`).
    With ``vi=None`` it returns VIFp(IR, F) alone. Needs at least 41×41 pixels.
    """
    check_size(fused.shape, VIF_MIN_SIDE, "VIF")
    refs = [ir] if vi is None else [ir, vi]
    num = [0.0] * len(refs)
    den = [0.0] * len(refs)
    for terms in _scale_terms(refs, fused, sigma_nsq):
        for i, (vid, vind, _) in enumerate(terms):
            num[i] += float(np.sum(vid))
            den[i] += float(np.sum(vind))
            del vid, vind
    total = 0.0
    for nu, de in zip(num, den, strict=True):
        with np.errstate(invalid="ignore", divide="ignore"):
            v = np.float64(nu) / np.float64(de)
        total += 1.0 if np.isnan(v) else float(v)
    return total


#: Han et al.'s per-scale weights p = [1, 0, 0.15, 1]/2.15.
VIFF_SCALE_WEIGHTS = (1 / 2.15, 0.0, 0.15 / 2.15, 1 / 2.15)


def viff(ir: np.ndarray, vi: np.ndarray, fused: np.ndarray) -> float:
    """Han et al.'s VIFF (0..1, higher is better), as ``VIFF_Public.m`` on grey 0..255 images.

    σn² = 0.005·255², C = 1e-7. At each scale and pixel the source with the smaller gain g is kept (ties: VI,
    the second source), F_s = Σ(VID_kept + C) / Σ(VIND_kept + C), and VIFF = Σ_s p_s·F_s with
    p = [1, 0, 0.15, 1]/2.15. (For colour images the original uses CIELAB L*; pass grey images here.)
    Needs at least 41×41 pixels.
    """
    check_size(fused.shape, VIF_MIN_SIDE, "VIFF")
    c = 1e-7
    total = 0.0
    for p, terms in zip(VIFF_SCALE_WEIGHTS, _scale_terms([ir, vi], fused, 0.005 * 255 * 255), strict=True):
        (vid1, vind1, g1), (vid2, vind2, g2) = terms
        take1 = g1 < g2
        del g1, g2
        vid = vid2  # where(take1, vid1, vid2), in place
        np.copyto(vid, vid1, where=take1)
        del vid1
        vind = vind2
        np.copyto(vind, vind1, where=take1)
        del vind1, take1
        total += p * float(np.sum(vid + c) / np.sum(vind + c))
        del vid, vind, vid2, vind2
    return total
