"""SGDFuse networks and methods on tiny configurations: shapes, ranges, gradients, padding, determinism, weights."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from samfuse.io import read_image
from samfuse.models import MissingWeightsError, build
from samfuse.models.sgdfuse import (
    HFAH,
    SGDFuseConfig,
    SGDFuseMethod,
    Stage1,
    UNet,
    UNetConfig,
    get_profile,
    hfah_for,
    load_weights,
    pad_to_multiple,
    save_weights,
)
from samfuse.models.sgdfuse.sampler import tiled_apply
from samfuse.models.sgdfuse.stage1 import transposed_attention
from shared_paths import DATASETS

TINY = get_profile("tiny")


def msrs_crop(h: int = 37, w: int = 53, y: int = 200, x: int = 300) -> tuple[torch.Tensor, torch.Tensor]:
    """A real MSRS pair (00004N) cropped: IR (1,1,h,w) and VIS (1,3,h,w) in [0, 1]."""
    ir = read_image(DATASETS / "MSRS/ir/00004N.png")[y : y + h, x : x + w]
    vi = read_image(DATASETS / "MSRS/vi/00004N.png")[y : y + h, x : x + w]
    return torch.from_numpy(ir)[None, None].float(), torch.from_numpy(vi).permute(2, 0, 1)[None].float()


def past_first_update(m: torch.nn.Module) -> torch.nn.Module:
    """Give a residual HFAH's zero-initialised output conv small non-zero weights, as after its first optimiser
    step: an untrained residual head returns F1 unchanged and passes no gradient back (tested below), so the
    tests that follow gradients, seeds or masks through the head use one that has started to learn."""
    head = m.hfah if hasattr(m, "hfah") else m
    with torch.no_grad():
        head.out_conv.weight.normal_(0.0, 0.05, generator=torch.Generator().manual_seed(1))
        head.out_conv.bias.fill_(0.01)
    return m


def all_params_have_grad(module: torch.nn.Module) -> None:
    missing = [n for n, p in module.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, missing
    zero = [n for n, p in module.named_parameters() if float(p.grad.abs().sum()) == 0.0]
    assert not zero, zero


@pytest.mark.parametrize("faithful_r", [False, True])
def test_stage1_forward_backward_range(faithful_r: bool) -> None:
    torch.manual_seed(0)
    net = Stage1(replace(TINY.stage1, faithful_r=faithful_r))
    ir, vi = msrs_crop()
    f1 = net(ir * 2 - 1, vi * 2 - 1)
    assert f1.shape == (1, 3, 37, 53)
    assert float(f1.detach().min()) >= -1 and float(f1.detach().max()) <= 1
    (f1 - vi).square().mean().backward()
    all_params_have_grad(net)
    if faithful_r:  # R's module: 1-channel enhancer, its output x + sigmoid(·) exceeds x everywhere
        enh = net.ir_enhance(ir * 2 - 1)
        assert enh.shape == ir.shape and bool((enh > ir * 2 - 1).all())


def test_transposed_attention_matches_the_plain_formula() -> None:
    """The GEMM form equals Restormer's: per head softmax(τ · normalize(q) normalize(k)ᵀ) v over (C/h, HW)."""
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 8, 6, 10, generator=gen) for _ in range(3))
    temp = torch.tensor([0.7, 1.9]).reshape(2, 1, 1)
    qh, kh, vh = (t.reshape(2, 2, 4, 60) for t in (q, k, v))
    attn = torch.softmax(F.normalize(qh, dim=-1) @ F.normalize(kh, dim=-1).transpose(-2, -1) * temp, dim=-1)
    want = (attn @ vh).reshape(2, 8, 6, 10)
    cl = [t.contiguous(memory_format=torch.channels_last) for t in (q, k, v)]
    assert torch.allclose(transposed_attention(q, k, v, 2, temp), want, atol=1e-6)
    assert torch.allclose(transposed_attention(*cl, 2, temp), want, atol=1e-6)


def test_unet_eps_and_features() -> None:
    torch.manual_seed(0)
    net = UNet(TINY.unet)
    assert net.multiple == 2
    x = torch.randn(2, 5, 16, 24)
    eps, feats = net(x, torch.tensor([0.3, 0.9]), return_features=True)
    assert eps.shape == (2, 3, 16, 24)
    assert [tuple(f.shape[1:]) for f in feats] == [(8, 16, 24), (16, 8, 12)]  # highest resolution first
    # attention at nominal resolution 8 (level 1 of image_size 16) and in the middle block, as SR3 decides
    assert net.down[2].attn is not None and net.down[0].attn is None and net.mid[0].attn is not None
    (eps.square().mean()).backward()
    all_params_have_grad(net)
    with pytest.raises(ValueError, match="multiple of 2"):
        net(torch.randn(1, 5, 15, 16), 0.5)
    # the noise level matters (the embedding reaches the output)
    with torch.no_grad():
        assert not torch.allclose(net(x, 0.2), net(x, 0.8))


