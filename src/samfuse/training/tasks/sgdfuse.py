"""``samfuse train sgdfuse-stage1`` then ``samfuse train sgdfuse``: SGDFuse's two decoupled stages.

Design note ``docs/sgdfuse-notes.md`` §1, §3 and §5 (decisions in docs/sgdfuse.md); the networks are
:mod:`samfuse.models.sgdfuse`, the losses :mod:`samfuse.training.losses.sgdfuse`. This module only wires them.

* **Stage 1** (``sgdfuse-stage1``): the :class:`~samfuse.models.sgdfuse.Stage1` network on random crops,
  L_1 = L_int + L_grad (``stage1_loss``; weights ``lambda_int``/``lambda_grad``), Adam, constant learning rate.
* **Stage 2** (``sgdfuse``): stage 1 **frozen**, loaded from ``--set stage1=FILE`` (a stage-1 weights file;
  refused in one line before any work when missing or not stage-1 weights). The U-Net and HFAH train jointly
  with one Adam: the refiner reading, x0 = F1, U-Net input concat(x_t, M_ir, M_vis) (masks in [−1, 1]),
  ε-prediction. The fused image the fusion terms score is F1 + HFAH's correction (a residual head, zero at
  initialisation; issue 24), and the terms are computed on the luminance (``space="y"``) by default, since the
  method keeps only the luminance of its output.
  - **F1 is precomputed at full resolution** (the loop's ``extra_inputs``, batch key ``"f1"``), exactly as the
    method computes it at inference (reflect-padded to the U-Net multiple, stage 1, cropped back), then cropped
    and flipped with the images and masks. Why not on the crop: stage 1's channel attention and SE pooling
    are global, so F1 of a crop differs from the crop of F1 (the refiner would learn on a different x0 than
    it sees at test time), and a no-grad stage-1 forward on every batch would cost a large share of a stage-2
    step; precomputing costs one stage-1 pass per training image, once per process (the measured costs are in
    docs/decisions.md, "Measured timings"). The F1 maps are kept in memory as float16 (≈1.8 MB
    per 640×480 image), so a ``--resume`` recomputes them; they are computed on the CPU, in the process that
    loads the samples (with ``workers`` > 0 each DataLoader worker computes its own).
  - **Timesteps** (note §3 and §5): one t per global batch (SR3; the same in every torchrun process), the
    noise level γ ~ U(√ᾱ_t, √ᾱ_{t−1}) per sample;
    even steps draw t ~ U{0..fusion_max_t} (the note's U{1..100}), odd steps t ~ U{0..T−1}. HFAH runs, and
    the mask-guided fusion terms count, only when t ≤ ``fusion_max_t`` (99, the note's t ≤ 100): every even
    step, and the 10 % of odd steps that draw such a t. L_2 = L_ε + 1.5·L_int^M + 1.0·L_grad^M
    (``stage2_loss``). Drawing "half the batches" by step parity rather than by a coin gives exactly half, and
    makes the schedule visible in the log.
* **Weights**: each stage saves one module, the registered method itself, so ``RUN_DIR/weights/`` holds
  ``sgdfuse_stage1.safetensors`` (keys ``stage1.*``) or ``sgdfuse.safetensors`` (``stage1.*`` frozen +
  ``unet.*`` + ``hfah.*``), with the whole model configuration in the metadata key ``samfuse_config``
  (:meth:`weights_metadata`): exactly the file ``build("sgdfuse-stage1" | "sgdfuse", weights=FILE)`` reads.
  Checkpoint weights have the same form.
* **Architecture**: ``--set model=cpu|paper|tiny`` picks :mod:`samfuse.models.sgdfuse.profiles` (``tiny`` for
  tests). In stage 2 the stage-1 part of the configuration is the one stored in the stage-1 file.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from samfuse.data.masks import ModalityMasks
from samfuse.io import InputError, Pair, is_grey, to_unit_float
from samfuse.io.bt601 import rgb_luma
from samfuse.models.sgdfuse.hfah import GUIDE_CHANNELS, HFAH, guide_stack
from samfuse.models.sgdfuse.method import CONFIG_KEY, SGDFuseMethod, SGDFuseStage1Method, load_weights
from samfuse.models.sgdfuse.profiles import PROFILES as MODEL_PROFILES
from samfuse.models.sgdfuse.profiles import SGDFuseConfig, get_profile
from samfuse.models.sgdfuse.sampler import crop as crop_to
from samfuse.models.sgdfuse.sampler import pad_to_multiple
from samfuse.models.sgdfuse.scheduler import NoiseScheduler
from samfuse.models.sgdfuse.unet import UNet
from samfuse.training.losses.sgdfuse import stage1_loss, stage2_loss
from samfuse.training.task import Profile, Step, TaskContext, TrainingTask, register_task

__all__ = [
    "Stage1Profile",
    "Stage2Profile",
    "SGDFuseStage1Task",
    "SGDFuseTask",
    "StageOneImages",
    "STAGE1_PROFILES",
    "STAGE2_PROFILES",
    "load_stage1",
]


def _check_model(name: str) -> None:
    if name not in MODEL_PROFILES:
        raise InputError(f"--set model={name}: unknown SGDFuse model profile (known: {', '.join(MODEL_PROFILES)})")


@dataclass(frozen=True)
class Stage1Profile(Profile):
    """Stage-1 hyper-parameters (``--set KEY=VALUE`` overrides any of them)."""

    #: the architecture (:mod:`samfuse.models.sgdfuse.profiles`): ``cpu``, ``paper`` or ``tiny``
    model: str = "cpu"
    lr: float = 1e-4
    lambda_int: float = 1.0
    lambda_grad: float = 1.0
    #: ``"rgb"`` (per RGB channel, the lineage) or ``"y"`` (BT.601 luminance)
    space: str = "rgb"


@dataclass(frozen=True)
class Stage2Profile(Profile):
    """Stage-2 hyper-parameters; ``stage1`` (the frozen stage-1 weights file) is required."""

    model: str = "cpu"
    #: the stage-1 weights file (``RUN_DIR/weights/sgdfuse_stage1.safetensors`` of a ``sgdfuse-stage1`` run)
    stage1: str | None = None
    lr: float = 1e-4
    #: learning rate of HFAH (the fusion head); None: ``lr``. The head's fusion terms hardly fall at the U-Net's
    #: rate (docs/sgdfuse.md, "Stage 2 recipe search"), so a faster head is a documented option
    hfah_lr: float | None = None
    #: HFAH's full-resolution guide channels (``HFAHConfig.guide_channels``; docs/sgdfuse.md, "Third round"): 7 reads
    #: [F1, IR, visible], 9 also the masks; 0: R's head, which reads the U-Net's features only
    hfah_guide: int = 0
    lambda_int: float = 1.5
    lambda_grad: float = 1.0
    #: ε-loss: ``"l1"`` (SR3) or ``"l2"`` (Dif-Fusion)
    eps_loss: str = "l1"
    #: largest (0-based) timestep at which HFAH and the fusion terms train (the note's t ≤ 100)
    fusion_max_t: int = 99
    #: ``"max"`` (default) or ``"regional"`` (the note's alternative target)
    target: str = "max"
    #: ``"y"`` (default since issue 24): the fusion terms on the BT.601 luminance, the only part of the output the
    #: method keeps (it puts the visible chroma back); ``"rgb"``: per RGB channel (the lineage, before issue 24)
    space: str = "y"


#: ``paper``: the note's stage I (Adam 1e-4, batch 16, 160² crops with h/v flips, ~40k iterations).
#: ``cpu``: batch 8, 128² crops with h/v flips, 5,000 steps, sized for both stages to fit about two hours on one
#: CPU core each (measurements: docs/decisions.md, "Measured timings"; docs/sgdfuse.md, Training).
STAGE1_PROFILES = {
    "paper": Stage1Profile(model="paper", batch_size=16, crop=(160, 160), hflip=True, vflip=True, steps=40_000),
    "cpu": Stage1Profile(model="cpu", batch_size=8, crop=(128, 128), hflip=True, vflip=True, steps=5000),
}
#: ``paper``: the authors' stage II (Adam 1e-4 constant, batch 24, crop 160, h/v flips, 200k iterations).
#: ``cpu``: sized like stage 1's: batch 8, 96² crops (a multiple of the U-Net's 16), 12,000 steps; Adam 2e-4
#: (DDPM's small-model rate) instead of the paper's 1e-4, because the schedule is 6 % of its 200k iterations
#: (measurements: docs/decisions.md, "Measured timings").
STAGE2_PROFILES = {
    "paper": Stage2Profile(model="paper", batch_size=24, crop=(160, 160), hflip=True, vflip=True, steps=200_000),
    "cpu": Stage2Profile(model="cpu", batch_size=8, crop=(96, 96), hflip=True, vflip=True, steps=12_000, lr=2e-4),
}


def _unit_pair(ir_raw: np.ndarray, vi_raw: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw decoded images → IR (1,1,H,W) and visible RGB (1,3,H,W) in [0, 1], as :class:`TrainingPairs` reads
    them (colour IR → its luma, grey stored as 3 channels → that channel, grey visible → replicated)."""
    ir, vi = to_unit_float(ir_raw), to_unit_float(vi_raw)
    if ir.ndim == 3:
        ir = ir[..., 0] if is_grey(ir_raw) else rgb_luma(ir)
    if vi.ndim == 2:
        vi = np.repeat(vi[:, :, None], 3, axis=2)
    ir_t = torch.from_numpy(np.ascontiguousarray(ir, dtype=np.float32))[None, None]
    vi_t = torch.from_numpy(np.ascontiguousarray(vi.transpose(2, 0, 1), dtype=np.float32))[None]
    return ir_t, vi_t


