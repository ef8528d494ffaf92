"""The SGDFuse noise scheduler, tested in the diffusers manner (pinned loops, closed forms, config round trip)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from samfuse.models.sgdfuse.scheduler import NoiseScheduler, SchedulerConfig, sr3_sampling_gamma


def dummy_denoiser(sample: torch.Tensor) -> torch.Tensor:
    """A weightless 'network': ε̂ = 0.1 · x_t."""
    return 0.1 * sample


def x_init() -> torch.Tensor:
    return torch.linspace(-0.08, 0.08, 12, dtype=torch.float32).reshape(1, 3, 2, 2)


def run_loop(scheduler: NoiseScheduler, steps: int, seed: int = 1, start: int | None = None) -> torch.Tensor:
    x = x_init()
    gen = torch.Generator().manual_seed(seed)
    for t in scheduler.set_timesteps(steps, start_timestep=start).tolist():
        x = scheduler.step(dummy_denoiser(x), t, x, generator=gen).prev_sample
    return x


def test_schedule_tables() -> None:
    s = NoiseScheduler()
    assert s.betas[0] == pytest.approx(1e-6) and s.betas[-1] == pytest.approx(1e-2)
    # γ_999 = √Π(1 − β): the note's ≈ 0.081
    assert float(s.gamma(999)) == pytest.approx(0.08138, abs=1e-4)
    # SR3's separate 60-step sampling schedule ends at γ ≈ 0.86; the SDEdit start is the first t with γ_t ≤ it
    g60 = sr3_sampling_gamma(60)
    assert g60 == pytest.approx(0.8603, abs=1e-3)
    t0 = s.sdedit_start()
    assert float(s.gamma(t0)) <= g60 < float(s.gamma(t0 - 1))
    assert t0 == 245


def test_set_timesteps_spacing() -> None:
    s = NoiseScheduler()
    assert s.set_timesteps(10).tolist() == [999, 888, 777, 666, 555, 444, 333, 222, 111, 0]
    assert s.set_timesteps(1000).tolist() == list(range(999, -1, -1))
    ts = s.set_timesteps(5, start_timestep=245).tolist()
    assert ts == [245, 184, 122, 61, 0]  # round(245·k/4)
    assert s.previous_timestep(122) == 61 and s.previous_timestep(0) == -1
    assert s.set_timesteps(50, start_timestep=3).tolist() == [3, 2, 1, 0]  # never more steps than the span
    with pytest.raises(ValueError, match="not in the current schedule"):
        s.step(torch.zeros(1), 500, torch.zeros(1))


def test_ddpm_full_loop_pinned() -> None:
    out = run_loop(NoiseScheduler(kind="ddpm"), 1000)
    # pinned once from this implementation (seed 1, T = 1000 ancestral steps); ±1 = x̂0 clamped at the last step
    pinned = [0.49418378, -1.0, 0.31822002, -0.36479589, -0.82423842, 0.94135630,
              0.99445081, -0.58379698, -0.91563022, -0.96560144, 1.0, 0.64361191]  # fmt: skip
    assert out.flatten().tolist() == pytest.approx(pinned, abs=1e-5)


def test_ddpm_last_step_by_hand() -> None:
    """t = 0 → −1 with x_t = 0.5 everywhere and ε̂ = 0.1·x_t.

    ᾱ_0 = 1 − β_0 = 1 − 1e-6, ᾱ_{−1} = 1, so β'_0 = 1e-6 and 1 − ᾱ_0 = 1e-6:
    x̂0 = (0.5 − √1e-6 · 0.05) / √(1 − 1e-6) = 0.49995 / 0.9999995 = 0.4999502500…;
    posterior mean = √1 · β'/(1−ᾱ_0) · x̂0 + √(1−β') · (1 − 1)/(1−ᾱ_0) · x_t = 1 · x̂0 + 0;
    σ² = β' (1 − 1)/(1 − ᾱ_0) = 0, so no noise: x_{−1} = 0.49995025.
    """
    s = NoiseScheduler(kind="ddpm")
    s.set_timesteps(1000)
    x = torch.full((1, 3, 2, 2), 0.5)
    out = s.step(dummy_denoiser(x), 0, x, generator=torch.Generator().manual_seed(0)).prev_sample
    assert torch.allclose(out, torch.full_like(out, 0.49995025), atol=2e-7)


def test_ddim_eta0_loop_pinned_and_closed_form() -> None:
    s = NoiseScheduler(kind="ddim", eta=0.0)
    out = run_loop(s, 50)
    pinned = [-0.71968126, -0.58883017, -0.45797902, -0.32712799, -0.19627666, -0.06542557,
              0.06542557, 0.19627666, 0.32712799, 0.45797902, 0.58883017, 0.71968126]  # fmt: skip
    assert out.flatten().tolist() == pytest.approx(pinned, abs=1e-6)
    # Independent derivation: with ε̂ = 0.1·x and no clamping, one DDIM step is linear,
    #   x̂0 = x (1 − 0.1 √(1−ᾱ_t)) / √ᾱ_t = k_t x,   ε̂' = (x − √ᾱ_t x̂0)/√(1−ᾱ_t) = 0.1 x,
    #   x_p = √ᾱ_p k_t x + √(1−ᾱ_p) · 0.1 x,
    # so the whole loop multiplies x by Π_t (√ᾱ_p k_t + 0.1 √(1−ᾱ_p)), computed here in float64.
    ab = torch.cumprod(1 - torch.linspace(1e-6, 1e-2, 1000, dtype=torch.float64), 0)
    ts = s.set_timesteps(50).tolist()
    factor = 1.0
    for i, t in enumerate(ts):
        a_t = float(ab[t])
        a_p = float(ab[ts[i + 1]]) if i + 1 < len(ts) else 1.0
        k = (1 - 0.1 * math.sqrt(1 - a_t)) / math.sqrt(a_t)
        factor *= math.sqrt(a_p) * k + 0.1 * math.sqrt(1 - a_p)
    assert out.double().flatten().tolist() == pytest.approx((x_init().double() * factor).flatten().tolist(), rel=1e-5)
    # deterministic: no draw from the generator
    assert torch.equal(out, run_loop(s, 50, seed=123))


def test_add_noise_reproduces_the_marginal() -> None:
    s = NoiseScheduler()
    n = 200_000
    x0 = torch.full((n,), 0.6)
    noise = torch.randn(n, generator=torch.Generator().manual_seed(0))
    for t in (10, 245, 999):
        xt = s.add_noise(x0, noise, timesteps=t)
        g = math.sqrt(float(s.alphas_cumprod[t]))
        # mean γ·x0 and variance 1 − γ² (standard errors ≈ 0.0022 and ≈ 0.003·(1−γ²))
        assert float(xt.mean()) == pytest.approx(g * 0.6, abs=0.01)
        assert float(xt.var()) == pytest.approx(1 - g * g, rel=0.02, abs=1e-6)
    xt = s.add_noise(x0, noise, gamma=0.7)
    assert float(xt.mean()) == pytest.approx(0.42, abs=0.01) and float(xt.var()) == pytest.approx(0.51, rel=0.02)
    # one γ per sample in a batch
    b = s.add_noise(torch.ones(2, 3, 4, 4), torch.zeros(2, 3, 4, 4), timesteps=torch.tensor([0, 999]))
    assert torch.allclose(b[0], s.gamma(0)) and torch.allclose(b[1], s.gamma(999))
    with pytest.raises(ValueError, match="exactly one"):
        s.add_noise(x0, noise)


def test_training_noise_level_lies_between_neighbouring_steps() -> None:
    s = NoiseScheduler()
    t = torch.tensor([0, 1, 500, 999] * 50)
    g = s.sample_noise_level(t, torch.Generator().manual_seed(0))
    lo = torch.sqrt(s.alphas_cumprod[t]).float()
    hi = torch.where(t > 0, torch.sqrt(s.alphas_cumprod[(t - 1).clamp(min=0)]), torch.ones(())).float()
    assert bool(((g >= lo) & (g <= hi)).all()) and bool((g[t == 0] > lo[t == 0]).any())


def test_ddim_eta1_with_all_steps_equals_the_ddpm_path() -> None:
    """Identity tested: with eta = 1, σ_t² = β_t (1−ᾱ_{t−1})/(1−ᾱ_t) is the DDPM posterior variance, and
    √ᾱ_{t−1} x̂0 + √(1−ᾱ_{t−1}−σ_t²) ε̂(x̂0) equals the DDPM posterior mean
    √ᾱ_{t−1} β_t/(1−ᾱ_t) x̂0 + √α_t (1−ᾱ_{t−1})/(1−ᾱ_t) x_t for any (x̂0, x_t) (clamped x̂0 included), since
    1 − ᾱ_{t−1} − σ_t² = α_t (1−ᾱ_{t−1})²/(1−ᾱ_t). So with all T steps and the same noise draws the two
    trajectories agree up to float rounding."""
    ddpm = run_loop(NoiseScheduler(kind="ddpm"), 1000, seed=7)
    ddim = run_loop(NoiseScheduler(kind="ddim", eta=1.0), 1000, seed=7)
    assert torch.allclose(ddim, ddpm, atol=1e-4)
    # the mean alone, one step at a random t, without noise and with clamping active (x̂0 beyond ±1)
    a, b = NoiseScheduler(kind="ddpm"), NoiseScheduler(kind="ddim", eta=1.0)
    a.set_timesteps(1000), b.set_timesteps(1000)
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    eps = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(4))
    zero = torch.zeros_like(x)
    for t in (1, 137, 640, 999):
        ma = a.step(eps, t, x, noise=zero).prev_sample
        mb = b.step(eps, t, x, noise=zero).prev_sample
        assert torch.allclose(ma, mb, atol=1e-5), t


def test_config_round_trip(tmp_path) -> None:
    s = NoiseScheduler(kind="ddim", eta=0.3, start_gamma=0.7)
    path = s.save_config(tmp_path)
    assert path.name == "scheduler_config.json"
    data = json.loads(path.read_text())
    assert data["_class_name"] == "NoiseScheduler" and data["beta_end"] == 0.01
    back = NoiseScheduler.from_config(tmp_path)
    assert back.config == s.config
    assert torch.equal(back.alphas_cumprod, s.alphas_cumprod)
    assert NoiseScheduler.from_config(s.config.__dict__ | {}).config == s.config
    data["bogus"] = 1
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="bogus"):
        NoiseScheduler.from_config(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="kind"):
        SchedulerConfig(kind="euler")  # type: ignore[arg-type]
