"""Metric conventions: how a toolkit reads the files, which metric functions it uses, with which parameters.

``CONVENTIONS["vifb"]`` reproduces the VIFB MATLAB toolbox, ``CONVENTIONS["cddfuse"]`` the evaluator shipped
with CDDFuse (also used by DDFM and EMMA). Every metric of a convention is a function ``(ir, vi, fused) -> float``
of the arrays as that convention's reader returns them. See ``docs/metrics.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from samfuse.metrics import gradient, information, perceptual, similarity, statistics, structural, vif
from samfuse.metrics.errors import MetricShapeError, MetricSizeError
from samfuse.metrics.reading import read_cddfuse, read_vifb

MetricFn = Callable[[np.ndarray, np.ndarray, np.ndarray], float]


@dataclass(frozen=True)
class Metric:
    """One metric of a convention: ``fn(ir, vi, fused)``, the smallest side it accepts, its direction, a doc line."""

    name: str
    fn: MetricFn
    min_side: int = 2
    higher_is_better: bool = True
    doc: str = ""
    #: a colour metric: ``fn(vi_rgb, fused_rgb)`` on the stored files in 0..255 (RGB kept), whatever the
    #: convention's grey reader (see :func:`read_colour`)
    colour: bool = False


def read_colour(path: str | Path) -> np.ndarray:
    """An image as stored, RGB (or grey) float64 in 0..255 (16-bit files scaled by 255/65535)."""
    from samfuse.io import read_raw

    raw = read_raw(path)
    return raw.astype(np.float64) * (255.0 / 65535.0 if raw.dtype == np.uint16 else 1.0)


#: Colour fidelity (``samfuse.metrics.colour``), in every convention, not in the default sets.
def _colour_metrics() -> dict[str, Metric]:
    from samfuse.metrics.colour import colour_fidelity

    doc = "colour fidelity: mean |ΔCb|+|ΔCr| of fused vs visible, BT.601, 8-bit units (samfuse; not in the toolkit)"
    return {"CF": Metric("CF", lambda vi, f: colour_fidelity(vi, f), 1, False, doc, colour=True)}


@dataclass(frozen=True)
class Convention:
    """A named convention: a reader (path → array), its metrics, and the default selection (the CSV columns)."""

    name: str
    read: Callable[[str | Path], np.ndarray]
    metrics: dict[str, Metric]
    default: tuple[str, ...]
    doc: str = ""
    _lookup: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._lookup.update({k.lower(): k for k in self.metrics})

    def resolve(self, names: Sequence[str] | None) -> list[str]:
        """Canonical metric names for user input (case-insensitive); ValueError naming the unknown ones."""
        if names is None:
            return list(self.default)
        out, unknown = [], []
        for n in names:
            key = self._lookup.get(n.strip().lower())
            (out if key else unknown).append(key or n)
        if unknown:
            raise ValueError(
                f"unknown metric(s) for convention {self.name!r}: {', '.join(unknown)} "
                f"(available: {', '.join(self.metrics)})"
            )
        return out

    def compute(self, name: str, ir: np.ndarray, vi: np.ndarray, fused: np.ndarray) -> float:
        """One metric on arrays as read by this convention (a :attr:`Metric.colour` metric: on the colour arrays of
        :func:`read_colour`, ``ir`` unused); MetricSizeError/MetricShapeError on unusable input."""
        m = self.metrics[name]
        for label, img in (("ir", ir), ("vi", vi), ("fused", fused)):
            if img.shape[:2] != fused.shape[:2]:
                raise MetricShapeError(
                    f"{label} is {img.shape[1]}x{img.shape[0]} but fused is {fused.shape[1]}x{fused.shape[0]}"
                )
        h, w = fused.shape[:2]
        if h < m.min_side or w < m.min_side:
            raise MetricSizeError(f"{name} needs at least {m.min_side}x{m.min_side} pixels, got {w}x{h}")
        if m.colour:
            return float(m.fn(vi, fused))  # type: ignore[call-arg]
        return float(m.fn(ir, vi, fused))

    def evaluate(
        self, ir: np.ndarray, vi: np.ndarray, fused: np.ndarray, metrics: Sequence[str] | None = None
    ) -> dict[str, float]:
        """All selected metrics (default: :attr:`default`) as {name: value}; raises on the first failure."""
        return {n: self.compute(n, ir, vi, fused) for n in self.resolve(metrics)}

    def evaluate_files(
        self, ir: str | Path, vi: str | Path, fused: str | Path, metrics: Sequence[str] | None = None
    ) -> dict[str, float]:
        """Read three files with this convention's reader, then :meth:`evaluate` (colour metrics on colour files)."""
        names = self.resolve(metrics)
        grey = [n for n in names if not self.metrics[n].colour]
        out = self.evaluate(self.read(ir), self.read(vi), self.read(fused), grey) if grey else {}
        for n in names:
            if self.metrics[n].colour:
                out[n] = self.compute(n, read_colour(ir), read_colour(vi), read_colour(fused))
        return {n: out[n] for n in names}


