"""SeAFusion (Tang, Yuan and Ma, Information Fusion 82, 2022): the real-time fusion network, written from the
description of ``FusionNet.py`` in the authors' repository ``Linfeng-Tang/SeAFusion`` (read at commit 5fd9c52; the
copy ``SeAFusion/FusionNet.py`` in ``Linfeng-Tang/VIF-Benchmark`` was not readable here). Module names follow the
keys of VIF-Benchmark's ``Checkpoint/SeAFusion/SeAFusion.pth`` (shipped as ``seafusion.authors``), which loads
strictly; that the two agree is tested against VIFB's published SeAFusion outputs.

Structure (all convolutions stride 1 with "same" zero padding, so any H×W goes in and comes out unchanged):

* two encoders, one on the visible luminance Y (``vis_*``) and one on the IR (``inf_*``), each
  ``Conv3×3 1→16 → LReLU(0.2)``, then two gradient residual dense blocks (RGBD) 16→32 and 32→48;
* RGBD(c → o): a dense path ``x ⊕ a ⊕ b`` with ``a = LReLU0.2(Conv3×3 c→c (x))`` and
  ``b = LReLU0.2(Conv3×3 2c→c (x ⊕ a))`` (⊕ = channel concatenation), reduced by ``Conv1×1 3c→o``; a gradient
  path ``Conv1×1 c→o (|Sx| + |Sy|)`` with ``Sx``/``Sy`` depthwise 3×3 convolutions without bias (initialised to the
  Sobel kernels and **trained**: the released values differ from Sobel by up to 0.18); output ``LReLU0.1(sum)``;
* decoder on ``vis ⊕ inf`` (96 channels): ``Conv3×3`` 96→64 → 64→32 → 32→16 each with LReLU(0.2), then
  ``Conv3×3 16→1`` and ``tanh(·)/2 + 1/2``, so the output lies in (0, 1).

The decoder layers own a BatchNorm2d that the authors' forward never calls. It is kept (unused) so the checkpoint
loads strictly; the released file holds it at its initial state (weight 1, bias 0, mean 0, var 1, 0 batches
tracked), which confirms that it never took part in training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from samfuse.io.checkpoint import check_state_dict, load_state_dict
from samfuse.io.digest import file_sha256
from samfuse.models.base import FusionMethod
from samfuse.models.pretrained import default_file

#: Encoder widths of the released network (visible and infrared alike).
WIDTHS = (16, 32, 48)
#: Parameters (``nn.Parameter`` values, the unused BatchNorm affine parameters included).
PARAMETERS = 166_883
#: Parameters the forward pass uses (the above less the 226 BatchNorm weights and biases).
USED_PARAMETERS = 166_657
#: All values in the released state dict (parameters and BatchNorm buffers), 72 tensors.
STATE_VALUES = 167_113
STATE_TENSORS = 72

#: The initial Sobel kernel of the gradient path (x direction; y is its transpose).
SOBEL_X = ((1.0, 0.0, -1.0), (2.0, 0.0, -2.0), (1.0, 0.0, -1.0))


class ConvLReLU(nn.Module):
    """``LReLU(0.2)(Conv(x))``; key ``conv``."""

    def __init__(self, cin: int, cout: int, kernel: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.conv(x), 0.2)


class Conv1x1(nn.Module):
    """A plain 1×1 convolution; key ``conv``."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class DecoderConv(nn.Module):
    """``Conv3×3`` then LReLU(0.2) or, with ``last=True``, ``tanh/2 + 1/2``; keys ``conv`` and ``bn``.

    ``bn`` exists only because the released checkpoint has it: the authors' forward does not apply it."""

    def __init__(self, cin: int, cout: int, last: bool = False) -> None:
        super().__init__()
        self.last = last
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.bn = nn.BatchNorm2d(cout)  # unused, as upstream

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return torch.tanh(y) * 0.5 + 0.5 if self.last else F.leaky_relu(y, 0.2)


