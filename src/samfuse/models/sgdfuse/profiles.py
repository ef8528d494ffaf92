"""SGDFuse configurations: the whole model (stage 1, U-Net, HFAH, scheduler, sampler, ablations) as one JSON-able
dataclass, and the named architecture profiles ``cpu``, ``paper`` (and ``tiny`` for tests).

* ``paper``: the authors' stage-II configuration (U-Net width 64, mults 1,2,4,8, res_blocks 2, attn_res [16],
  dropout 0.2, GroupNorm 32; HFAH dim 64; 60 sampling steps) and the note's stage I (C = 32, 2 blocks, 4 heads).
* ``cpu``: sized for a few seconds per 640×480 image on a CPU (the measurement: docs/decisions.md, "Measured
  timings", from ``benchmarks/sgdfuse_speed.py``): stage 1 with C = 16, MSFEM branches 8 wide (its 5×5 and 7×7 convs at
  full resolution are most of stage 1's work), one Transformer block, 2 heads, FFN expansion 2;
  U-Net width 16 at half resolution (``patch`` 2), mults 1,2,2,4 (the middle block, with its attention, at
  1/16 resolution), one res block per level, no attention elsewhere, dropout 0.1, GroupNorm 8; HFAH dim 16;
  10 steps. Images are padded to multiples of 16.
* ``tiny``: a few thousand parameters, for tests.

The training hyperparameters (crops, batch, iterations) belong to ``samfuse.training``'s profiles.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from samfuse.models.sgdfuse.hfah import HFAHConfig
from samfuse.models.sgdfuse.sampler import SamplerConfig
from samfuse.models.sgdfuse.scheduler import SchedulerConfig
from samfuse.models.sgdfuse.stage1 import Stage1Config
from samfuse.models.sgdfuse.unet import UNetConfig

__all__ = ["SGDFuseConfig", "PROFILES", "Chroma", "CHROMAS", "get_profile", "hfah_for"]


def hfah_for(unet: UNetConfig, dim: int = 64, spatial_attention: bool = False, residual: bool = True) -> HFAHConfig:
    """The HFAH configuration that matches ``unet``'s decoder levels and patch size."""
    return HFAHConfig(
        in_channels=tuple(unet.width * m for m in unet.channel_mults),
        dim=dim,
        spatial_attention=spatial_attention,
        out_channels=unet.out_channels,
        patch=unet.patch,
        residual=residual,
    )


#: Where the output's chroma comes from: ``"visible"`` (the fused image's BT.601 luminance with the visible
#: Cb/Cr put back, as every samfuse method does) or ``"network"`` (the networks' RGB as it comes out).
Chroma = Literal["visible", "network"]
CHROMAS: tuple[str, ...] = ("visible", "network")


@dataclass(frozen=True)
class SGDFuseConfig:
    """The whole SGDFuse model. Ablations (the paper's): ``guidance=False`` feeds empty mask channels (and the
    method needs no masks), ``diffusion=False`` returns stage 1 alone, ``use_hfah=False`` returns the sampler's
    own final sample instead of HFAH's image.

    ``chroma`` (:data:`Chroma`, docs/sgdfuse.md "Colour"): ``"visible"`` (default, also for files written before
    the key existed) keeps the networks' luminance only and puts the visible chroma back; ``"network"`` returns
    the networks' RGB. ``hfah.residual`` is ``False`` for a stored configuration without the key (the heads
    trained before issue 24 emit the image itself)."""

    stage1: Stage1Config = field(default_factory=Stage1Config)
    unet: UNetConfig = field(default_factory=UNetConfig)
    hfah: HFAHConfig = field(default_factory=HFAHConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    guidance: bool = True
    diffusion: bool = True
    use_hfah: bool = True
    chroma: Chroma = "visible"

    def __post_init__(self) -> None:
        if self.chroma not in CHROMAS:
            raise ValueError(f"chroma must be one of {', '.join(CHROMAS)}, got {self.chroma!r}")
        want = tuple(self.unet.width * m for m in self.unet.channel_mults)
        if self.hfah.in_channels != want or self.hfah.patch != self.unet.patch:
            raise ValueError(
                f"HFAH in_channels {self.hfah.in_channels} / patch {self.hfah.patch} do not match the U-Net "
                f"{want} / {self.unet.patch}"
            )
        if self.unet.in_channels != 5 or self.unet.out_channels != 3:
            raise ValueError("the refiner reading needs a U-Net with 5 input and 3 output channels")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SGDFuseConfig:
        parts = {
            "stage1": Stage1Config,
            "unet": UNetConfig,
            "hfah": HFAHConfig,
            "scheduler": SchedulerConfig,
            "sampler": SamplerConfig,
        }
        if "hfah" in data and "residual" not in data["hfah"]:  # written before issue 24: R's replacing head
            data = {**data, "hfah": {**data["hfah"], "residual": False}}
        kwargs: dict[str, Any] = {k: t(**data[k]) for k, t in parts.items() if k in data}
        kwargs.update({k: bool(data[k]) for k in ("guidance", "diffusion", "use_hfah") if k in data})
        if "chroma" in data:
            kwargs["chroma"] = str(data["chroma"])
        unknown = sorted(set(data) - set(parts) - {"guidance", "diffusion", "use_hfah", "chroma"})
        if unknown:
            raise ValueError(f"unknown SGDFuse config keys: {', '.join(unknown)}")
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> SGDFuseConfig:
        return cls.from_dict(json.loads(text))

    def with_sampler(self, **changes: Any) -> SGDFuseConfig:
        return replace(self, sampler=replace(self.sampler, **changes))


def _paper() -> SGDFuseConfig:
    unet = UNetConfig()
    return SGDFuseConfig(Stage1Config(), unet, hfah_for(unet, 64), SchedulerConfig(), SamplerConfig(steps=60))


def _cpu() -> SGDFuseConfig:
    stage1 = Stage1Config(channels=16, msfem_mid=8, blocks=1, heads=2, ffn_expansion=2.0, head_hidden=16)
    unet = UNetConfig(
        width=16,
        channel_mults=(1, 2, 2, 4),
        res_blocks=1,
        attn_res=(),
        dropout=0.1,
        norm_groups=8,
        image_size=96,
        patch=2,
    )
    return SGDFuseConfig(stage1, unet, hfah_for(unet, 16), SchedulerConfig(), SamplerConfig(steps=10))


def _tiny() -> SGDFuseConfig:
    stage1 = Stage1Config(channels=8, msfem_mid=8, blocks=1, heads=2, head_hidden=8)
    unet = UNetConfig(
        width=8, channel_mults=(1, 2), res_blocks=1, attn_res=(8,), dropout=0.0, norm_groups=4, image_size=16
    )
    return SGDFuseConfig(stage1, unet, hfah_for(unet, 8), SchedulerConfig(), SamplerConfig(steps=3))


PROFILES = {"cpu": _cpu, "paper": _paper, "tiny": _tiny}


def get_profile(name: str) -> SGDFuseConfig:
    if name not in PROFILES:
        raise ValueError(f"unknown SGDFuse profile {name!r} (known: {', '.join(sorted(PROFILES))})")
    return PROFILES[name]()