def load_stage1(path: str | Path | None) -> tuple[SGDFuseConfig, dict[str, torch.Tensor]]:
    """The configuration and ``stage1.*`` tensors of a stage-1 weights file; one-line :class:`InputError` when
    the path is missing, not a file, not an SGDFuse weights file, or not stage-1 weights."""
    if path is None or str(path) == "":
        raise InputError(
            "sgdfuse: stage 2 needs the frozen stage 1: --set stage1=RUN/weights/sgdfuse_stage1.safetensors "
            "(train it first with `samfuse train sgdfuse-stage1`)"
        )
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such stage-1 weights file (--set stage1=FILE)")
    try:
        cfg, tensors = load_weights(p)
    except ValueError as err:
        raise InputError(" ".join(str(err).split())) from None
    if not tensors or not all(k.startswith("stage1.") for k in tensors):
        raise InputError(f"{p}: not stage-1 weights (it holds more than stage1.*: a full SGDFuse model?)")
    return cfg, tensors


class StageOneImages:
    """The ``extra_inputs`` source ``"f1"``: stage 1's output F1 ([−1, 1], (3, H, W) float32) of the whole image,
    computed once per image as the method does at inference and kept in memory as float16."""

    def __init__(self, path: str | Path, model: str) -> None:
        cfg, tensors = load_stage1(path)
        full = replace(get_profile(model), stage1=cfg.stage1)
        net = SGDFuseStage1Method(full)
        net.load_state_dict(tensors)
        self.net = net.eval().requires_grad_(False)
        self.multiple = 2 ** (len(full.unet.channel_mults) - 1) * full.unet.patch
        self.cache: dict[int, np.ndarray] = {}
        self.lock = threading.Lock()

    @torch.inference_mode()
    def compute(self, ir_raw: np.ndarray, vi_raw: np.ndarray) -> np.ndarray:
        """F1 of one image, (3, H, W) float32 in [−1, 1]: padded to the U-Net multiple, stage 1, cropped back."""
        ir, vi = _unit_pair(ir_raw, vi_raw)
        x, hw = pad_to_multiple(torch.cat([ir, vi], dim=1), self.multiple)
        f1 = self.net.stage1(x[:, :1] * 2 - 1, x[:, 1:] * 2 - 1)
        return crop_to(f1, hw)[0].float().contiguous().numpy()

    def __call__(self, index: int, pair: Pair, ir_raw: np.ndarray, vi_raw: np.ndarray) -> np.ndarray:
        with self.lock:
            hit = self.cache.get(index)
            if hit is None:
                hit = self.cache[index] = self.compute(ir_raw, vi_raw).astype(np.float16)
        return hit.astype(np.float32)