class Gradient(nn.Module):
    """``|Sx * x| + |Sy * x|`` with depthwise 3×3 kernels (no bias), initialised to Sobel; keys ``convx``, ``convy``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.convx = nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False)
        self.convy = nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False)
        kx = torch.tensor(SOBEL_X)
        with torch.no_grad():
            self.convx.weight.copy_(kx.expand_as(self.convx.weight))
            self.convy.weight.copy_(kx.t().expand_as(self.convy.weight))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.convx(x).abs() + self.convy(x).abs()


class Dense(nn.Module):
    """Two densely connected 3×3 layers: ``x → x ⊕ a → x ⊕ a ⊕ b`` (3c channels); keys ``conv1``, ``conv2``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = ConvLReLU(channels, channels)
        self.conv2 = ConvLReLU(2 * channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([x, self.conv1(x)], dim=1)
        return torch.cat([x, self.conv2(x)], dim=1)


class RGBD(nn.Module):
    """Gradient residual dense block c → o: ``LReLU0.1(Conv1×1(dense(x)) + Conv1×1(gradient(x)))``."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        # definition order = the checkpoint's key order
        self.dense = Dense(cin)
        self.convdown = Conv1x1(3 * cin, cout)
        self.sobelconv = Gradient(cin)
        self.convup = Conv1x1(cin, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.convdown(self.dense(x)) + self.convup(self.sobelconv(x)), 0.1)


class SeAFusionNet(nn.Module):
    """The SeAFusion fusion network: ``forward(y, ir)`` → fused luminance (B,1,H,W) in (0, 1).

    ``y`` is the visible luminance (B,1,H,W) and ``ir`` the infrared (B,1,H,W), both in [0, 1]."""

    def __init__(self) -> None:
        super().__init__()
        c0, c1, c2 = WIDTHS
        self.vis_conv = ConvLReLU(1, c0)
        self.vis_rgbd1 = RGBD(c0, c1)
        self.vis_rgbd2 = RGBD(c1, c2)
        self.inf_conv = ConvLReLU(1, c0)
        self.inf_rgbd1 = RGBD(c0, c1)
        self.inf_rgbd2 = RGBD(c1, c2)
        self.decode4 = DecoderConv(2 * c2, 2 * c1)
        self.decode3 = DecoderConv(2 * c1, 2 * c0)
        self.decode2 = DecoderConv(2 * c0, c0)
        self.decode1 = DecoderConv(c0, 1, last=True)

    def encode_visible(self, y: torch.Tensor) -> torch.Tensor:
        return self.vis_rgbd2(self.vis_rgbd1(self.vis_conv(y)))

    def encode_infrared(self, ir: torch.Tensor) -> torch.Tensor:
        return self.inf_rgbd2(self.inf_rgbd1(self.inf_conv(ir)))

    def forward(self, y: torch.Tensor, ir: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.encode_visible(y), self.encode_infrared(ir)], dim=1)
        return self.decode1(self.decode2(self.decode3(self.decode4(x))))


class SeAFusion(FusionMethod):
    """``seafusion``: the SeAFusion network as a fusion method (luminance in, luminance out, no masks).

    The network already ends in ``tanh/2 + 1/2``, so :meth:`forward_raw` is in (0, 1); :meth:`forward` clamps it to
    [0, 1] all the same (the contract), which changes nothing. samfuse's ``ycbcr`` colour path is the authors' one
    (same BT.601 Y, Cb, Cr formulas and inverse matrix, result clipped to [0, 1])."""

    consumes = "y"
    tile_pixels = 1_572_864  # larger images are fused in tiles (samfuse.tiling); 1.07 GiB over the process at 1024×1024
    needs_masks = None

    #: Facts for exported files (set by :func:`build_seafusion`).
    weights_path: str | None = None
    weights_sha256: str | None = None
    card: dict[str, str] = {
        "method": "seafusion",
        "paper": "Tang, Yuan, Ma, Image fusion in the loop of high-level vision tasks: a semantic-aware real-time "
        "infrared and visible image fusion network (SeAFusion), Information Fusion 82, 2022",
        "upstream": "https://github.com/Linfeng-Tang/SeAFusion (FusionNet.py); weights: "
        "https://github.com/Linfeng-Tang/VIF-Benchmark Checkpoint/SeAFusion/SeAFusion.pth",
        "parameters": str(USED_PARAMETERS),
        "input": "ir (B,1,H,W), vi = visible luminance Y (B,1,H,W), float32 in [0, 1]; any H and W",
        "output": "fused luminance (B,1,H,W): tanh/2 + 1/2, in (0, 1)",
    }

    def __init__(self, net: SeAFusionNet) -> None:
        super().__init__()
        # Weights and activations channels-last (NHWC): oneDNN's CPU convolutions run this network faster than
        # NCHW (docs/decisions.md, "Measured timings"); outputs agree to 1e-6.
        self.net = net.eval().to(memory_format=torch.channels_last)
        for p in self.net.parameters():
            p.requires_grad_(False)

    def forward_raw(self, ir: torch.Tensor, vi: torch.Tensor, masks: Any = None) -> torch.Tensor:
        if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
            return self.net(vi, ir)
        cl = torch.channels_last
        return self.net(vi.contiguous(memory_format=cl), ir.contiguous(memory_format=cl)).contiguous()

    def forward(self, ir: torch.Tensor, vi: torch.Tensor, masks: Any = None) -> torch.Tensor:
        return self.forward_raw(ir, vi, masks).clamp(0.0, 1.0)


def load_net(weights: str | Path) -> SeAFusionNet:
    """A :class:`SeAFusionNet` (eval mode) with ``weights``: the authors' ``.pth`` state dict or a samfuse
    ``.safetensors`` file with the same 72 tensors. Strict: a missing, unexpected or wrongly shaped tensor is a
    one-line :class:`~samfuse.io.checkpoint.CheckpointError`."""
    net = SeAFusionNet()
    state = load_state_dict(weights)
    check_state_dict(state, net, weights, what="seafusion")
    net.load_state_dict(state, strict=True)
    return net.eval()


def build_seafusion(weights: str | Path | None = None, random_init: bool = False) -> SeAFusion:
    """Builder registered as ``seafusion``: ``weights`` (a file; the registry resolves weights names), else the
    default named weights (``seafusion.authors``, shipped in the package). ``random_init=True`` builds it untrained
    (contract tests only; never for fusing)."""
    if random_init:
        return SeAFusion(SeAFusionNet())
    if weights is None:
        weights = default_file(
            "seafusion",
            "seafusion needs weights: its shipped file is missing from the package (reinstall samfuse) or "
            "pass --weights FILE (e.g. the authors' SeAFusion.pth)",
        )
    method = SeAFusion(load_net(weights))
    method.weights_path = str(weights)
    method.weights_sha256 = file_sha256(weights)
    return method
