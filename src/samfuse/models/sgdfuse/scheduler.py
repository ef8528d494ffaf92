"""SGDFuse's noise scheduler, in the diffusers manner: no weights, a JSON configuration, ``set_timesteps`` /
``add_noise`` / ``step``. The U-Net knows nothing about β; it only sees the noise level γ = √ᾱ.

Schedule (docs/sgdfuse-notes.md §3, fixed by the authors' ``fusion_train.json``): linear β from 1e-6 to 1e-2 over
T = 1000 training steps, timesteps indexed 0 … T−1 (diffusers' convention), ``ᾱ_t = Π_{s≤t} (1 − β_s)``,
``γ_t = √ᾱ_t`` (γ_{999} ≈ 0.081) and ``ᾱ_{−1} = 1``.

Stepping from ``t`` to the next inference timestep ``p`` (``p = −1`` after the last one), with the effective
``β'_t = 1 − ᾱ_t / ᾱ_p`` and ``α'_t = 1 − β'_t``:

* x̂0 = (x_t − √(1−ᾱ_t) ε̂) / √ᾱ_t, clamped to [−1, 1] (``clip_sample``);
* **DDPM** (ancestral, SR3's ``p_sample``): x_p = μ + σ z with the posterior mean
  ``μ = √ᾱ_p β'_t / (1−ᾱ_t) · x̂0 + √α'_t (1−ᾱ_p) / (1−ᾱ_t) · x_t`` and the posterior variance
  ``σ² = β'_t (1−ᾱ_p) / (1−ᾱ_t)``, taken as ``exp(log(max(σ², 1e-20)))`` (log-clipped); no noise on the last
  step (σ = 0 there because ᾱ_{−1} = 1);
* **DDIM** (``eta`` = 0 deterministic): ε̂ is recomputed from the clamped x̂0, then
  ``x_p = √ᾱ_p x̂0 + √(1 − ᾱ_p − σ²) ε̂ + σ z`` with
  ``σ = eta · √((1−ᾱ_p)/(1−ᾱ_t)) · √(1 − ᾱ_t/ᾱ_p)``. With ``eta = 1`` σ² is the DDPM posterior variance and the
  mean is algebraically the DDPM posterior mean (tested).

SDEdit-style start (design decision 2): sampling does not start from pure noise; the stage-1 image is noised to
``start_timestep`` (by default the step whose γ is the end of SR3's 60-step sampling schedule, ≈ 0.86) and
denoised back from there (:meth:`NoiseScheduler.set_timesteps` with ``start_timestep``).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Literal

import torch

__all__ = ["SchedulerConfig", "NoiseScheduler", "StepOutput", "sr3_sampling_gamma"]

CONFIG_NAME = "scheduler_config.json"


@dataclass(frozen=True)
class SchedulerConfig:
    """Everything that defines the scheduler; saved and loaded as JSON (no weights)."""

    num_train_timesteps: int = 1000
    beta_start: float = 1e-6
    beta_end: float = 1e-2
    beta_schedule: Literal["linear"] = "linear"
    #: ``"ddpm"``: ancestral sampling (the authors' sampler); ``"ddim"``: deterministic for ``eta = 0``.
    kind: Literal["ddpm", "ddim"] = "ddpm"
    eta: float = 0.0
    clip_sample: bool = True
    clip_sample_range: float = 1.0
    #: Noise level the SDEdit-style start aims at (γ of the first sampling step); 1.0 means from pure noise.
    start_gamma: float = 0.86

    def __post_init__(self) -> None:
        if self.num_train_timesteps < 1:
            raise ValueError("num_train_timesteps must be >= 1")
        if not 0.0 < self.beta_start <= self.beta_end < 1.0:
            raise ValueError("need 0 < beta_start <= beta_end < 1")
        if self.beta_schedule != "linear":
            raise ValueError(f"unknown beta_schedule {self.beta_schedule!r} (only 'linear')")
        if self.kind not in ("ddpm", "ddim"):
            raise ValueError(f"unknown scheduler kind {self.kind!r} (ddpm or ddim)")
        if not 0.0 < self.start_gamma <= 1.0:
            raise ValueError("start_gamma must lie in (0, 1]")

    def to_json(self) -> str:
        return json.dumps({"_class_name": "NoiseScheduler", **asdict(self)}, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SchedulerConfig:
        data = json.loads(text)
        data.pop("_class_name", None)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown scheduler config keys: {', '.join(unknown)}")
        return cls(**data)


def sr3_sampling_gamma(n: int = 60, beta_start: float = 1e-6, beta_end: float = 1e-2) -> float:
    """γ at the end of SR3's separate ``n``-step linear sampling schedule (≈ 0.86 for the authors' 60 steps)."""
    betas = torch.linspace(beta_start, beta_end, n, dtype=torch.float64)
    return float(torch.sqrt(torch.prod(1.0 - betas)))


@dataclass(frozen=True)
class StepOutput:
    """Result of one :meth:`NoiseScheduler.step`: the next sample and the (clamped) x̂0 estimate."""

    prev_sample: torch.Tensor
    pred_original_sample: torch.Tensor


class NoiseScheduler:
    """Linear-β DDPM/DDIM scheduler (see the module docstring for the formulas)."""

    def __init__(self, config: SchedulerConfig | None = None, **overrides: object) -> None:
        base = config or SchedulerConfig()
        self.config = SchedulerConfig(**{**asdict(base), **overrides}) if overrides else base
        c = self.config
        # float64 tables: ᾱ over 1000 products loses digits in float32
        self.betas = torch.linspace(c.beta_start, c.beta_end, c.num_train_timesteps, dtype=torch.float64)
        self.alphas_cumprod = torch.cumprod(1.0 - self.betas, dim=0)
        self.timesteps = torch.arange(c.num_train_timesteps - 1, -1, -1)
        self._prev: dict[int, int] = {int(t): int(t) - 1 for t in self.timesteps}

    # ------------------------------------------------------------------ configuration
    def save_config(self, path: str | Path) -> Path:
        """Write the configuration as JSON (``path`` a folder → ``path/scheduler_config.json``)."""
        p = Path(path)
        if p.is_dir():
            p = p / CONFIG_NAME
        p.write_text(self.config.to_json() + "\n", encoding="utf-8")
        return p

    @classmethod
    def from_config(cls, path_or_config: str | Path | SchedulerConfig | dict) -> NoiseScheduler:
        """Build from a config object, a dict, a JSON file or a folder holding ``scheduler_config.json``."""
        if isinstance(path_or_config, SchedulerConfig):
            return cls(path_or_config)
        if isinstance(path_or_config, dict):
            return cls(SchedulerConfig.from_json(json.dumps(path_or_config)))
        p = Path(path_or_config)
        if p.is_dir():
            p = p / CONFIG_NAME
        return cls(SchedulerConfig.from_json(p.read_text(encoding="utf-8")))

    # ------------------------------------------------------------------ tables
    @property
    def num_train_timesteps(self) -> int:
        return self.config.num_train_timesteps

    def alpha_bar(self, t: int) -> float:
        """ᾱ_t, with ᾱ_{−1} = 1."""
        return 1.0 if t < 0 else float(self.alphas_cumprod[t])

    def gamma(self, t: int | torch.Tensor) -> torch.Tensor:
        """The U-Net's noise level γ_t = √ᾱ_t (float32 tensor, same shape as ``t``)."""
        t = torch.as_tensor(t)
        return torch.sqrt(self.alphas_cumprod[t.long()]).float()

    def timestep_for_gamma(self, gamma: float) -> int:
        """The first (smallest) timestep whose γ_t ≤ ``gamma`` (``T−1`` if none; ``gamma ≥ 1`` → ``T−1``)."""
        if gamma >= 1.0:
            return self.num_train_timesteps - 1
        g = torch.sqrt(self.alphas_cumprod)
        below = torch.nonzero(g <= gamma)
        return int(below[0]) if len(below) else self.num_train_timesteps - 1

    def sample_noise_level(self, t: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """SR3/WaveGrad training noise level: γ ~ U(√ᾱ_t, √ᾱ_{t−1}) per element of ``t`` (float32)."""
        t = t.long().cpu()
        hi = torch.sqrt(
            torch.where(t > 0, self.alphas_cumprod[(t - 1).clamp(min=0)], torch.ones((), dtype=torch.float64))
        )
        lo = torch.sqrt(self.alphas_cumprod[t])
        u = torch.rand(t.shape, generator=generator, dtype=torch.float64)
        return (lo + (hi - lo) * u).float()

    # ------------------------------------------------------------------ inference schedule
    def set_timesteps(self, num_inference_steps: int, start_timestep: int | None = None) -> torch.Tensor:
        """Choose the inference timesteps: ``num_inference_steps`` evenly spaced from ``start_timestep``
        (default ``T−1``) down to 0, rounded, duplicates dropped (so fewer steps when the span is short)."""
        top = self.num_train_timesteps - 1 if start_timestep is None else int(start_timestep)
        if not 0 <= top < self.num_train_timesteps:
            raise ValueError(f"start_timestep must lie in [0, {self.num_train_timesteps - 1}], got {top}")
        if num_inference_steps < 1:
            raise ValueError("num_inference_steps must be >= 1")
        n = min(num_inference_steps, top + 1)
        raw = torch.linspace(top, 0, n, dtype=torch.float64).round().long() if n > 1 else torch.tensor([top])
        ts = torch.unique_consecutive(raw)
        self.timesteps = ts
        self._prev = {int(ts[i]): (int(ts[i + 1]) if i + 1 < len(ts) else -1) for i in range(len(ts))}
        return ts

    def sdedit_start(self) -> int:
        """The timestep of the SDEdit-style start (the configured ``start_gamma``)."""
        return self.timestep_for_gamma(self.config.start_gamma)

    def previous_timestep(self, t: int) -> int:
        if t not in self._prev:
            raise ValueError(f"timestep {t} is not in the current schedule (call set_timesteps first)")
        return self._prev[t]

    # ------------------------------------------------------------------ forward process
    def add_noise(
        self,
        original_samples: torch.Tensor,
        noise: torch.Tensor,
        timesteps: int | torch.Tensor | None = None,
        gamma: float | torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x_t = γ·x0 + √(1 − γ²)·ε, with γ = √ᾱ_t from ``timesteps`` or a continuous ``gamma`` (one per sample)."""
        if (timesteps is None) == (gamma is None):
            raise ValueError("give exactly one of timesteps or gamma")
        g = self.gamma(timesteps) if gamma is None else torch.as_tensor(gamma, dtype=torch.float32)
        g = g.to(device=original_samples.device, dtype=original_samples.dtype)
        g = g.reshape(-1, *([1] * (original_samples.ndim - 1))) if g.ndim else g
        return g * original_samples + torch.sqrt((1.0 - g * g).clamp(min=0.0)) * noise

    # ------------------------------------------------------------------ reverse process
    def step(
        self,
        model_output: torch.Tensor,
        timestep: int,
        sample: torch.Tensor,
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
    ) -> StepOutput:
        """One reverse step from ``timestep`` to the previous inference timestep (ε-prediction).

        ``noise`` (optional) replaces the Gaussian draw z; otherwise z comes from ``generator`` on the sample's
        device, and only when σ > 0 (never on the last step).
        """
        c = self.config
        t = int(timestep)
        p = self.previous_timestep(t)
        a_t, a_p = self.alpha_bar(t), self.alpha_bar(p)
        b_t = 1.0 - a_t
        beta_eff = 1.0 - a_t / a_p
        x0 = (sample - math.sqrt(b_t) * model_output) / math.sqrt(a_t)
        if c.clip_sample:
            x0 = x0.clamp(-c.clip_sample_range, c.clip_sample_range)
        if c.kind == "ddpm":
            mean = (math.sqrt(a_p) * beta_eff / b_t) * x0 + (math.sqrt(1.0 - beta_eff) * (1.0 - a_p) / b_t) * sample
            var = beta_eff * (1.0 - a_p) / b_t
            std = math.exp(0.5 * math.log(max(var, 1e-20))) if p >= 0 else 0.0
        else:
            eps = (sample - math.sqrt(a_t) * x0) / math.sqrt(b_t)
            std = c.eta * math.sqrt((1.0 - a_p) / b_t) * math.sqrt(beta_eff) if p >= 0 else 0.0
            mean = math.sqrt(a_p) * x0 + math.sqrt(max(1.0 - a_p - std * std, 0.0)) * eps
        if std > 0.0:
            if noise is None:
                noise = torch.randn(sample.shape, generator=generator, device=sample.device, dtype=sample.dtype)
            mean = mean + std * noise
        return StepOutput(mean, x0)
