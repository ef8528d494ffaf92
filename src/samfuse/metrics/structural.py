"""Structural similarity: SSIM (two variants) and MS-SSIM.

SSIM(x, y) = mean over windows of (2μxμy + C1)(2σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2)),
Wang, Bovik, Sheikh & Simoncelli, "Image quality assessment: from error visibility to structural
similarity", IEEE TIP 13(4) (2004). MS-SSIM: Wang, Simoncelli & Bovik, "Multiscale structural similarity for
image quality assessment", Asilomar 2003.

* :func:`ssim_gaussian` is Wang's ``ssim_index.m`` (VIFB): 11×11 Gaussian (σ = 1.5) window, 'valid' filtering,
  weighted population moments, L = 255, float64.
* :func:`ssim_skimage019` is ``skimage.metrics.structural_similarity`` of scikit-image 0.19 called with its
  defaults on float images (CDDFuse): data_range = 2 (the float dtype range -1..1), a 7×7 uniform window
  (``scipy.ndimage.uniform_filter``, reflect borders), sample covariances (×49/48), float32 map for float32
  images, 3-pixel border cropped, float64 mean. Reimplemented here: scikit-image ≥ 0.20 refuses these calls.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from samfuse.metrics._filters import check_size, correlate_valid, gaussian_1d

#: MS-SSIM weights of Wang et al. (2003), finest scale first.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _moments(x: np.ndarray, g: np.ndarray, cache: dict | None) -> tuple[np.ndarray, np.ndarray]:
    """(μ, σ²) of x under the window outer(g, g), 'valid'; memoised in ``cache`` by identity of x."""
    key = (id(x), "moments", g.size)
    if cache is not None and key in cache:
        return cache[key][1]
    mu = correlate_valid(x, g)
    var = correlate_valid(x * x, g)
    var -= mu * mu
    if cache is not None:
        cache[key] = (x, (mu, var))  # keep x alive so its id stays unique
    return mu, var


def _ssim_maps(
    x: np.ndarray, y: np.ndarray, g: np.ndarray, c1: float, c2: float, cache: dict | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """SSIM map and contrast-structure map with the separable window outer(g, g), 'valid' (float64)."""
    mx, vx = _moments(x, g, cache)
    my, vy = _moments(y, g, cache)
    # In-place forms of cs = (2·vxy + c2)/(vx + vy + c2) and ssim = (2·mxy + c1)/(mx² + my² + c1)·cs: the same
    # operations in the same order (identical values), with fewer image-sized temporaries (large images).
    mxy = mx * my
    cs = correlate_valid(x * y, g)
    cs -= mxy
    cs *= 2
    cs += c2
    den = vx + vy
    den += c2
    cs /= den
    np.multiply(mx, mx, out=den)
    den += my * my
    den += c1
    ssim = mxy
    ssim *= 2
    ssim += c1
    ssim /= den
    del den
    ssim *= cs
    return ssim, cs


def ssim_gaussian(a: np.ndarray, b: np.ndarray, *, data_range: float = 255.0, cache: dict | None = None) -> float:
    """Wang's SSIM (``ssim_index.m``): 11×11 Gaussian σ = 1.5, K = (0.01, 0.03), 'valid' map mean, float64.

    ``cache``: a dict shared between calls on the same arrays (same objects) to filter each image once.
    """
    check_size(a.shape, 11, "SSIM")
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    ssim, _ = _ssim_maps(x, y, gaussian_1d(11, 1.5), c1, c2, cache)
    return float(ssim.mean())


def ssim_skimage019(a: np.ndarray, b: np.ndarray, *, data_range: float = 2.0, win_size: int = 7) -> float:
    """SSIM as scikit-image 0.19's ``structural_similarity(a, b)`` computed it for float images.

    Uniform win_size² window (reflect borders), covariances × NP/(NP-1), C1 = (0.01·R)², C2 = (0.03·R)² with
    R = data_range (2.0 for float input in 0.19), map in the input float dtype, (win_size-1)/2 border cropped,
    mean in float64.
    """
    return ssim_skimage019_multi(a, [b], data_range=data_range, win_size=win_size)[0]


def ssim_skimage019_multi(
    a: np.ndarray, others: list[np.ndarray], *, data_range: float = 2.0, win_size: int = 7
) -> list[float]:
    """[:func:`ssim_skimage019`(a, b) for b in others], filtering a's statistics once."""
    check_size(a.shape, win_size, "SSIM")
    x = np.asarray(a)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    np_ = win_size**2
    cov_norm = np_ / (np_ - 1)
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    pad = (win_size - 1) // 2
    ux = ndimage.uniform_filter(x, size=win_size)
    uxx = ndimage.uniform_filter(x * x, size=win_size)
    vx = cov_norm * (uxx - ux * ux)
    out = []
    for other in others:
        y = np.asarray(other).astype(x.dtype, copy=False)
        uy = ndimage.uniform_filter(y, size=win_size)
        uyy = ndimage.uniform_filter(y * y, size=win_size)
        uxy = ndimage.uniform_filter(x * y, size=win_size)
        vy = cov_norm * (uyy - uy * uy)
        vxy = cov_norm * (uxy - ux * uy)
        a1 = 2 * ux * uy + c1
        a2 = 2 * vxy + c2
        b1 = ux**2 + uy**2 + c1
        b2 = vx + vy + c2
        s = (a1 * a2) / (b1 * b2)
        out.append(float(s[pad:-pad, pad:-pad].mean(dtype=np.float64)))
    return out


