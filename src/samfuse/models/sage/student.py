"""The SAGE student (Wu et al., CVPR 2025): the 135,617-parameter network the authors release.

Exactly as ``docs/sage-notes.md`` §1 states (upstream ``model_sub/model.py``, key names kept so that the released
checkpoint loads strictly):

* input ``cat(Y_vis, IR)`` (2 channels, values in [0, 1]);
* block ``B(cin)`` = 3 × [Conv3×3 (bias) → BatchNorm2d(32) → LeakyReLU(0.01)];
* ``x1 = B(2)(in)``; ``x2 = B(MaxPool2(x1))``; ``x3 = B(MaxPool2(x2))``;
  ``x4 = B(A(cat[up(x3 → x2), x2]))``; ``x5 = B(A(cat[up(x4 → x1), x1]))`` with ``up`` bilinear
  (align_corners=False) to the exact size and ``A`` = Conv1×1 64→32 → BN → LReLU;
* ``out = tanh(Conv3×3 32→1 (x5))``, in (-1, 1); x1..x5 are the distillation taps.

:class:`SageStudentNet` is the training module (BatchNorm unfolded, taps available through
:meth:`SageStudentNet.forward_features`). :func:`fold_batchnorm` makes the inference copy with each BatchNorm folded
into the convolution before it, leaving the training module untouched. :class:`SageStudent` is the registered
fusion method around the folded copy.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from samfuse.io.checkpoint import check_state_dict, load_state_dict
from samfuse.io.digest import file_sha256
from samfuse.models.base import FusionMethod, MissingWeightsError

#: Channel width of the released student.
DIM = 32
#: Parameters of the released student (BN buffers not counted), as docs/sage-notes.md §1 states.
PARAMETERS = 135_617

Taps = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def _block(cin: int, dim: int = DIM) -> nn.Sequential:
    """Three [Conv3×3 → BN → LeakyReLU(0.01)]; indices 0/1/2, 3/4/5, 6/7/8 match the upstream key names."""
    layers: list[nn.Module] = []
    for i in range(3):
        layers += [nn.Conv2d(cin if i == 0 else dim, dim, 3, padding=1), nn.BatchNorm2d(dim), nn.LeakyReLU(0.01)]
    return nn.Sequential(*layers)


def _adjust(dim: int = DIM) -> nn.Sequential:
    """``A`` = Conv1×1 2·dim → dim → BN → LeakyReLU(0.01)."""
    return nn.Sequential(nn.Conv2d(2 * dim, dim, 1), nn.BatchNorm2d(dim), nn.LeakyReLU(0.01))


def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


#: How the final tanh maps to an image: ``"tanh"`` = as the authors (range (-1, 1), clamped to [0, 1] for
#: display); ``"unit"`` = ``(tanh + 1) / 2``, range (0, 1), so a dark pixel is not a saturated tanh (samfuse's
#: own recipes; stored in the weights file's metadata as ``output``).
OUTPUTS = ("tanh", "unit")


class SageStudentNet(nn.Module):
    """The student network (training form: BatchNorm layers present). ``forward(y, ir)`` → the output image
    (``output="tanh"``: the tanh as the authors; ``"unit"``: ``(tanh + 1) / 2``)."""

    def __init__(self, dim: int = DIM, output: str = "tanh") -> None:
        super().__init__()
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, not {output!r}")
        self.output = output
        # Definition order = the upstream state-dict order.
        self.module1 = _block(2, dim)
        self.module2 = _block(dim, dim)
        self.module3 = _block(dim, dim)
        self.adjust_channels4 = _adjust(dim)
        self.module4 = _block(dim, dim)
        self.adjust_channels5 = _adjust(dim)
        self.module5 = _block(dim, dim)
        self.final_decoder = nn.Sequential(nn.Conv2d(dim, 1, 3, padding=1), nn.Tanh())

    def forward_features(self, y: torch.Tensor, ir: torch.Tensor) -> tuple[torch.Tensor, Taps]:
        """``(out, (x1, x2, x3, x4, x5))``: the tanh output (B,1,H,W) in (-1, 1) and the five distillation taps
        (32 channels at H, H/2, H/4, H/2, H; ``/`` rounds down)."""
        x1 = self.module1(torch.cat([y, ir], dim=1))
        x2 = self.module2(F.max_pool2d(x1, 2))
        x3 = self.module3(F.max_pool2d(x2, 2))
        x4 = self.module4(self.adjust_channels4(torch.cat([_up(x3, x2), x2], dim=1)))
        x5 = self.module5(self.adjust_channels5(torch.cat([_up(x4, x1), x1], dim=1)))
        out = self.final_decoder(x5)
        if self.output == "unit":
            out = (out + 1.0) * 0.5
        return out, (x1, x2, x3, x4, x5)

    def forward(self, y: torch.Tensor, ir: torch.Tensor, return_taps: bool = False) -> Any:
        """The tanh output (B,1,H,W) in (-1, 1); with ``return_taps=True`` also ``(x1, ..., x5)``."""
        out, taps = self.forward_features(y, ir)
        return (out, taps) if return_taps else out


def fold_batchnorm(net: SageStudentNet) -> SageStudentNet:
    """An inference copy of ``net`` with every BatchNorm folded into the convolution before it (eval statistics);
    the BatchNorm slots become ``Identity``. ``net`` itself is not changed."""
    folded = copy.deepcopy(net).eval()
    for seq in folded.modules():
        if not isinstance(seq, nn.Sequential):
            continue
        for i in range(len(seq) - 1):
            conv, bn = seq[i], seq[i + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                seq[i] = fuse_conv_bn_eval(conv, bn)
                seq[i + 1] = nn.Identity()
    for p in folded.parameters():
        p.requires_grad_(False)
    return folded


class SageStudent(FusionMethod):
    """``sage-student``: the SAGE student as a fusion method (luminance in, luminance out, no masks).

    ``forward`` returns the network output clamped to [0, 1] (samfuse's default); :meth:`forward_raw` returns the
    tanh output unclamped, in (-1, 1), which the authors' colour path (``color="opencv"``) uses.
    """

    consumes = "y"
    tile_pixels = 2_097_152  # larger images are fused in tiles (samfuse.tiling); 1920×1080 is fused whole
    needs_masks = None

    #: Facts for model cards and exported files (set by :func:`build_student`).
    weights_path: str | None = None
    weights_sha256: str | None = None
    card: dict[str, str] = {
        "method": "sage-student",
        "paper": "Wu et al., Every SAM Drop Counts: Embracing Semantic Priors for Multi-Modality Image Fusion "
        "and Beyond (SAGE), CVPR 2025",
        "upstream": "https://github.com/RollingPlain/SAGE_IVIF (student: model_sub/model.py)",
        "parameters": str(PARAMETERS),
        "input": "ir (B,1,H,W), vi = visible luminance Y (B,1,H,W), float32 in [0, 1]; any H and W",
        "output": "fused luminance (B,1,H,W): tanh in (-1, 1) (the authors' weights) or (tanh + 1)/2 (weights trained "
        "with output=unit), not clamped (samfuse clamps to [0, 1] by default)",
    }

    def __init__(self, net: SageStudentNet, *, fold: bool = True) -> None:
        super().__init__()
        # Inference form: BatchNorm folded, weights and activations channels-last (NHWC), which oneDNN's CPU
        # convolutions run faster than NCHW (docs/decisions.md, "Measured timings").
        self.fast = fold
        self.net = fold_batchnorm(net).to(memory_format=torch.channels_last) if fold else net.eval()

    def forward_raw(self, ir: torch.Tensor, vi: torch.Tensor, masks: Any = None) -> torch.Tensor:
        if self.fast and not torch.jit.is_tracing() and not torch.onnx.is_in_onnx_export():
            cl = torch.channels_last
            return self.net(vi.contiguous(memory_format=cl), ir.contiguous(memory_format=cl)).contiguous()
        return self.net(vi, ir)

    def forward(self, ir: torch.Tensor, vi: torch.Tensor, masks: Any = None) -> torch.Tensor:
        return self.forward_raw(ir, vi, masks).clamp(0.0, 1.0)


#: What to tell a user who asked for the student without weights (samfuse ships none and never fuses with
#: random weights).
NO_WEIGHTS = (
    "sage-student needs weights: pass --weights sage.authors (the authors' student, shipped) or another name "
    "`samfuse methods` lists, or --weights FILE, e.g. the authors' released student "
    "(upstream RollingPlain/SAGE_IVIF checkpoints/checkpoints.pt; a copy is ../shared/reference/sage/"
    "sage_student_official.pt) or a samfuse .safetensors file (train one with `samfuse train sage`); "
    "method `sage` is the student with the weights samfuse ships"
)


def weights_output(weights: str | Path) -> str:
    """The output mapping a weights file was trained with: its safetensors metadata ``output`` (samfuse's own
    runs), else ``"tanh"`` (the authors' ``.pt`` and files written before the option existed)."""
    path = Path(weights)
    if path.suffix.lower() != ".safetensors" or not path.is_file():
        return "tanh"
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
    except Exception:  # noqa: BLE001  (load_state_dict below gives the one-line reason)
        return "tanh"
    return meta.get("output", "tanh") if meta.get("output") in OUTPUTS else "tanh"


def load_student(weights: str | Path) -> SageStudentNet:
    """A :class:`SageStudentNet` (training form, eval mode) with ``weights``: the authors' ``.pt`` state dict
    (CUDA tensors are mapped to the CPU) or a samfuse ``.safetensors`` file with the same keys (its metadata
    ``output`` sets the output mapping, :data:`OUTPUTS`). Strict: a missing, unexpected or wrongly shaped tensor
    is a one-line :class:`~samfuse.io.checkpoint.CheckpointError`."""
    net = SageStudentNet(output=weights_output(weights))
    state = load_state_dict(weights)
    check_state_dict(state, net, weights, what="sage-student")
    net.load_state_dict(state, strict=True)
    return net.eval()


def build_student(weights: str | Path | None = None, fold: bool = True, random_init: bool = False) -> SageStudent:
    """Builder registered as ``sage-student``: refuses to run without weights (see :data:`NO_WEIGHTS`).

    ``random_init=True`` builds it untrained (contract tests, speed measurements; never for fusing)."""
    if weights is None and random_init:
        return SageStudent(SageStudentNet().eval(), fold=fold)
    if weights is None:
        raise MissingWeightsError(NO_WEIGHTS)
    method = SageStudent(load_student(weights), fold=fold)
    method.weights_path = str(weights)
    method.weights_sha256 = file_sha256(weights)
    return method