@register_task("sgdfuse-stage1", "SGDFuse stage 1 (MSFEM + Restormer + cross-attention), intensity + gradient loss")
class SGDFuseStage1Task(TrainingTask):
    """SGDFuse stage 1: F1 = Stage1(IR, VIS), L_1 = λ_int·L_int + λ_grad·L_grad."""

    profiles = STAGE1_PROFILES

    @classmethod
    def check_profile(cls, profile: Profile) -> None:
        _check_model(profile.model)  # type: ignore[attr-defined]

    def __init__(self, profile: Stage1Profile, ctx: TaskContext) -> None:
        super().__init__(profile, ctx)
        self.config = get_profile(profile.model)
        self.method = SGDFuseStage1Method(self.config).to(ctx.device).train()
        self.forward = ctx.wrap(self.method.stage1)
        self.opt = torch.optim.Adam(self.method.parameters(), lr=profile.lr)

    def modules(self) -> dict[str, nn.Module]:
        return {"sgdfuse_stage1": self.method}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"stage1": self.opt}

    def weights_metadata(self) -> dict[str, str]:
        return {CONFIG_KEY: self.config.to_json()}

    def training_step(self, batch: dict[str, Any], step: Step) -> Mapping[str, float]:
        p = self.profile
        ir, vi = batch["ir"] * 2 - 1, batch["vi"] * 2 - 1
        f1 = self.forward(ir, vi)
        loss = stage1_loss(f1, ir, vi, p.lambda_int, p.lambda_grad, space=p.space)  # type: ignore[attr-defined]
        self.opt.zero_grad(set_to_none=True)
        loss.total.backward()
        self.opt.step()
        return loss.terms


