"""sage-teacher: the SPA teacher network, its masked-image inputs and the registered method."""

from __future__ import annotations

import copy

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from samfuse.io import read_image, read_raw
from samfuse.io.checkpoint import CheckpointError
from samfuse.models import MissingWeightsError, build, list_methods
from samfuse.models.sage.spa import CrossAttention, SpatialTransformer
from samfuse.models.sage.teacher import NO_WEIGHTS, SageTeacher, SageTeacherNet, masked_image_tensors
from samfuse.pipeline import FusionPipeline
from samfuse.semantics import MaskSet, top_k_pairs
from samfuse.semantics.masked import masked_images
from samfuse.training.losses.sage import feature_loss, teacher_objective
from samfuse.training.losses.sage_features import FilterBankFeatures
from shared_paths import DATASETS

H, W = 35, 50  # odd on purpose: padded to 48×64 inside, cropped back


@pytest.fixture(scope="module")
def crop() -> dict[str, object]:
    """A real MSRS crop (IR, VIS-Y), its rank-paired threshold masks and the masked-image tensors."""
    ir = read_image(DATASETS / "MSRS/ir/00004N.png")[200 : 200 + H, 300 : 300 + W]
    vi = read_image(DATASETS / "MSRS/vi/00004N.png")[200 : 200 + H, 300 : 300 + W]
    y = (0.299 * vi[..., 0] + 0.587 * vi[..., 1] + 0.114 * vi[..., 2]).astype(np.float32)
    ir_set = MaskSet.from_masks([ir > np.quantile(ir, q) for q in (0.2, 0.5, 0.8)] + [np.zeros((H, W), bool)])
    vi_set = MaskSet.from_masks([y > np.quantile(y, q) for q in (0.3, 0.6, 0.9)] + [y < np.quantile(y, 0.1)])
    pairs = top_k_pairs(ir_set, vi_set, k=4)
    ir_t, y_t = torch.from_numpy(ir)[None, None], torch.from_numpy(y)[None, None]
    vm, im = masked_image_tensors(pairs, ir_t, y_t)
    return {"ir": ir_t, "y": y_t, "pairs": pairs, "vm": vm, "im": im}


@pytest.fixture(scope="module")
def net() -> SageTeacherNet:
    torch.manual_seed(0)
    return SageTeacherNet()


def test_parameter_count_matches_the_authors_minus_unused_layer(net: SageTeacherNet) -> None:
    # docs/sage-notes.md §2: 2,787,025 in the authors' network, of which compress_and_upsample (Conv 256→64 3×3)
    # is unused
    unused = 256 * 64 * 9 + 64
    assert unused == 147_520
    assert sum(p.numel() for p in net.parameters()) == 2_787_025 - unused == 2_639_505
    assert sum(p.numel() for p in SpatialTransformer(64).parameters()) == 91_456
    assert sum(p.numel() for p in net.spa.parameters()) == 5 * 91_456 + 4 * (128 * 64 * 9 + 64)
    assert sum(p.numel() for p in net.taps.parameters()) == 5 * (256 * 32 + 32)


def test_attention_is_scaled_dot_product_with_double_projected_context() -> None:
    torch.manual_seed(1)
    att = CrossAttention(64, heads=2, d_head=32)
    x, ck, cv = torch.randn(2, 10, 64), torch.randn(2, 7, 64), torch.randn(2, 7, 64)
    out, (k, v) = att(x, (ck, cv))
    torch.testing.assert_close(k, att.to_k(ck))
    torch.testing.assert_close(v, att.to_v(cv))
    q = att.to_q(x).view(2, 10, 2, 32).transpose(1, 2)
    kh, vh = k.view(2, 7, 2, 32).transpose(1, 2), v.view(2, 7, 2, 32).transpose(1, 2)
    weights = torch.softmax(q @ kh.transpose(-1, -2) * 32**-0.5, dim=-1)
    ref = att.to_out((weights @ vh).transpose(1, 2).reshape(2, 10, 64))
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    _, (k_self, _) = att(x)  # no context: it attends to itself and hands out its own projected keys
    torch.testing.assert_close(k_self, att.to_k(x))


