r"""``sage-rt``: a SAGE student designed for real-time fusion on a CPU (issue 23).

SAGE's released student (:class:`~samfuse.models.sage.student.SageStudentNet`) spends almost all of its ~20 GMAC
per 640×480 frame in 32-channel 3×3 convolutions at full resolution. Fusion weights, however, vary slowly over the
image (which source to trust, how bright to make a region), while the fine detail is already present in the two
sources. ``sage-rt`` therefore **decides at 1/4 resolution and renders at full resolution** (the local affine
model of the guided filter, He et al. TPAMI 2013, used as learned guided upsampling as in HDRNet, Gharbi et al.
SIGGRAPH 2017, and the fast guided filter, Wu et al. CVPR 2018).

Notation: :math:`Y` the visible luminance and :math:`I` the infrared image, (B, 1, H, W) in [0, 1], first
replicate-padded at the bottom and right to a multiple of :math:`4s` (the output is cropped back to H×W);
:math:`s` the scale (4); :math:`P_s` the :math:`s\times s` mean pooling; :math:`U_s` bilinear upsampling by
:math:`s` with half-pixel centres, so the centre of pooled cell :math:`i` lands on the centre of the pixels
:math:`si \dots si + s - 1` it was pooled from; :math:`B_3` the 3×3 mean (border: mean of the valid pixels).

**Full resolution, detail** (a few element-wise operations per pixel, no convolution with learned weights):

.. math::
    h_Y = Y - B_3 Y,\qquad h_I = I - B_3 I,\qquad
    m = \begin{cases} h_Y & |h_Y| \ge |h_I| \\ h_I & \text{otherwise} \end{cases}

:math:`m` is the max-abs high-pass of the two sources: at every pixel the finer detail of whichever source has
more of it, the pixel-level counterpart of SAGE's max-gradient target :math:`\max(|\nabla Y|, |\nabla I|)`.

**Low resolution, decision** (the only learned part, all at :math:`H/s` and below):

.. math::
    x_0 = [P_s Y,\ P_s I,\ P_s |h_Y|,\ P_s |h_I|] \in \mathbb{R}^{4 \times H/s \times W/s},\qquad
    (a, b, c, g) = \mathcal{N}(x_0)

:math:`\mathcal{N}` is a small three-level U-Net at :math:`H/s, H/2s, H/4s` (widths 16, 32, 64) built from
depthwise-separable blocks (depthwise 3×3, pointwise 1×1, LeakyReLU 0.1): a dense 3×3 stem, a stride-2 block
down to each coarser level followed by 1 and 2 blocks, a global-context vector added at the coarsest level (mean
over the image, 1×1 conv), additive skips on the way up (1×1 projection, nearest ×2, then one block), and a 1×1
head with four outputs. :math:`P_s|h|` tell it where each source has texture finer than :math:`s` pixels, which
the pooled images no longer show.

**Full resolution, rendering** (guided upsampling of the per-pixel coefficients):

.. math::
    F = U_s(a) \odot Y + U_s(b) \odot I + U_s(c) + U_s(g) \odot m

:math:`a, b` are per-pixel fusion weights (not constrained to sum to 1, so a region can be brightened or its
contrast stretched), :math:`c` an offset and :math:`g` the gain of the max-abs detail. Because :math:`a, b` are
smooth and multiply the full-resolution sources, every edge of :math:`Y` and :math:`I` reaches the output
sharp; only *which* source dominates changes over an :math:`s`-pixel band. The head starts at
:math:`a = b = 1/2,\ c = g = 0` (the average of the sources) with small random weights.

Cost per 640×480 frame (:func:`conv_macs`): 0.055 GMAC in convolutions (SAGE's student: 20.0 GMAC, 365× more),
plus about 20 element-wise, pooling and resize passes over 1-channel full-resolution maps, which take about
60 % of the time in onnxruntime (docs/sage_rt.md has the measured breakdown). Any H×W ≥ 1×1 works.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["RTConfig", "SageRTNet", "conv_macs", "CONFIG_KEY"]

#: Safetensors metadata key holding the :class:`RTConfig` (JSON) of a weights file.
CONFIG_KEY = "sage_rt_config"


@dataclass(frozen=True)
class RTConfig:
    """Architecture of :class:`SageRTNet` (stored in every weights file, so the builder rebuilds the same net)."""

    #: decision resolution: coefficients are predicted at H/scale
    scale: int = 4
    #: channels at H/scale, H/(2 scale), H/(4 scale)
    widths: tuple[int, int, int] = (16, 32, 64)
    #: depthwise-separable blocks at the middle and the coarsest level
    blocks: tuple[int, int] = (1, 2)

    def __post_init__(self) -> None:
        if self.scale < 1:
            raise ValueError(f"scale must be >= 1, not {self.scale}")
        if len(self.widths) != 3 or min(self.widths) < 1 or len(self.blocks) != 2 or min(self.blocks) < 0:
            raise ValueError(f"bad widths {self.widths} or blocks {self.blocks}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RTConfig:
        d = json.loads(text)
        return cls(scale=int(d["scale"]), widths=tuple(d["widths"]), blocks=tuple(d["blocks"]))  # type: ignore[arg-type]


#: LeakyReLU slope of every activation.
SLOPE = 0.1


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """3×3 convolution (padding 1) → LeakyReLU."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(SLOPE))


def _sep(cin: int, cout: int | None = None, stride: int = 1) -> nn.Sequential:
    """Depthwise 3×3 (stride ``stride``) → pointwise 1×1 (cin → cout, default cin) → LeakyReLU."""
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride, 1, groups=cin), nn.Conv2d(cin, cout or cin, 1), nn.LeakyReLU(SLOPE)
    )