# --- VIFB ---------------------------------------------------------------------------------------------------

_MATLAB_GREY = (0.298936021293775, 0.587043074451121, 0.114020904255103)


def _matlab_rgb2gray(x: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2gray`` (rounded back to integers for integer input)."""
    y = x[..., 0] * _MATLAB_GREY[0] + x[..., 1] * _MATLAB_GREY[1] + x[..., 2] * _MATLAB_GREY[2]
    return np.floor(y + 0.5) if np.issubdtype(x.dtype, np.integer) else y


def vifb_channels(core: Callable[..., float], cached: bool = False) -> MetricFn:
    """VIFB's channel wrapper around ``core(vi_k, ir, fused_k)`` (all float64, 2-D): the mean over channels.

    Fused with b channels: core on (VI(:,:,k), IR or IR(:,:,k), F(:,:,k)), k = 1..b, then the mean. A grey
    fused image gets the whole images, colour sources first reduced by ``rgb2gray`` as the cores do.
    (A grey VI with a colour fused image, which VIFB cannot take, is used for every channel like a grey IR.)
    With ``cached=True`` the core gets a ``cache`` dict, so work on the grey IR (the same array object for
    every channel) is done once.
    """

    def metric(ir: np.ndarray, vi: np.ndarray, fused: np.ndarray) -> float:
        kw: dict = {"cache": {}} if cached else {}
        if fused.ndim == 2:
            f = np.asarray(fused, dtype=np.float64)
            v = _matlab_rgb2gray(vi) if vi.ndim == 3 else vi
            i = _matlab_rgb2gray(ir) if ir.ndim == 3 else ir
            return core(np.asarray(v, np.float64), np.asarray(i, np.float64), f, **kw)
        if ir.ndim == 3 and all(np.array_equal(ir[..., 0], ir[..., k]) for k in range(1, ir.shape[2])):
            ir = ir[..., 0]  # grey IR stored in 3 equal channels: every IR(:,:,k) is this one array
        grey_ir = np.asarray(ir, np.float64) if ir.ndim == 2 else None
        vals = []
        # One channel at a time in float64 (a 6000x4000 channel is 192 MB): memory stays bounded for large images.
        for k in range(fused.shape[2]):
            v = np.asarray(vi[..., k] if vi.ndim == 3 else vi, np.float64)
            i = grey_ir if grey_ir is not None else np.asarray(ir[..., k], np.float64)
            vals.append(core(v, i, np.asarray(fused[..., k], np.float64), **kw))
            if cached:  # keep only the work on the shared grey IR; the other entries are this channel's
                cache = kw["cache"]
                for key in [key for key, (x, _) in cache.items() if x is not grey_ir]:
                    del cache[key]
            del v, i
        return float(np.mean(vals))

    metric.__doc__ = f"VIFB per-channel mean of: {core.__doc__ or core.__name__}"
    return metric


def _ssim_vifb(v: np.ndarray, i: np.ndarray, f: np.ndarray, cache: dict) -> float:
    """VIFB's SSIM core: SSIM(VI_k, F_k) + SSIM(IR, F_k). The visible channel's moments are dropped from ``cache``
    at once (only F_k's and the shared IR's are used again), which keeps a large image's memory bounded."""
    first = structural.ssim_gaussian(v, f, cache=cache)
    for key in [key for key, (x, _) in cache.items() if x is v]:
        del cache[key]
    return first + structural.ssim_gaussian(i, f, cache=cache)


def _per_channel_fused(single: Callable[[np.ndarray], float]) -> MetricFn:
    return vifb_channels(lambda v, i, f: single(f))


_VIFB_DOCS = {
    "EN": "entropy of floor(F_k), 256 bins, bits; mean over RGB",
    "SD": "population standard deviation of F_k; mean over RGB",
    "SF": "spatial frequency of the channels side by side (seams included), / pixel count",
    "AG": "average gradient, sum over H·W divided by (H-1)(W-1); mean over RGB",
    "MI": "MI(VI_k,F_k) + MI(IR,F_k), min-max stretched, 256 bins, nats; mean over RGB",
    "Qabf": "Xydeas-Petrovic edge preservation (tie quirk), float64; mean over RGB",
    "SSIM": "SSIM(VI_k,F_k) + SSIM(IR,F_k), 11x11 Gaussian, L=255, 'valid' (range <= 2); mean over RGB",
    "PSNR": "20 log10(255/sqrt(MES)) with VIFB's sqrt(sum d^2)/(H·W) 'mse', dB; mean over RGB",
    "RMSE": "(m(VI_k,F_k) + m(IR,F_k))/2 with VIFB's sqrt(sum d^2)/(H·W) 'mse'; mean over RGB",
    "CE": "(D(VI_k‖F_k) + D(IR‖F_k))/2 over bins non-zero in both, bits; mean over RGB",
    "EI": "edge intensity: mean Sobel magnitude (replicate borders) over pixels and channels",
    "Qcb": "Chen-Blum human-perception metric (Liu's metricChenBlum.m); mean over RGB",
    "Qcv": "Chen-Varshney regional CSF-weighted distortion (Liu's metricChen.m); mean over RGB",
    "Nabf": "Kumar's modified fusion-artefact measure; mean over RGB",
    "MS-SSIM": "Wang's 5-scale MS-SSIM, mean over the two sources; mean over RGB",
    "VIFF": "Han et al.'s fusion VIF; mean over RGB",
}


def _vifb_convention() -> Convention:
    m: dict[str, Metric] = {}
    docs = _VIFB_DOCS

    def add(name: str, fn: MetricFn, min_side: int = 2, higher: bool = True) -> None:
        m[name] = Metric(name, fn, min_side, higher, docs[name])

    add("EN", _per_channel_fused(information.entropy_vifb), 1)
    add("SD", _per_channel_fused(statistics.sd_vifb), 1)
    add("SF", lambda ir, vi, f: statistics.sf_vifb(f))
    add("AG", _per_channel_fused(statistics.ag_vifb))
    add(
        "MI",
        vifb_channels(
            lambda v, i, f, cache: information.mi_vifb(v, f, cache=cache) + information.mi_vifb(i, f, cache=cache),
            cached=True,
        ),
        1,
    )
    add(
        "Qabf",
        vifb_channels(lambda v, i, f, cache: gradient.qabf(v, i, f, scale=255.0, cache=cache), cached=True),
        1,
    )
    add(
        "SSIM",
        vifb_channels(
            _ssim_vifb,
            cached=True,
        ),
        11,
    )
    add("PSNR", vifb_channels(similarity.psnr_vifb), 1)
    add("RMSE", vifb_channels(similarity.rmse_vifb), 1, higher=False)
    add(
        "CE",
        vifb_channels(
            lambda v, i, f: (information.cross_entropy_vifb(v, f) + information.cross_entropy_vifb(i, f)) / 2
        ),
        1,
        higher=False,
    )
    add("EI", lambda ir, vi, f: statistics.ei_vifb(f), 1)
    add("Qcb", vifb_channels(lambda v, i, f, cache: perceptual.qcb(i, v, f, cache=cache), cached=True))
    add("Qcv", vifb_channels(lambda v, i, f, cache: perceptual.qcv(i, v, f, cache=cache), cached=True), higher=False)
    # extras, per channel like the rest
    add("Nabf", vifb_channels(lambda v, i, f: gradient.nabf(i, v, f)), 2, higher=False)
    add("MS-SSIM", vifb_channels(lambda v, i, f: structural.ms_ssim(i, v, f)), 161)
    add("VIFF", vifb_channels(lambda v, i, f: vif.viff(i, v, f)), vif.VIF_MIN_SIDE)
    default = ("EN", "SD", "SF", "AG", "MI", "Qabf", "SSIM", "PSNR", "RMSE", "CE", "EI", "Qcb", "Qcv")
    m.update(_colour_metrics())
    return Convention("vifb", read_vifb, m, default, "VIFB MATLAB toolbox: per RGB channel, averaged, float64.")


# --- CDDFuse ------------------------------------------------------------------------------------------------


_CDDFUSE_DOCS = {
    "EN": "entropy of uint8(round(F)), bits",
    "SD": "np.std(F), float32",
    "SF": "sqrt(mean dx^2 + mean dy^2), float32",
    "AG": "mean sqrt((Gx^2+Gy^2)/2), np.gradient, float32",
    "MI": "MI(F,IR) + MI(F,VI) of the raw grey levels, nats",
    "SCD": "r(IR, F-VI) + r(VI, F-IR), float32",
    "VIF": "VIFp(IR,F) + VIFp(VI,F), Sheikh-Bovik multi-scale pixel VIF (a sum)",
    "Qabf": "Xydeas-Petrovic edge preservation (tie quirk), float32",
    "SSIM": "SSIM(F,IR) + SSIM(F,VI) as scikit-image 0.19 (data_range 2, 7x7 uniform; a sum)",
    "MSE": "(mean (IR-F)^2 + mean (VI-F)^2)/2, float32",
    "CC": "(r(IR,F) + r(VI,F))/2, float32",
    "PSNR": "10 log10(max(F)^2/MSE), dB",
    "Nabf": "Kumar's modified fusion-artefact measure",
    "MS-SSIM": "Wang's 5-scale MS-SSIM, mean over the two sources",
    "VIFF": "Han et al.'s fusion VIF",
}


def _cddfuse_convention() -> Convention:
    m: dict[str, Metric] = {}
    docs = _CDDFUSE_DOCS

    def add(name: str, fn: MetricFn, min_side: int = 2, higher: bool = True) -> None:
        m[name] = Metric(name, fn, min_side, higher, docs[name])

    add("EN", lambda ir, vi, f: information.entropy_cddfuse(f), 1)
    add("SD", lambda ir, vi, f: statistics.sd_cddfuse(f), 1)
    add("SF", lambda ir, vi, f: statistics.sf_cddfuse(f))
    add("AG", lambda ir, vi, f: statistics.ag_cddfuse(f))
    add("MI", lambda ir, vi, f: information.mi_cddfuse(f, ir) + information.mi_cddfuse(f, vi), 1)
    add("SCD", similarity.scd, 1)
    add("VIF", vif.vifp, vif.VIF_MIN_SIDE)
    add("Qabf", lambda ir, vi, f: gradient.qabf(ir, vi, f, dtype=np.float32), 1)
    add(
        "SSIM",
        lambda ir, vi, f: sum(structural.ssim_skimage019_multi(f, [ir, vi])),
        7,
    )
    add("MSE", similarity.mse_cddfuse, 1, higher=False)
    add("CC", similarity.cc_cddfuse, 1)
    add("PSNR", similarity.psnr_cddfuse, 1)
    add("Nabf", gradient.nabf, 2, higher=False)
    add("MS-SSIM", structural.ms_ssim, 161)
    add("VIFF", vif.viff, vif.VIF_MIN_SIDE)
    default = ("EN", "SD", "SF", "AG", "MI", "SCD", "VIF", "Qabf", "SSIM", "MSE", "CC", "PSNR")
    m.update(_colour_metrics())
    return Convention(
        "cddfuse", read_cddfuse, m, default, "CDDFuse evaluator: float32 BT.601 grey, float32 arithmetic where it is."
    )


CONVENTIONS: dict[str, Convention] = {"vifb": _vifb_convention(), "cddfuse": _cddfuse_convention()}