def test_unet_patch_runs_at_lower_resolution() -> None:
    cfg = UNetConfig(width=8, channel_mults=(1, 2), res_blocks=1, attn_res=(), dropout=0.0, norm_groups=4, patch=2)
    net = UNet(cfg)
    assert net.multiple == 4
    eps, feats = net(torch.randn(1, 5, 16, 20), 0.5, return_features=True)
    assert eps.shape == (1, 3, 16, 20) and feats[0].shape[-2:] == (8, 10)
    head = HFAH(hfah_for(cfg, 8))
    assert head(feats).shape == (1, 3, 16, 20)


@pytest.mark.parametrize("spatial", [False, True])
@pytest.mark.parametrize("residual", [True, False])
def test_hfah_range_and_gradients(spatial: bool, residual: bool) -> None:
    torch.manual_seed(0)
    head = HFAH(hfah_for(TINY.unet, 8, spatial_attention=spatial, residual=residual))
    feats = [torch.randn(2, 8, 16, 24, requires_grad=True), torch.randn(2, 16, 8, 12, requires_grad=True)]
    anchor = torch.rand(2, 3, 16, 24) * 2 - 1
    if residual:  # the zero-initialised correction: the untrained head hands the anchor (F1) back exactly
        out = head(feats)
        assert torch.equal(out, torch.zeros_like(out)) and torch.equal(head.compose(out, anchor), anchor)
        past_first_update(head)
    out = head(feats)
    assert out.shape == (2, 3, 16, 24) and float(out.detach().abs().max()) <= 1
    fused = head.compose(out, anchor)
    assert torch.equal(fused, anchor + out if residual else out)
    fused.sum().backward()
    all_params_have_grad(head)
    assert feats[1].grad is not None and float(feats[1].grad.abs().sum()) > 0


def test_full_model_backward_reaches_every_parameter() -> None:
    """One training-like pass (ε and HFAH output), so every stage-2 parameter gets a gradient."""
    torch.manual_seed(0)
    m = build("sgdfuse", profile="tiny", random_init=True).train()
    ir, vi = msrs_crop(16, 24)
    f1 = m.stage1(ir * 2 - 1, vi * 2 - 1)
    masks = torch.zeros(1, 2, 16, 24)
    masks[:, 0, 4:10, 5:15] = 1
    noise = torch.randn_like(f1)
    gamma = torch.tensor([0.9])
    xt = m.scheduler.add_noise(f1, noise, gamma=gamma)
    eps, feats = m.unet(torch.cat([xt, masks * 2 - 1], 1), gamma, return_features=True)
    past_first_update(m)
    loss = (eps - noise).abs().mean() + (m.hfah.compose(m.hfah(feats), f1) - vi * 2 + 1).abs().mean()
    loss.backward()
    all_params_have_grad(m)


