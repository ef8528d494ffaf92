"""``sage-rt``: a SAGE student for real-time fusion on a CPU (issue 23; design in :mod:`.net` and docs/sage_rt.md).

Importing this package registers the method ``sage-rt`` (needs ``--weights``, from ``samfuse train sage-rt``).
"""

from samfuse.models.registry import register
from samfuse.models.sage_rt.method import NO_WEIGHTS, SageRT, build_sage_rt, load_rt
from samfuse.models.sage_rt.net import CONFIG_KEY, RTConfig, SageRTNet, conv_macs

register(
    "sage-rt",
    "SAGE student for CPU real time: fusion coefficients at 1/4 resolution, applied at full resolution "
    "(0.055 GMAC at 640x480), distilled from sage; onnxruntime by default",
)(build_sage_rt)

__all__ = ["CONFIG_KEY", "NO_WEIGHTS", "RTConfig", "SageRT", "SageRTNet", "build_sage_rt", "conv_macs", "load_rt"]