def test_spatial_transformer_starts_as_identity() -> None:
    x = torch.randn(1, 64, 6, 8)
    out, _ = SpatialTransformer(64)(x)
    torch.testing.assert_close(out, x)  # zero-initialised output projection


def test_masked_images_keep_the_image_inside_each_mask(crop) -> None:
    pairs, ir, y = crop["pairs"], crop["ir"][0, 0], crop["y"][0, 0]
    assert pairs.valid.tolist() == [True, True, True, False]  # the empty IR mask at rank 3 is skipped
    im, vm = masked_images(pairs, ir.numpy(), y.numpy())  # numpy in, numpy out
    assert isinstance(im, np.ndarray) and im.shape == (4, H, W)
    for k in range(3):
        np.testing.assert_array_equal(im[k], np.where(pairs.ir[k], ir.numpy(), 0))
        np.testing.assert_array_equal(vm[k], np.where(pairs.vi[k], y.numpy(), 0))
    np.testing.assert_array_equal(im[3], ir.numpy())  # missing slot: the unmasked image
    np.testing.assert_array_equal(vm[3], y.numpy())
    torch.testing.assert_close(crop["im"][0], torch.from_numpy(im))
    torch.testing.assert_close(crop["vm"][0], torch.from_numpy(vm))


def test_masking_y_equals_the_authors_mask_then_convert() -> None:
    # authors: zero the 8-bit BGR image outside the mask, then BGR→YCrCb and take Y; ours: Y · mask
    bgr = cv2.imread(str(DATASETS / "RoadScene/vi/FLIR_00006.jpg"))
    y = cv2.cvtColor(bgr, cv2.COLOR_BGR2YCrCb)[..., 0].astype(np.float32) / 255
    mask = y > np.median(y)
    zeroed = bgr.copy()
    zeroed[~mask] = 0
    authors = cv2.cvtColor(zeroed, cv2.COLOR_BGR2YCrCb)[..., 0].astype(np.float32) / 255
    pairs = top_k_pairs(MaskSet.from_masks([mask]), MaskSet.from_masks([mask]), k=4)
    _, vm = masked_images(pairs, y, y)
    np.testing.assert_array_equal(vm[0], authors)


