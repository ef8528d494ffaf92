"""SGDFuse (Zhang et al., arXiv 2508.05264) re-implemented from the ``docs/sgdfuse-notes.md``.

One concept per module: ``stage1`` (MSFEM, Transformer blocks, cross-attention, head → F1), ``unet`` (SR3
denoiser), ``hfah`` (hierarchical feature aggregation head), ``scheduler`` (noise schedule, DDPM/DDIM steps, no
weights), ``sampler`` (the refiner loop, padding, tiling), ``profiles`` (``cpu``/``paper``/``tiny``
configurations) and ``method`` (the registered methods ``sgdfuse-stage1`` and ``sgdfuse``, weights files).
Decisions and their reasons: ``docs/sgdfuse.md``.
"""

from samfuse.models.sgdfuse.hfah import HFAH, HFAHConfig
from samfuse.models.sgdfuse.method import (
    SGDFuseMethod,
    SGDFuseStage1Method,
    as_mask_channels,
    build_sgdfuse,
    build_sgdfuse_stage1,
    load_weights,
    save_weights,
)
from samfuse.models.sgdfuse.profiles import PROFILES, SGDFuseConfig, get_profile, hfah_for
from samfuse.models.sgdfuse.sampler import SamplerConfig, crop, pad_to_multiple, refine
from samfuse.models.sgdfuse.scheduler import NoiseScheduler, SchedulerConfig, sr3_sampling_gamma
from samfuse.models.sgdfuse.stage1 import Stage1, Stage1Config
from samfuse.models.sgdfuse.unet import UNet, UNetConfig

__all__ = [
    "HFAH",
    "HFAHConfig",
    "NoiseScheduler",
    "PROFILES",
    "SGDFuseConfig",
    "SGDFuseMethod",
    "SGDFuseStage1Method",
    "SamplerConfig",
    "SchedulerConfig",
    "Stage1",
    "Stage1Config",
    "UNet",
    "UNetConfig",
    "as_mask_channels",
    "build_sgdfuse",
    "build_sgdfuse_stage1",
    "crop",
    "get_profile",
    "hfah_for",
    "load_weights",
    "pad_to_multiple",
    "refine",
    "save_weights",
    "sr3_sampling_gamma",
]
