"""Fusion methods: the registry (``build``, ``register``, ``list_methods``) and the registered methods.

Importing this package registers every method shipped with samfuse.
"""

from samfuse.models import baselines as _baselines  # noqa: F401  (registers the baselines)
from samfuse.models import sage as _sage  # noqa: F401  (registers the SAGE methods)
from samfuse.models import sage_rt as _sage_rt  # noqa: F401  (registers sage-rt)
from samfuse.models import seafusion as _seafusion  # noqa: F401  (registers seafusion)
from samfuse.models import sgdfuse as _sgdfuse  # noqa: F401  (registers sgdfuse-stage1 and sgdfuse)
from samfuse.models.base import FusionMethod, MissingWeightsError
from samfuse.models.registry import build, list_methods, method_options, register, samples

__all__ = ["FusionMethod", "MissingWeightsError", "build", "list_methods", "method_options", "register", "samples"]
