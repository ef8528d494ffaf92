"""SeAFusion (Tang, Yuan and Ma, Information Fusion 82, 2022), a learned reference method trained on MSRS.

Importing this package registers ``seafusion``: the network of :mod:`.net` with the authors' MIT-licensed weights,
shipped converted to safetensors as the named weights ``seafusion.authors`` (``weights/MODEL_CARD.md``).
"""

from samfuse.models.registry import register
from samfuse.models.seafusion.net import SeAFusion, SeAFusionNet, build_seafusion, load_net

register(
    "seafusion",
    "SeAFusion (Tang et al., Information Fusion 2022): 166,657-parameter real-time CNN on Y + IR, trained on MSRS; "
    "the authors' weights (seafusion.authors, MIT)",
)(build_seafusion)

__all__ = ["SeAFusion", "SeAFusionNet", "build_seafusion", "load_net"]
