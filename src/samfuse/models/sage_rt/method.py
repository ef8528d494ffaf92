"""``sage-rt`` as a fusion method: luminance in, luminance out, no masks; weights from ``samfuse train sage-rt``.

A weights file is the :class:`~samfuse.models.sage_rt.net.SageRTNet` state dict as safetensors, with the
architecture (:class:`~samfuse.models.sage_rt.net.RTConfig`, JSON) in its metadata under
:data:`~samfuse.models.sage_rt.net.CONFIG_KEY`, plus the training recipe and the teacher it was distilled from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from samfuse.io.checkpoint import CheckpointError, check_state_dict, load_state_dict
from samfuse.io.digest import file_sha256
from samfuse.models.base import FusionMethod
from samfuse.models.sage_rt.net import CONFIG_KEY, RTConfig, SageRTNet

__all__ = ["SageRT", "build_sage_rt", "load_rt", "read_metadata", "NO_WEIGHTS"]

#: What to tell a user who asked for sage-rt without weights (never fused with random weights).
NO_WEIGHTS = (
    "sage-rt needs weights: pass --weights FILE, a RUN_DIR/weights/sage_rt.safetensors written by "
    "`samfuse train sage-rt --data msrs-train-128 --profile cpu --out RUN_DIR` (distilled from the sage method)"
)


def read_metadata(weights: str | Path) -> dict[str, str]:
    """The safetensors metadata of a weights file (empty for a file without any, or not a safetensors file)."""
    path = Path(weights)
    if path.suffix.lower() != ".safetensors" or not path.is_file():
        return {}
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as fh:
            return dict(fh.metadata() or {})
    except Exception:  # noqa: BLE001  (load_state_dict gives the one-line reason)
        return {}


def load_rt(weights: str | Path) -> SageRTNet:
    """A :class:`SageRTNet` (eval mode) with ``weights``; its architecture comes from the file's metadata (the
    default :class:`RTConfig` when absent). Strict: a missing, unexpected or wrongly shaped tensor is a one-line
    :class:`~samfuse.io.checkpoint.CheckpointError`."""
    meta = read_metadata(weights)
    try:
        config = RTConfig.from_json(meta[CONFIG_KEY]) if CONFIG_KEY in meta else RTConfig()
    except (ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"{weights}: bad {CONFIG_KEY} metadata ({err})") from None
    net = SageRTNet(config)
    state = load_state_dict(weights)
    check_state_dict(state, net, weights, what="sage-rt")
    net.load_state_dict(state, strict=True)
    return net.eval()


class SageRT(FusionMethod):
    """``sage-rt``: :class:`SageRTNet` as a fusion method. ``forward`` clamps to [0, 1]; :meth:`forward_raw`
    (what ONNX export traces) returns the network output unclamped."""

    consumes = "y"
    preferred_backend = "onnx"  # onnxruntime runs it 2-4x faster than PyTorch (docs/sage_rt.md)
    tile_pixels = 2_097_152  # larger images are fused in tiles (samfuse.tiling); a 2 MP image is fused whole
    needs_masks = None

    weights_path: str | None = None
    weights_sha256: str | None = None

    def __init__(self, net: SageRTNet) -> None:
        super().__init__()
        self.net = net.eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        cfg = net.config
        self.card = {
            "method": "sage-rt",
            "design": "SAGE student for CPU real time (samfuse, issue 23): per-pixel fusion coefficients "
            f"(a, b, c, g) predicted at 1/{cfg.scale} resolution, applied at full resolution as "
            "a*Y + b*IR + c + g*maxabs(highpass Y, highpass IR); docs/sage_rt.md",
            "config": cfg.to_json(),
            "parameters": str(sum(p.numel() for p in net.parameters())),
            "input": "ir (B,1,H,W), vi = visible luminance Y (B,1,H,W), float32 in [0, 1]; any H and W",
            "output": "fused luminance (B,1,H,W), not clamped (samfuse clamps to [0, 1])",
        }

    def forward_raw(self, ir: torch.Tensor, vi: torch.Tensor, masks: Any = None) -> torch.Tensor:
        return self.net(vi, ir)

    def forward(self, ir: torch.Tensor, vi: torch.Tensor, masks: Any = None) -> torch.Tensor:
        return self.forward_raw(ir, vi, masks).clamp(0.0, 1.0)


def build_sage_rt(weights: str | Path | None = None, random_init: bool = False) -> SageRT:
    """Builder registered as ``sage-rt``: without ``weights``, the shipped default (``sage-rt.distilled``,
    :mod:`samfuse.models.pretrained`); refuses (:data:`NO_WEIGHTS`) if that file is missing.

    ``random_init=True`` builds it untrained (contract tests, speed measurements; never for fusing)."""
    if weights is None:
        if random_init:
            return SageRT(SageRTNet())
        from samfuse.models.pretrained import default_file

        weights = default_file("sage-rt", NO_WEIGHTS)
    method = SageRT(load_rt(weights))
    for key, value in read_metadata(weights).items():
        if key in ("recipe", "teacher", "teacher_sha256", "step"):
            method.card[f"training_{key}"] = value
    method.weights_path = str(weights)
    method.weights_sha256 = file_sha256(weights)
    return method