def test_refusal_without_weights_says_how_to_train(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    from samfuse.models.sgdfuse import shipped

    monkeypatch.setattr(shipped, "SGDFUSE", tmp_path / "missing.safetensors")  # as in an install without the file
    for name in ("sgdfuse-stage1", "sgdfuse"):
        with pytest.raises(MissingWeightsError) as err:
            build(name)
        msg = str(err.value)
        assert "\n" not in msg and "samfuse train sgdfuse-stage1" in msg and "samfuse train sgdfuse " in msg


def sgdfuse(**kw: object) -> torch.nn.Module:
    torch.manual_seed(0)
    return build("sgdfuse", profile="tiny", random_init=True, **kw)


def test_start_gamma_option_moves_the_sdedit_start() -> None:
    default, later = sgdfuse(), sgdfuse(start_gamma=0.99)
    assert later.config.scheduler.start_gamma == 0.99
    assert later.scheduler.sdedit_start() < default.scheduler.sdedit_start()
    with pytest.raises(ValueError, match="start_gamma"):
        sgdfuse(start_gamma=1.5)


def real_masks(h: int, w: int) -> torch.Tensor:
    m = torch.zeros(1, 2, h, w)
    m[:, 0, 10:25, 20:40] = 1  # M_ir
    m[:, 1, 5:30, 10:30] = 1  # M_vis
    return m


def test_odd_size_round_trip_range_and_determinism() -> None:
    m = past_first_update(sgdfuse())  # an untrained residual head returns F1 whatever the seed
    ir, vi = msrs_crop(37, 53)
    with torch.inference_mode():
        a = m(ir, vi, masks=real_masks(37, 53))
        b = m(ir, vi, masks=real_masks(37, 53))
    assert a.shape == (1, 3, 37, 53)
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    assert torch.equal(a, b)  # same seed → identical
    m2 = build("sgdfuse", profile="tiny", random_init=True, seed=1)
    m2.load_state_dict(m.state_dict())
    with torch.inference_mode():
        d = m2(ir, vi, masks=real_masks(37, 53))
    assert not torch.equal(a, d)  # another seed → another draw


def test_padding_is_reflect_and_cropped_back() -> None:
    x = torch.arange(2 * 5 * 7, dtype=torch.float32).reshape(1, 2, 5, 7)
    p, hw = pad_to_multiple(x, 4)
    assert p.shape == (1, 2, 8, 8) and hw == (5, 7)
    assert torch.equal(p[..., :5, :7], x) and torch.equal(p[..., 5, :7], x[..., 3, :])  # reflection
    assert pad_to_multiple(x[..., :2, :2], 8)[0].shape[-2:] == (8, 8)  # too small to reflect: replicate


def test_mask_forms_are_equivalent_and_checked() -> None:
    m = past_first_update(sgdfuse())  # an untrained residual head returns F1 whatever the masks
    ir, vi = msrs_crop(24, 32)
    t = real_masks(24, 32)
    arrays = (t[0, 0].numpy().astype(bool), t[0, 1].numpy().astype(bool))
    with torch.inference_mode():
        ref = m(ir, vi, masks=t)
        assert torch.equal(ref, m(ir, vi, masks=arrays))
        assert torch.equal(ref, m(ir, vi, masks={"ir": arrays[0], "vis": arrays[1]}))
        assert torch.equal(ref, m(ir, vi, masks=t[0]))
        # the masks reach the output (semantic guidance is live)
        assert not torch.equal(ref, m(ir, vi, masks=torch.zeros_like(t)))
    with pytest.raises(ValueError, match="needs modality_mask"):
        m(ir, vi)
    with pytest.raises(ValueError, match=r"masks are \(10, 10\)"):
        m(ir, vi, masks=np.zeros((2, 10, 10), bool))


def test_ablations() -> None:
    ir, vi = msrs_crop(24, 32)
    full = sgdfuse()
    no_guidance = sgdfuse(guidance=False)
    assert full.needs_masks == "modality_mask" and no_guidance.needs_masks is None
    no_guidance.load_state_dict(full.state_dict())
    with torch.inference_mode():
        # no guidance = empty mask channels (−1 everywhere at the U-Net)
        assert torch.equal(no_guidance(ir, vi), full(ir, vi, masks=torch.zeros(1, 2, 24, 32)))
        stage1_alone = sgdfuse(diffusion=False)
        assert stage1_alone.needs_masks is None
        stage1_alone.load_state_dict(full.state_dict())
        s1 = build("sgdfuse-stage1", profile="tiny", random_init=True)
        s1.stage1.load_state_dict(full.stage1.state_dict())
        assert torch.equal(stage1_alone(ir, vi), s1(ir, vi))
        no_hfah = sgdfuse(use_hfah=False)
        no_hfah.load_state_dict(full.state_dict())
        a, b = no_hfah(ir, vi, masks=real_masks(24, 32)), full(ir, vi, masks=real_masks(24, 32))
        assert a.shape == b.shape and not torch.allclose(a, b)
        assert float(a.min()) >= 0 and float(a.max()) <= 1


def test_weights_round_trip(tmp_path) -> None:
    m = sgdfuse(steps=2)
    path = tmp_path / "sgdfuse_tiny.safetensors"
    save_weights(path, m, m.config)
    cfg, tensors = load_weights(path)
    assert isinstance(cfg, SGDFuseConfig) and cfg == m.config and set(tensors) == set(m.state_dict())
    back = build("sgdfuse", weights=path)
    s1 = build("sgdfuse-stage1", weights=path)  # stage 1 alone from the full file
    ir, vi = msrs_crop(24, 32)
    with torch.inference_mode():
        assert torch.equal(back(ir, vi, masks=real_masks(24, 32)), m(ir, vi, masks=real_masks(24, 32)))
        assert torch.equal(s1(ir, vi), sgdfuse(diffusion=False, steps=2).eval()(ir, vi))
    s1_file = tmp_path / "stage1.safetensors"
    save_weights(s1_file, s1, m.config)  # a stage-1 file: sgdfuse-stage1 loads it, sgdfuse says what is missing
    assert torch.equal(build("sgdfuse-stage1", weights=s1_file)(ir, vi), s1(ir, vi))
    with pytest.raises(ValueError, match="stage 1 only"):
        build("sgdfuse", weights=s1_file)
    (tmp_path / "junk.safetensors").write_bytes(b"not a file")
    with pytest.raises(ValueError, match="junk.safetensors"):
        build("sgdfuse", weights=tmp_path / "junk.safetensors")
    with pytest.raises(ValueError, match="no such weights file"):
        build("sgdfuse", weights=tmp_path / "missing.safetensors")


def test_tiling_blends_exactly_and_runs_the_sampler() -> None:
    x = torch.randn(1, 5, 40, 56)
    out = tiled_apply(lambda t: [t[:, :3] * 2, t[:, 3:].sum(1, keepdim=True)], x, tile=16, overlap=4)
    assert torch.allclose(out[0], x[:, :3] * 2, atol=1e-6) and torch.allclose(
        out[1], x[:, 3:].sum(1, keepdim=True), atol=1e-6
    )
    m = sgdfuse(tile=16, tile_overlap=4)
    ir, vi = msrs_crop(37, 53)
    with torch.inference_mode():
        a = m(ir, vi, masks=real_masks(37, 53))
    assert a.shape == (1, 3, 37, 53) and torch.isfinite(a).all()


def test_bfloat16_option_stays_close() -> None:
    ir, vi = msrs_crop(24, 32)
    ref, half = sgdfuse(), sgdfuse(precision="bfloat16")
    with torch.inference_mode():
        a, b = ref(ir, vi, masks=real_masks(24, 32)), half(ir, vi, masks=real_masks(24, 32))
    assert b.dtype == torch.float32 and float((a - b).abs().max()) < 0.05


def test_profiles_build_and_match() -> None:
    for name in ("cpu", "paper"):
        cfg = get_profile(name)
        assert SGDFuseConfig.from_json(cfg.to_json()) == cfg
    paper = get_profile("paper")
    assert (paper.unet.width, paper.unet.channel_mults, paper.unet.res_blocks) == (64, (1, 2, 4, 8), 2)
    assert (paper.unet.attn_res, paper.unet.dropout, paper.sampler.steps, paper.hfah.dim) == ((16,), 0.2, 60, 64)


def test_an_untrained_residual_stage2_returns_f1_exactly() -> None:
    """Issue 24: the refiner cannot do worse than its input at the start: with the zero-initialised HFAH
    correction, sgdfuse (any seed, any masks, any start) is sgdfuse-stage1 bit for bit (a size the U-Net needs no
    padding for, so both run stage 1 on the same pixels)."""
    ir, vi = msrs_crop(96, 128, y=192, x=256)
    for profile in ("tiny", "cpu"):
        torch.manual_seed(0)
        full = build("sgdfuse", profile=profile, random_init=True, start_gamma=0.86, seed=3).eval()
        assert full.config.hfah.residual
        s1 = build("sgdfuse-stage1", profile=profile, random_init=True)
        s1.stage1.load_state_dict(full.stage1.state_dict())
        with torch.inference_mode():
            want = s1(ir, vi)
            assert torch.equal(full(ir, vi, masks=real_masks(96, 128)), want)
            assert torch.equal(full(ir, vi, masks=torch.zeros(1, 2, 96, 128)), want)
            # the sampler's own sample (the no-HFAH ablation) is not anchored: it differs
            no_hfah = build("sgdfuse", profile=profile, random_init=True, use_hfah=False, start_gamma=0.86)
            no_hfah.load_state_dict(full.state_dict())
            assert not torch.equal(no_hfah(ir, vi, masks=real_masks(96, 128)), want)


def test_configs_stored_before_issue_24_read_as_the_replacing_head_with_visible_chroma() -> None:
    import json

    new = get_profile("cpu")
    assert new.hfah.residual and new.chroma == "visible"
    assert SGDFuseConfig.from_json(new.to_json()) == new
    old = json.loads(new.to_json())
    del old["hfah"]["residual"], old["chroma"]  # what a file written before the keys existed holds
    cfg = SGDFuseConfig.from_json(json.dumps(old))
    assert not cfg.hfah.residual and cfg.chroma == "visible"
    assert not HFAH(cfg.hfah).out_conv.weight.eq(0).all()  # R's head keeps PyTorch's default init
    with pytest.raises(ValueError, match="chroma"):
        replace(new, chroma="rgb")


@pytest.mark.parametrize("name", ["sgdfuse-stage1", "sgdfuse"])
def test_chroma_visible_keeps_the_visible_cb_cr(name: str) -> None:
    from samfuse.io.colour import split_luma

    ir, vi = msrs_crop(48, 64, y=200, x=300)
    kw = {"profile": "tiny", "random_init": True}
    torch.manual_seed(0)
    visible = build(name, **kw)
    network = build(name, chroma="network", **kw)
    network.load_state_dict(visible.state_dict())
    masks = {"masks": real_masks(48, 64)} if name == "sgdfuse" else {}
    with torch.inference_mode():
        a, b = visible(ir, vi, **masks), network(ir, vi, **masks)
    assert a.shape == b.shape == (1, 3, 48, 64) and float(a.min()) >= 0 and float(a.max()) <= 1
    y_a, cbcr_a = split_luma(a)
    y_b, cbcr_b = split_luma(b)
    unclipped = ((a > 1e-4) & (a < 1 - 1e-4)).all(1, keepdim=True)  # where merging Y and chroma needed no clip
    assert float(unclipped.float().mean()) > 0.5
    cbcr_vi = split_luma(vi)[1]
    assert float(((cbcr_a - cbcr_vi).abs() * unclipped).max()) < 1e-5  # the visible chroma, exactly
    assert float(((y_a - y_b).abs() * unclipped).max()) < 1e-5  # the networks' luminance, exactly
    assert float((cbcr_b - cbcr_vi).abs().mean()) > 1e-3  # the networks' own chroma differs


def test_a_guided_hfah_reads_the_sources_and_still_starts_at_f1() -> None:
    """Issue 24's second deviation: the head also reads [F1, IR, visible] at full resolution (space-to-depth'd by
    the U-Net's patch); untrained it still hands F1 back, it refuses a missing guide, and the guide reaches it."""
    torch.manual_seed(0)
    cfg = replace(get_profile("cpu").hfah, guide_channels=7)  # the cpu profile's patch 2: pixel_unshuffle path
    head = HFAH(cfg)
    feats = [torch.randn(1, c, 8, 12) for c in cfg.in_channels]
    feats = [F.avg_pool2d(f, 2**i) if i else f for i, f in enumerate(feats)]
    guide = (torch.rand(1, 7, 16, 24) * 2 - 1).requires_grad_(True)
    anchor = guide[:, :3].detach()
    assert torch.equal(head.compose(head(feats, guide), anchor), anchor)
    with pytest.raises(ValueError, match="7-channel guide, got none"):
        head(feats)
    past_first_update(head)
    out = head(feats, guide)
    assert out.shape == (1, 3, 16, 24)
    out.sum().backward()
    assert guide.grad is not None and float(guide.grad.abs().sum()) > 0
    other = guide.detach().clone()
    other[:, 3:] = -other[:, 3:]  # other sources, same features: another correction
    assert not torch.allclose(head(feats, other), out.detach())


def test_a_guided_sgdfuse_round_trips_and_tiles(tmp_path) -> None:  # noqa: ANN001
    torch.manual_seed(0)
    cfg = replace(TINY, hfah=replace(TINY.hfah, guide_channels=9))
    m = past_first_update(SGDFuseMethod(cfg)).eval()
    ir, vi = msrs_crop(37, 53)
    path = tmp_path / "guided.safetensors"
    save_weights(path, m, cfg)
    assert load_weights(path)[0].hfah.guide_channels == 9
    back = build("sgdfuse", weights=path)
    tiled = build("sgdfuse", weights=path, tile=16, tile_overlap=4)
    with torch.inference_mode():
        a = m(ir, vi, masks=real_masks(37, 53))
        assert torch.equal(back(ir, vi, masks=real_masks(37, 53)), a)
        b = tiled(ir, vi, masks=real_masks(37, 53))
        # the 9-channel guide carries the masks to the head as well: other masks, another image
        assert not torch.equal(m(ir, vi, masks=torch.zeros(1, 2, 37, 53)), a)
    assert a.shape == b.shape == (1, 3, 37, 53) and torch.isfinite(b).all()
    with pytest.raises(ValueError, match="guide_channels must be one of"):
        replace(TINY.hfah, guide_channels=5)