def _up2(x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour ×2 (a depthwise 3×3 follows; onnxruntime runs nearest about 3× faster than bilinear,
    which made bilinear here 10 % of a frame)."""
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


def highpass(x: torch.Tensor) -> torch.Tensor:
    """``x − B₃x``: minus the 3×3 mean over the valid pixels (no border darkening or brightening)."""
    return x - F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)


def max_abs(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Per pixel, whichever of ``u`` and ``v`` has the larger magnitude (``u`` on ties)."""
    return torch.where(u.abs() >= v.abs(), u, v)


class SageRTNet(nn.Module):
    """The ``sage-rt`` network (see the module docstring). ``forward(y, ir)`` → fused luminance (B,1,H,W), not
    clamped; :meth:`coefficients` gives the low-resolution ``(a, b, c, g)``. Training and inference form are the
    same (no BatchNorm)."""

    def __init__(self, config: RTConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or RTConfig()
        c1, c2, c3 = config.widths
        n2, n3 = config.blocks
        self.stem = _conv(4, c1)
        self.down2 = nn.Sequential(_sep(c1, c2, 2), *[_sep(c2) for _ in range(n2)])
        self.down3 = nn.Sequential(_sep(c2, c3, 2), *[_sep(c3) for _ in range(n3)])
        self.context = nn.Conv2d(c3, c3, 1)
        self.skip3 = nn.Conv2d(c3, c2, 1)
        self.up2 = _sep(c2)
        self.skip2 = nn.Conv2d(c2, c1, 1)
        self.up1 = _sep(c1)
        self.head = nn.Conv2d(c1, 4, 1)
        with torch.no_grad():  # start at the average of the sources: a = b = 1/2, c = g = 0
            self.head.weight.mul_(0.1)
            self.head.bias.copy_(torch.tensor([0.5, 0.5, 0.0, 0.0]))

    @property
    def multiple(self) -> int:
        """Height and width are padded to a multiple of this (4 s: the three levels then divide exactly)."""
        return 4 * self.config.scale

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` replicate-padded at the bottom and right to :attr:`multiple` (as is when it already fits, except
        while tracing for export, where the padding must stay in the graph for other sizes)."""
        h, w = x.shape[-2:]
        m = self.multiple
        pads = (0, (m - w % m) % m, 0, (m - h % m) % m)
        if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or any(int(p) for p in pads):
            return F.pad(x, pads, mode="replicate")
        return x

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """``P_s``: s×s mean (the input is padded to a multiple of s)."""
        s = self.config.scale
        return F.avg_pool2d(x, s, s) if s > 1 else x

    def coefficients(self, x0: torch.Tensor) -> torch.Tensor:
        """``(a, b, c, g)`` (B,4,H/s,W/s) from the pooled features ``x0`` (B,4,H/s,W/s), H and W padded."""
        e1 = self.stem(x0)
        e2 = self.down2(e1)
        e3 = self.down3(e2)
        e3 = e3 + self.context(e3.mean(dim=(2, 3), keepdim=True))
        d2 = self.up2(e2 + _up2(self.skip3(e3)))
        d1 = self.up1(e1 + _up2(self.skip2(d2)))
        return self.head(d1)

    def upsample(self, k: torch.Tensor) -> torch.Tensor:
        """``U_s``: bilinear ×s with half-pixel centres, so the centre of cell i lands on the centre of the s×s
        block of pixels that :meth:`pool` averaged into it."""
        s = self.config.scale
        return F.interpolate(k, scale_factor=float(s), mode="bilinear", align_corners=False) if s > 1 else k

    def inputs(self, y: torch.Tensor, ir: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``(Y, I, m, x0)``: the padded sources, their max-abs detail ``m`` (full resolution) and the pooled
        features ``x0`` (B,4,H/s,W/s) that :meth:`coefficients` reads."""
        y, ir = self.pad(y), self.pad(ir)
        h_y, h_i = highpass(y), highpass(ir)
        a_y, a_i = h_y.abs(), h_i.abs()
        # max_abs(h_y, h_i), reusing the magnitudes, as a product with the 0/1 mask rather than torch.where: the
        # same values (x·1 + y·0 = x), but onnxruntime's Where kernel took 1.8 of the network's 6.3 ms on a 640×480
        # frame (benchmarks/results/sage_rt_ort_profile_where.md; docs/sage_rt.md)
        pick = (a_y >= a_i).to(h_y.dtype)
        m = h_y * pick + h_i * (1.0 - pick)
        x0 = torch.cat([self.pool(y), self.pool(ir), self.pool(a_y), self.pool(a_i)], dim=1)
        return y, ir, m, x0

    def forward(self, y: torch.Tensor, ir: torch.Tensor) -> torch.Tensor:
        h, w = y.shape[-2:]
        y, ir, m, x0 = self.inputs(y, ir)
        k = self.coefficients(x0)
        # one resize per coefficient: slicing the 4 channels at low resolution is cheaper than at full resolution
        a, b, c, g = (self.upsample(k[:, i : i + 1]) for i in range(4))
        return (a * y + b * ir + c + g * m)[..., :h, :w]


def conv_macs(net: nn.Module, height: int = 480, width: int = 640) -> int:
    """Multiply-accumulates of every ``Conv2d`` of ``net`` for one ``height``×``width`` frame (element-wise, pooling
    and resize operations not counted)."""
    total = 0

    def hook(mod: nn.Module, _inp: object, out: torch.Tensor) -> None:
        nonlocal total
        assert isinstance(mod, nn.Conv2d)
        kh, kw = mod.kernel_size
        total += out.numel() * (mod.in_channels // mod.groups) * kh * kw

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            x = torch.rand(1, 1, height, width)
            net(x, x)
    finally:
        for h in handles:
            h.remove()
    return total