def test_forward_backward_odd_size_every_parameter_learns(net: SageTeacherNet, crop) -> None:
    y, ir, vm, im = crop["y"], crop["ir"], crop["vm"], crop["im"]
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    features = FilterBankFeatures()
    student = torch.rand(1, 1, H, W, generator=torch.Generator().manual_seed(3))
    s_taps = [
        torch.randn(1, 32, h, w) for h, w in ((H, W), (H // 2, W // 2), (H // 4, W // 4), (H // 2, W // 2), (H, W))
    ]
    for step in range(2):  # step 0 moves the zero-initialised projections, so step 1 reaches every weight
        opt.zero_grad()
        out, taps = net(y, ir, vm, im, return_taps=True)
        assert out.shape == (1, 1, H, W)
        assert [tuple(t.shape[-2:]) for t in taps] == [tuple(s.shape[-2:]) for s in s_taps]
        loss = teacher_objective(out, taps, student, s_taps, y, ir, vm, im, features)
        loss.total.backward()
        assert torch.isfinite(loss.total) and torch.isfinite(out).all()
        if step == 0:
            opt.step()
    no_grad = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert no_grad == []
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())


def test_taps_learn_only_from_the_feature_term(net: SageTeacherNet, crop) -> None:
    y, ir, vm, im = crop["y"], crop["ir"], crop["vm"], crop["im"]
    out, taps = net(y, ir, vm, im, return_taps=True)
    tap_params = list(net.taps.parameters())
    assert all(g is None for g in torch.autograd.grad(out.sum(), tap_params, allow_unused=True, retain_graph=True))
    s_taps = [torch.randn_like(t) for t in taps]
    student = torch.rand_like(out)
    total = teacher_objective(out, taps, student, s_taps, y, ir, vm, im, FilterBankFeatures()).total
    g_total = torch.autograd.grad(total, tap_params, retain_graph=True)
    g_fea = torch.autograd.grad(feature_loss(taps, s_taps), tap_params)
    for a, b in zip(g_total, g_fea, strict=True):
        assert b.abs().sum() > 0
        torch.testing.assert_close(a, 0.01 * b)  # the teacher step weighs L_fea by 0.01; nothing else reaches them


@pytest.mark.parametrize("size", [(8, 8), (16, 16), (17, 33)])
def test_any_size_in_same_size_out(net: SageTeacherNet, size: tuple[int, int]) -> None:
    x = torch.rand(2, 1, *size)
    with torch.no_grad():
        out = net.eval()(x, x, x.repeat(1, 4, 1, 1), x.repeat(1, 4, 1, 1))
    assert out.shape == (2, 1, *size) and torch.isfinite(out).all()


def test_method_refuses_without_weights_and_loads_a_file(
    net: SageTeacherNet, crop, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "sage-teacher" in list_methods()
    # without --weights it uses the shipped file; where that file is missing it refuses in one line
    monkeypatch.setattr("samfuse.models.sage.shipped.TEACHER", tmp_path / "not-shipped.safetensors")
    with pytest.raises(MissingWeightsError) as err:
        build("sage-teacher")
    assert str(err.value) == NO_WEIGHTS
    monkeypatch.undo()
    from safetensors.torch import save_file

    trained = copy.deepcopy(net).eval()
    with torch.no_grad():
        trained.decoder2[-2].bias.fill_(0.5)  # lift the random output into [0, 1] so the clamp is not all there is
    path = tmp_path / "teacher.safetensors"
    save_file({k: v.half() for k, v in trained.state_dict().items()}, str(path))  # half precision, as shipped later
    method = build("sage-teacher", weights=path)
    assert isinstance(method, SageTeacher) and method.needs_masks == "top_k_pairs" and method.consumes == "y"
    with torch.no_grad():
        out = method(crop["ir"], crop["y"], masks=crop["pairs"])
        ref = trained.half().float()(crop["y"], crop["ir"], crop["vm"], crop["im"])
    assert (ref > 0).float().mean() > 0.5 and (ref < 1).all()
    torch.testing.assert_close(out, ref.clamp(0, 1))
    pipe = FusionPipeline(method)
    window = (slice(200, 200 + H), slice(300, 300 + W))
    ir_raw, vi_raw = (read_raw(DATASETS / f"MSRS/{m}/00004N.png")[window] for m in ("ir", "vi"))
    fused = pipe.fuse_arrays(ir_raw, vi_raw, masks=crop["pairs"])
    assert fused.shape == (H, W, 3) and fused.min() >= 0 and fused.max() <= 1


def test_bad_weight_files_fail_with_one_line(tmp_path) -> None:
    torch.save({"conv.weight": torch.zeros(3)}, tmp_path / "other.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    cases = {
        tmp_path / "missing.pt": "no such file",
        tmp_path / "other.pt": "is missing (and 187 more); this is not a sage-teacher checkpoint",
        tmp_path / "junk.pt": "not a PyTorch checkpoint",
    }
    for path, reason in cases.items():
        with pytest.raises(CheckpointError) as err:
            build("sage-teacher", weights=path)
        msg = str(err.value)
        assert msg.startswith(str(path)) and reason in msg and "\n" not in msg


def test_masks_must_match_the_batch(crop) -> None:
    with pytest.raises(ValueError, match="batch holds 2"):
        masked_image_tensors(crop["pairs"], crop["ir"].repeat(2, 1, 1, 1), crop["y"].repeat(2, 1, 1, 1))
    vm, im = masked_image_tensors([crop["pairs"]] * 2, crop["ir"].repeat(2, 1, 1, 1), crop["y"].repeat(2, 1, 1, 1))
    assert vm.shape == im.shape == (2, 4, H, W)
    with pytest.raises(ValueError, match="sizes differ"):
        masked_images(crop["pairs"], np.zeros((H + 1, W), np.float32), np.zeros((H + 1, W), np.float32))
    assert F.mse_loss(vm[0], crop["vm"][0]) == 0
