"""Properties of each metric on real images (identities, symmetries, invariants, hand-computed cases)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from scipy.signal import convolve2d

from samfuse.metrics import (
    CONVENTIONS,
    MetricShapeError,
    MetricSizeError,
    get_convention,
    gradient,
    information,
    perceptual,
    similarity,
    statistics,
    structural,
    vif,
)
from samfuse.metrics._filters import correlate_valid, gaussian_1d
from samfuse.metrics._float32 import mean32, std32, sum32
from samfuse.metrics.reading import grey_cddfuse, read_cddfuse, read_vifb
from shared_paths import DATASETS, REFERENCE

VIFB = REFERENCE / "vifb"
CDD = CONVENTIONS["cddfuse"]
VIF = CONVENTIONS["vifb"]


@pytest.fixture(scope="module")
def grey() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A real MSRS pair read the CDDFuse way (float32 integers), cropped to 180×220, and their rounded mean."""
    ir = read_cddfuse(DATASETS / "MSRS/ir/00004N.png")[100:280, 200:420]
    vi = read_cddfuse(DATASETS / "MSRS/vi/00004N.png")[100:280, 200:420]
    return ir, vi, np.round((ir + vi) / 2)


@pytest.fixture(scope="module")
def colour() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A real VIFB triple as VIFB reads it (grey single-channel IR, RGB VI and fused), cropped."""
    ir = read_vifb(VIFB / "ir/manWalking.jpg")[:120, :160]
    vi = read_vifb(VIFB / "vi/manWalking.jpg")[:120, :160]
    f = read_vifb(VIFB / "fused/GFF/manWalking.jpg")[:120, :160]
    return ir, vi, f


# --- information ------------------------------------------------------------------------------------------


def test_entropy_of_a_constant_is_zero_and_of_all_levels_is_8_bits():
    const = np.full((40, 50), 77, np.float32)
    assert information.entropy_cddfuse(const) == 0.0
    assert information.entropy_vifb(const) == 0.0
    ramp = np.arange(256, dtype=np.float32).reshape(16, 16)
    assert information.entropy_cddfuse(ramp) == pytest.approx(8.0, abs=1e-12)
    assert information.entropy_vifb(ramp) == pytest.approx(8.0, abs=1e-12)


def test_entropy_conventions_round_differently():
    x = np.array([[0.5, 1.5, 2.5, 2.6]], np.float32)
    # CDDFuse: round half to even -> 0, 2, 2, 3 ; VIFB: floor -> 0, 1, 2, 2
    p = np.array([0.25, 0.5, 0.25])
    assert information.entropy_cddfuse(x) == pytest.approx(-(p * np.log2(p)).sum())
    assert information.entropy_vifb(x) == pytest.approx(-(p * np.log2(p)).sum())
    assert information.entropy_cddfuse(np.array([[0.5, 1.5]])) == pytest.approx(1.0)  # 0 and 2
    assert information.entropy_vifb(np.array([[0.5, 0.7]])) == 0.0  # both floor to 0


def test_mi_is_symmetric_and_mi_with_itself_is_the_entropy_in_nats(grey):
    ir, vi, f = grey
    assert information.mi_cddfuse(ir, f) == pytest.approx(information.mi_cddfuse(f, ir), abs=1e-12)
    assert information.mi_vifb(vi, f) == pytest.approx(information.mi_vifb(f, vi), abs=1e-12)
    h_bits = information.entropy_cddfuse(vi)
    assert information.mi_cddfuse(vi, vi) == pytest.approx(h_bits * math.log(2), rel=1e-12)
    assert information.mi_cddfuse(ir, vi) < information.mi_cddfuse(vi, vi)


def test_mi_conventions_agree_on_8bit_images_and_differ_beyond(grey):
    ir, vi, f = grey
    # VIFB min-max stretches each image before binning; for integer images spanning at most 256 levels that
    # is a one-to-one relabelling, so it agrees with CDDFuse's raw-level MI ...
    assert information.mi_vifb(vi, f) == pytest.approx(information.mi_cddfuse(vi, f), rel=1e-12)
    # ... but an image with more than 256 distinct levels is binned by VIFB and kept as classes by CDDFuse.
    wide = 4 * vi + ir
    assert np.unique(wide).size > 256
    assert information.mi_vifb(wide, f) < information.mi_cddfuse(wide, f) - 0.05


def test_cddfuse_mi_labels_any_distinct_values_as_classes():
    a = np.array([[0.25, 0.25, 7.5, 7.5]])
    b = np.array([[1.0, 1.0, 2.0, 2.0]])
    assert information.mi_cddfuse(a, b) == pytest.approx(math.log(2))


def test_cross_entropy_of_identical_histograms_is_zero(colour):
    ir, vi, f = colour
    assert information.cross_entropy_vifb(vi[..., 1], vi[..., 1]) == 0.0
    assert information.cross_entropy_vifb(ir, f[..., 0]) > 0


# --- statistics -------------------------------------------------------------------------------------------


def test_statistics_of_a_constant_are_zero():
    c32 = np.full((30, 40), 99, np.float32)
    for fn in (statistics.sd_cddfuse, statistics.sf_cddfuse, statistics.ag_cddfuse, statistics.sd_vifb):
        assert fn(c32) == 0.0
    c3 = np.full((30, 40, 3), 12, np.uint8)
    assert statistics.sf_vifb(c3) == 0.0 and statistics.ei_vifb(c3) == 0.0


def test_vifb_sf_counts_the_channel_seams_and_divides_by_the_pixel_count():
    x = np.zeros((2, 2, 3))
    x[..., 1] = 1.0  # channels side by side: [0 0 | 1 1 | 0 0] in each row
    # RF: two seams per row, each (±1)² -> 4 over H·3W = 12 pixels; CF: 0
    assert statistics.sf_vifb(x) == pytest.approx(math.sqrt(4 / 12))
    assert statistics.sf_cddfuse(x[..., 1].astype(np.float32)) == 0.0


def test_vifb_ag_divides_by_h_minus_1_times_w_minus_1():
    x = np.tile(np.arange(4.0), (3, 1))  # gx = 1 everywhere, gy = 0
    assert statistics.ag_vifb(x) == pytest.approx(12 * math.sqrt(0.5) / (2 * 3))
    assert statistics.ag_cddfuse(x.astype(np.float32)) == pytest.approx(math.sqrt(0.5))


def test_vifb_ei_uses_replicate_borders():
    x = np.tile(np.arange(5.0), (4, 1))  # a ramp: Sobel x = 8 inside, 4 at the replicated left/right columns
    expect = (3 * 8 + 2 * 4) / 5
    assert statistics.ei_vifb(x) == pytest.approx(expect)


# --- error / correlation -------------------------------------------------------------------------------------


def test_error_metrics_of_identical_images(grey):
    ir, _, _ = grey
    assert similarity.mse_cddfuse(ir, ir, ir) == 0.0
    assert similarity.cc_cddfuse(ir, ir, ir) == pytest.approx(1.0, abs=1e-6)
    assert similarity.rmse_vifb(ir, ir, ir) == 0.0
    assert similarity.psnr_cddfuse(ir, ir, ir) == math.inf


def test_vifb_psnr_uses_its_non_standard_mse():
    a = np.zeros((10, 10))
    b = np.full((10, 10), 2.0)
    mse = math.sqrt(100 * 4) / 100  # sqrt(Σd²)/(H·W) = 0.2, not 4
    assert similarity.mse_vifb(a, b) == pytest.approx(mse)
    assert similarity.psnr_vifb(a, a, b) == pytest.approx(20 * math.log10(255 / math.sqrt(mse)))


def test_cddfuse_psnr_peak_is_the_fused_maximum(grey):
    ir, vi, f = grey
    mse = similarity.mse_cddfuse(ir, vi, f)
    assert similarity.psnr_cddfuse(ir, vi, f) == pytest.approx(10 * math.log10(float(f.max()) ** 2 / mse))


def test_scd_is_symmetric_in_the_sources(grey):
    ir, vi, f = grey
    assert similarity.scd(ir, vi, f) == pytest.approx(similarity.scd(vi, ir, f), abs=1e-6)
    assert similarity.scd(ir, vi, ir + vi) == pytest.approx(2.0, abs=1e-5)  # F - B = A exactly


# --- structural ----------------------------------------------------------------------------------------------


def test_ssim_of_an_image_with_itself_is_one_per_source(grey, colour):
    ir, vi, f = grey
    assert structural.ssim_gaussian(vi, vi) == pytest.approx(1.0, abs=1e-12)
    assert structural.ssim_skimage019(vi, vi) == pytest.approx(1.0, abs=1e-6)
    assert CDD.compute("SSIM", f, f, f) == pytest.approx(2.0, abs=1e-6)  # a sum over the two sources
    cir, cvi, cf = colour
    assert VIF.compute("SSIM", cvi[..., 0], cvi, cvi) < 2.0
    grey3 = np.repeat(cir[..., None], 3, axis=2)
    assert VIF.compute("SSIM", cir, grey3, grey3) == pytest.approx(2.0, abs=1e-12)


def test_ssim_skimage019_follows_the_documented_formula():
    rng = np.random.default_rng(5)
    x = rng.integers(0, 256, (16, 18)).astype(np.float64)
    y = np.clip(x + rng.normal(0, 30, x.shape), 0, 255).round()
    c1, c2 = (0.01 * 2) ** 2, (0.03 * 2) ** 2  # data_range 2 (the float dtype range -1..1 of 0.19)
    px, py = np.pad(x, 3, mode="symmetric"), np.pad(y, 3, mode="symmetric")  # scipy 'reflect'
    vals = []
    for i in range(3, 13):  # the 3-pixel border is cropped
        for j in range(3, 15):
            wx, wy = px[i : i + 7, j : j + 7], py[i : i + 7, j : j + 7]
            mx, my = wx.mean(), wy.mean()
            vx, vy = wx.var(ddof=1), wy.var(ddof=1)  # 49/48: sample covariances
            vxy = ((wx - mx) * (wy - my)).sum() / 48
            vals.append((2 * mx * my + c1) * (2 * vxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    assert structural.ssim_skimage019(x, y) == pytest.approx(np.mean(vals), rel=1e-10)
    assert structural.ssim_skimage019(x.astype(np.float32), y.astype(np.float32)) == pytest.approx(
        np.mean(vals), rel=1e-5
    )


def test_ms_ssim_of_an_image_with_itself_is_one_and_needs_161_pixels(grey):
    ir, vi, f = grey
    assert structural.ms_ssim(vi, vi, vi) == pytest.approx(1.0, abs=1e-12)
    assert 0 < structural.ms_ssim(ir, vi, f) < 1
    with pytest.raises(MetricSizeError, match="161x161"):
        structural.ms_ssim_pair(vi[:160, :160], vi[:160, :160])


def test_separable_window_equals_matlab_fspecial():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (60, 70)).astype(np.float64)
    for n in (3, 5, 9, 11, 17):
        sigma = 1.5 if n == 11 else n / 5
        m = (n - 1) / 2
        yy, xx = np.ogrid[-m : m + 1, -m : m + 1]
        h = np.exp(-(xx * xx + yy * yy) / (2 * sigma * sigma))
        h[h < np.finfo(float).eps * h.max()] = 0
        h /= h.sum()
        np.testing.assert_allclose(correlate_valid(x, gaussian_1d(n, sigma)), convolve2d(x, h, "valid"), rtol=1e-13)


# --- gradient ------------------------------------------------------------------------------------------------

# Qabf's reference constants cap Q at Γg/(1+e^{-15(G-0.5)}) · Γα/(1+e^{-22(1-0.8)}) < 1: for F = A = B the
# tie rule gives G = g_F (≥ 1 on integer images) and A = 1, so Qabf is just below Γg·Γα/(1+e^{-4.4}) ≈ 0.9759,
# not 1.
QA_MAX = 0.9879 / (1 + math.exp(-22 * 0.2))


def test_qabf_of_identical_images_is_the_attainable_maximum(grey):
    _, vi, _ = grey
    for dtype in (np.float32, np.float64):
        q = gradient.qabf(vi, vi, vi, dtype=dtype)
        assert 0.9988 * QA_MAX <= q <= 0.9994 * QA_MAX + 1e-6
    assert VIF.compute("Qabf", vi, vi, vi) == pytest.approx(0.9994 * QA_MAX, rel=1e-6)  # ×255: G = 255·g_F


def test_qabf_is_symmetric_and_lower_for_a_worse_fusion(grey):
    ir, vi, f = grey
    q = gradient.qabf(ir, vi, f, dtype=np.float32)
    assert gradient.qabf(vi, ir, f, dtype=np.float32) == q
    assert gradient.qabf(ir, vi, np.full_like(f, 128), dtype=np.float32) < 0.05
    assert gradient.qabf(ir, vi, f[::-1].copy(), dtype=np.float32) < q


def test_nabf_is_zero_without_artefacts_and_positive_with_them(grey):
    ir, vi, f = grey
    assert gradient.nabf(vi, vi, vi) == 0.0
    noisy = f + np.random.default_rng(1).normal(0, 20, f.shape)
    assert 0 < gradient.nabf(ir, vi, f) < gradient.nabf(ir, vi, noisy) <= 1


# --- VIF -----------------------------------------------------------------------------------------------------


def test_vifp_of_an_image_with_itself_is_one_per_source(grey):
    ir, vi, f = grey
    assert vif.vifp_pair(vi, vi) == pytest.approx(1.0, abs=1e-9)
    assert CDD.compute("VIF", f, f, f) == pytest.approx(2.0, abs=1e-9)
    assert 0 < vif.vifp_pair(vi, f) < 1


def test_vifp_matches_a_direct_convolve2d_implementation(grey):
    ir, vi, f = grey
    ref = 0.0
    for src in (ir, vi):
        r, d = src.astype(np.float64), f.astype(np.float64)
        num = den = 0.0
        for scale in range(1, 5):
            n = 2 ** (5 - scale) + 1
            m = (n - 1) / 2
            yy, xx = np.ogrid[-m : m + 1, -m : m + 1]
            w = np.exp(-(xx * xx + yy * yy) / (2 * (n / 5) ** 2))
            w /= w.sum()
            if scale > 1:
                r, d = convolve2d(r, w, "valid")[::2, ::2], convolve2d(d, w, "valid")[::2, ::2]
            mu1, mu2 = convolve2d(r, w, "valid"), convolve2d(d, w, "valid")
            s1 = np.maximum(convolve2d(r * r, w, "valid") - mu1**2, 0)
            s2 = np.maximum(convolve2d(d * d, w, "valid") - mu2**2, 0)
            s12 = convolve2d(r * d, w, "valid") - mu1 * mu2
            g = s12 / (s1 + 1e-10)
            sv = s2 - g * s12
            g[s1 < 1e-10], sv[s1 < 1e-10] = 0, s2[s1 < 1e-10]
            s1[s1 < 1e-10] = 0
            g[s2 < 1e-10], sv[s2 < 1e-10] = 0, 0
            sv[g < 0] = s2[g < 0]
            g[g < 0] = 0
            sv[sv <= 1e-10] = 1e-10
            num += np.sum(np.log10(1 + g * g * s1 / (sv + 2)))
            den += np.sum(np.log10(1 + s1 / 2))
        ref += num / den
    assert vif.vifp(ir, vi, f) == pytest.approx(ref, rel=1e-12)


def test_viff_of_identical_images_is_one_and_lower_otherwise(grey):
    ir, vi, f = grey
    assert vif.viff(vi, vi, vi) == pytest.approx(1.0, abs=1e-9)
    assert 0 < vif.viff(ir, vi, f) < 1


def test_vif_needs_41_pixels_a_side(grey):
    ir, vi, f = grey
    assert CDD.compute("VIF", ir[:41, :41], vi[:41, :41], f[:41, :41]) > 0
    with pytest.raises(MetricSizeError, match="VIF needs at least 41x41 pixels, got 41x40"):
        CDD.compute("VIF", ir[:40, :41], vi[:40, :41], f[:40, :41])
    with pytest.raises(MetricSizeError):
        vif.vifp(ir[:40, :40], vi[:40, :40], f[:40, :40])


# --- Qcb / Qcv -----------------------------------------------------------------------------------------------


def test_qcb_is_one_and_qcv_zero_for_identical_images(colour):
    ir, vi, _ = colour
    v = vi[..., 1].astype(np.float64)
    assert perceptual.qcb(v, v, v) == pytest.approx(1.0, abs=1e-12)
    assert perceptual.qcv(v, v, v) == 0.0


def test_qcb_qcv_normalise_each_image_to_0_255(colour):
    ir, vi, f = colour
    a, b, c = (x.astype(np.float64) for x in (ir, vi[..., 0], f[..., 0]))
    assert perceptual.qcb(a, b, c) == pytest.approx(perceptual.qcb(2 * a + 10, b, c * 2), rel=1e-12)
    assert perceptual.qcv(a, b, c) == pytest.approx(perceptual.qcv(a, 4 * b, c), rel=1e-12)


# --- reading, float32 order, profiles -------------------------------------------------------------------------


def test_cddfuse_grey_reading_equals_opencv_float32_path():
    for path in (VIFB / "vi/labMan.jpg", VIFB / "ir/running.jpg", VIFB / "fused/CBF/kettle.jpg"):
        bgr = cv2.imread(str(path)).astype("float32")
        expect = np.round(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
        got = read_cddfuse(path)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, expect)
    assert grey_cddfuse(np.full((2, 2), 200, np.uint16) * 256).max() == 200  # 16-bit: high byte


def test_float32_reductions_follow_numpy_121_block_order():
    rng = np.random.default_rng(3)
    x = rng.random(20000).astype(np.float32) * 255
    expect = np.float32(0)
    for i in range(0, x.size, 8192):
        expect = np.float32(expect + np.sum(x[i : i + 8192]))
    assert sum32(x) == expect
    small = x[:5000]
    assert sum32(small) == np.sum(small) and mean32(small) == np.mean(small) and std32(small) == np.std(small)
    assert sum32(x.astype(np.float64)) == np.sum(x.astype(np.float64))


def test_profiles_resolve_names_and_reject_unknown_ones():
    assert get_convention("CDDFuse") is CDD
    assert CDD.resolve(["en", "vif", "ms-ssim"]) == ["EN", "VIF", "MS-SSIM"]
    assert VIF.resolve(None)[-2:] == ["Qcb", "Qcv"]
    with pytest.raises(ValueError, match="SCD"):
        VIF.resolve(["SCD"])
    with pytest.raises(ValueError, match="unknown convention"):
        get_convention("matlab")
    for conv in CONVENTIONS.values():
        assert {"Nabf", "MS-SSIM", "VIFF"} <= set(conv.metrics)


def test_profiles_reject_mismatched_sizes(grey):
    ir, vi, f = grey
    with pytest.raises(MetricShapeError, match="ir is 220x180 but fused is 199x180"):
        CDD.compute("EN", ir, vi[:, :199], f[:, :199])


def test_vifb_profile_averages_per_rgb_channel(colour):
    ir, vi, f = colour
    per_channel = [information.entropy_vifb(f[..., k]) for k in range(3)]
    assert VIF.compute("EN", ir, vi, f) == pytest.approx(np.mean(per_channel))
    grey_f = cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)
    assert VIF.compute("EN", ir, vi, f) != pytest.approx(information.entropy_vifb(grey_f), rel=1e-4)
    # a 3-channel copy of a grey IR gives the same values as the grey IR itself
    ir3 = np.repeat(ir[..., None], 3, axis=2)
    for name in ("MI", "Qabf", "SSIM", "Qcb", "Qcv", "CE", "PSNR"):
        assert VIF.compute(name, ir3, vi, f) == pytest.approx(VIF.compute(name, ir, vi, f), rel=1e-12), name


def test_extras_run_in_both_profiles(grey, colour):
    for conv, (ir, vi, f) in ((CDD, grey), (VIF, colour)):
        if conv is VIF:
            f = cv2.resize(f, (200, 170))
            vi = cv2.resize(vi, (200, 170))
            ir = cv2.resize(ir, (200, 170))
        vals = conv.evaluate(ir, vi, f, ["Nabf", "MS-SSIM", "VIFF"])
        assert 0 < vals["Nabf"] < 0.5 and 0 < vals["MS-SSIM"] < 1 and 0 < vals["VIFF"] < 1