def _downsample2(x: np.ndarray) -> np.ndarray:
    """MS-SSIM's down-sampling: ``imfilter(x, ones(2)/4, 'symmetric')`` then every second sample.

    Equals the mean of each 2×2 block, the last row/column repeated when a side is odd.
    """
    h, w = x.shape
    if h % 2:
        x = np.vstack([x, x[-1:]])
    if w % 2:
        x = np.hstack([x, x[:, -1:]])
    return 0.25 * (x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2])


def ms_ssim_pair(a: np.ndarray, b: np.ndarray, *, data_range: float = 255.0) -> float:
    """MS-SSIM of Wang et al. (2003), as their ``msssim.m``: 5 scales, weights :data:`MS_SSIM_WEIGHTS`.

    At scales 1..4 the mean contrast-structure term cs_j is kept, at scale 5 the full SSIM; the result is
    Π_{j<5} cs_j^{w_j} · SSIM_5^{w_5}. Windows: 11×11 Gaussian σ = 1.5, 'valid'; K = (0.01, 0.03), L = 255.
    Needs at least 161×161 pixels (11 at the coarsest scale). A negative mean term (anti-correlated images)
    is clamped to 0 before the power, as TensorFlow's and pytorch-msssim's versions do (MATLAB would return a
    complex number).
    """
    levels = len(MS_SSIM_WEIGHTS)
    check_size(a.shape, 11 * 2 ** (levels - 1) - 2 ** (levels - 1) + 1, "MS-SSIM")
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    g = gaussian_1d(11, 1.5)
    result = 1.0
    for j, wj in enumerate(MS_SSIM_WEIGHTS):
        ssim, cs = _ssim_maps(x, y, g, c1, c2)
        term = float(ssim.mean()) if j == levels - 1 else float(cs.mean())
        result *= max(term, 0.0) ** wj  # a negative mean would make the power complex: clamp at 0
        if j < levels - 1:
            x, y = _downsample2(x), _downsample2(y)
    return result


def ms_ssim(ir: np.ndarray, vi: np.ndarray, fused: np.ndarray) -> float:
    """Fusion MS-SSIM: (MS-SSIM(IR, F) + MS-SSIM(VI, F)) / 2, the mean over the two sources (range ≤ 1)."""
    return (ms_ssim_pair(ir, fused) + ms_ssim_pair(vi, fused)) / 2