class _Refiner(nn.Module):
    """U-Net + HFAH as one module (what DistributedDataParallel wraps): ε, and HFAH's fused image when asked
    (F1 + HFAH's correction for a residual head, :meth:`HFAH.compose`, exactly as the sampler composes it)."""

    def __init__(self, unet: UNet, hfah: HFAH) -> None:
        super().__init__()
        self.unet, self.hfah = unet, hfah

    def forward(
        self, x: torch.Tensor, gamma: torch.Tensor, head: bool, anchor: torch.Tensor, guide: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if not head:
            return self.unet(x, gamma), None
        eps, feats = self.unet(x, gamma, return_features=True)
        return eps, self.hfah.compose(self.hfah(feats, guide), anchor)


@register_task("sgdfuse", "SGDFuse stage 2: mask-conditioned diffusion refiner + HFAH on a frozen stage 1")
class SGDFuseTask(TrainingTask):
    """SGDFuse stage 2 (refiner reading): ε-loss + mask-guided fusion losses, t-gated (module docstring)."""

    profiles = STAGE2_PROFILES

    @classmethod
    def check_profile(cls, profile: Profile) -> None:
        p: Stage2Profile = profile  # type: ignore[assignment]
        _check_model(p.model)
        load_stage1(p.stage1)
        multiple = get_profile(p.model).unet
        m = 2 ** (len(multiple.channel_mults) - 1) * multiple.patch
        if p.crop is None or p.crop[0] % m or p.crop[1] % m:
            raise InputError(f"--set crop={list(p.crop or [])}: stage 2 crops must be multiples of {m} (the U-Net's)")
        for name, value, allowed in (
            ("eps_loss", p.eps_loss, ("l1", "l2")),
            ("target", p.target, ("max", "regional")),
            ("space", p.space, ("rgb", "y")),
            ("hfah_guide", p.hfah_guide, tuple(GUIDE_CHANNELS)),
        ):
            if value not in allowed:
                raise InputError(f"--set {name}={value}: expected one of {', '.join(map(str, allowed))}")

    @classmethod
    def mask_product(cls, profile: Profile) -> ModalityMasks:
        return ModalityMasks()

    @classmethod
    def extra_inputs(cls, profile: Profile) -> dict[str, Any]:
        p: Stage2Profile = profile  # type: ignore[assignment]
        return {"f1": StageOneImages(p.stage1, p.model)}  # type: ignore[arg-type]

    def __init__(self, profile: Stage2Profile, ctx: TaskContext) -> None:
        super().__init__(profile, ctx)
        s1_cfg, s1_tensors = load_stage1(profile.stage1)
        self.config = replace(get_profile(profile.model), stage1=s1_cfg.stage1)
        if profile.hfah_guide:
            self.config = replace(self.config, hfah=replace(self.config.hfah, guide_channels=profile.hfah_guide))
        self.method = SGDFuseMethod(self.config).to(ctx.device)
        self.method.stage1.load_state_dict({k.removeprefix("stage1."): v for k, v in s1_tensors.items()})
        self.method.stage1.requires_grad_(False).eval()  # frozen: no gradient, no optimiser, eval mode
        self.method.unet.train()
        self.method.hfah.train()
        self.scheduler = NoiseScheduler(self.config.scheduler)
        self.refiner = _Refiner(self.method.unet, self.method.hfah)
        self.forward = ctx.wrap(self.refiner, find_unused_parameters=True)  # HFAH idles on ungated batches
        params: list[Any] = [*self.method.unet.parameters(), *self.method.hfah.parameters()]
        if profile.hfah_lr is not None:  # a group of its own only when asked (older checkpoints have one group)
            params = [
                {"params": list(self.method.unet.parameters())},
                {"params": list(self.method.hfah.parameters()), "lr": profile.hfah_lr},
            ]
        self.opt = torch.optim.Adam(params, lr=profile.lr)

    def modules(self) -> dict[str, nn.Module]:
        return {"sgdfuse": self.method}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"refiner": self.opt}

    def weights_metadata(self) -> dict[str, str]:
        return {CONFIG_KEY: self.config.to_json()}

    def draw_timestep(self, step: Step) -> int:
        """One t per (global) batch: U{0..fusion_max_t} on even steps, U{0..T−1} on odd ones.

        Drawn from a generator seeded by (seed, step) alone, so every torchrun process draws the same t (the
        whole batch is gated alike, and HFAH's gradient is not averaged with idle processes' zeros) and a
        resumed run draws what the uninterrupted one did."""
        top = self.profile.fusion_max_t + 1 if step.step % 2 == 0 else self.scheduler.num_train_timesteps
        gen = torch.Generator().manual_seed(self.ctx.seed * 1_000_003 + step.step)
        return int(torch.randint(0, min(top, self.scheduler.num_train_timesteps), (), generator=gen))

    def training_step(self, batch: dict[str, Any], step: Step) -> Mapping[str, float]:
        p: Stage2Profile = self.profile  # type: ignore[assignment]
        ir, vi, x0 = batch["ir"] * 2 - 1, batch["vi"] * 2 - 1, batch["f1"]
        masks = batch["masks"]  # (B, 2, h, w) {0, 1}: [M_ir, M_vis]
        b = x0.shape[0]
        t = self.draw_timestep(step)
        timesteps = torch.full((b,), t, dtype=torch.long)
        gamma = self.scheduler.sample_noise_level(timesteps).to(x0.device)
        noise = torch.randn_like(x0)
        x_t = self.scheduler.add_noise(x0, noise, gamma=gamma)
        inp = torch.cat([x_t, masks * 2 - 1], dim=1)
        head = t <= p.fusion_max_t
        guide = guide_stack(self.config.hfah.guide_channels, x0, ir, vi, masks * 2 - 1)
        eps, fused = self.forward(inp, gamma, head, x0, guide)
        loss = stage2_loss(
            eps,
            noise,
            fused,
            ir,
            vi,
            masks[:, :1],
            masks[:, 1:2],
            timesteps,
            lambda_int=p.lambda_int,
            lambda_grad=p.lambda_grad,
            eps_kind=p.eps_loss,  # type: ignore[arg-type]
            fusion_max_t=p.fusion_max_t,
            target=p.target,  # type: ignore[arg-type]
            space=p.space,  # type: ignore[arg-type]
        )
        self.opt.zero_grad(set_to_none=True)
        loss.total.backward()
        self.opt.step()
        return {**loss.terms, "t": float(t)}
