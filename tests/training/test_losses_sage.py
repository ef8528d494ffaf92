"""SAGE's losses on hand-made tensors and real crops: values, vanishing cases, where the gradient goes."""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pytest
import torch

from samfuse.io import read_image
from samfuse.training.losses.sage import (
    contrastive_semantic_loss,
    feature_distance,
    feature_loss,
    fusion_loss,
    gradient_term,
    pixel_loss,
    student_objective,
    teacher_objective,
)
from samfuse.training.losses.sage_features import (
    FilterBankFeatures,
    SamTwoBlocks,
    load_sam_two_blocks,
    sam_two_blocks_from_state_dict,
)
from shared_paths import DATASETS

H, W = 32, 48
S = math.sqrt(1 + 1e-5)  # instance norm of a ±1 pattern divides by sqrt(var + eps)


def identity(x: torch.Tensor) -> list[torch.Tensor]:
    return [x]


@pytest.fixture(scope="module")
def batch() -> dict[str, torch.Tensor]:
    """Two real MSRS crops (B = 2): IR, Y, masked images from threshold masks, and a fake 'other network'."""
    irs, ys = [], []
    for stem, (r, c) in (("00004N", (220, 300)), ("00004N", (100, 40))):
        ir = read_image(DATASETS / f"MSRS/ir/{stem}.png")[r : r + H, c : c + W]
        vi = read_image(DATASETS / f"MSRS/vi/{stem}.png")[r : r + H, c : c + W]
        irs.append(torch.from_numpy(ir.copy()))
        ys.append(torch.from_numpy((0.299 * vi[..., 0] + 0.587 * vi[..., 1] + 0.114 * vi[..., 2]).astype(np.float32)))
    ir, y = torch.stack(irs)[:, None], torch.stack(ys)[:, None]
    qs = torch.tensor([0.2, 0.4, 0.6, 0.8])
    im = ir * (ir > torch.quantile(ir.flatten(1), qs, dim=1).T[:, :, None, None])
    vm = y * (y > torch.quantile(y.flatten(1), qs, dim=1).T[:, :, None, None])
    g = torch.Generator().manual_seed(0)
    other = (0.5 * (ir + y) + 0.05 * torch.randn(ir.shape, generator=g)).clamp(0, 1)
    return {"ir": ir, "y": y, "vm": vm, "im": im, "other": other}


def _taps(b: int, seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    sizes = ((H, W), (H // 2, W // 2), (H // 4, W // 4), (H // 2, W // 2), (H, W))
    return [torch.randn(b, 32, h, w, generator=g) for h, w in sizes]


def test_pixel_and_gradient_terms_by_hand() -> None:
    o, y, ir, ref = (torch.full((1, 1, 4, 4), v) for v in (0.5, 0.0, 1.0, 0.5))
    assert pixel_loss(o, y, ir, ref).item() == pytest.approx(3 * 0.25 + 2 * 0.25 + 4 * 0)
    assert pixel_loss(o, o, o, o).item() == 0
    # a constant image has the zero-padding border gradient S(c) = c·S(1), so G(o; y, ir) = mean|S(o) − S(ir)|
    ones = torch.ones(1, 1, 4, 4)
    from samfuse.training.losses.common import sobel_gradient

    border = sobel_gradient(ones).mean().item()
    assert gradient_term(o, y, ir, ref).item() == pytest.approx(9 * 0.5 * border + 3 * 0)
    assert gradient_term(o, o, o, o).item() == 0


def test_feature_loss_by_hand() -> None:
    a = [torch.tensor([[[[1.0, 0.0]]], [[[1.0, 2.0]]]])]  # two samples, one 1×1×2 tap
    assert feature_loss(a, a).item() == pytest.approx(0, abs=1e-7)
    assert feature_loss(a, [-a[0]]).item() == pytest.approx(2)  # cos = −1 for both
    b = [torch.tensor([[[[0.0, 3.0]]], [[[-1.0, -2.0]]]])]  # orthogonal (cos 0) and opposite (cos −1)
    assert feature_loss(a, b).item() == pytest.approx(1 - (0 - 1) / 2)
    assert feature_loss(a * 5, a * 5).item() == pytest.approx(0, abs=1e-6)  # five taps summed
    with pytest.raises(ValueError, match="taps"):
        feature_loss(a, a * 2)


def test_feature_distance_by_hand() -> None:
    a = torch.tensor([[[[0.0, 2.0, 0.0, 2.0]]]])  # IN → [−1, 1, −1, 1] / S
    b = torch.tensor([[[[2.0, 0.0, 2.0, 0.0]]]])  # IN → [1, −1, 1, −1] / S
    assert feature_distance(a, b, identity).item() == pytest.approx(4 / S)
    assert feature_distance(a, 3 * a + 1, identity).item() == pytest.approx(0, abs=1e-5)  # IN removes scale/offset
    two = feature_distance(a, b, lambda x: [x, x])
    assert two.item() == pytest.approx(8 / S)  # summed over the two feature maps
    batch = feature_distance(torch.cat((a, a)), torch.cat((b, a)), identity)
    assert batch.item() == pytest.approx(4 / S)  # Frobenius norm over the whole batch tensor: sqrt(16 + 0)


def test_contrastive_semantic_loss_by_hand() -> None:
    o = torch.tensor([[[[0.0, 2.0, 0.0, 2.0]]]])
    ref = torch.tensor([[[[2.0, 0.0, 2.0, 0.0]]]])
    y = torch.tensor([[[[0.0, 2.0, 2.0, 0.0]]]])  # IN → [−1, 1, 1, −1] / S: D(o, y) = 2√2 / S
    zero = torch.zeros(1, 4, 1, 4)
    vm = zero.clone()
    vm[:, 1] = 1.0  # one non-zero slot; the three zero slots are skipped
    cs = contrastive_semantic_loss(o, ref, y, y, vm, zero, identity)
    assert cs.item() == pytest.approx((4 / S) / (2 * math.sqrt(2) / S + 1e-7))
    assert contrastive_semantic_loss(o, ref, y, y, vm, vm, identity).item() == pytest.approx(2 * cs.item())
    assert contrastive_semantic_loss(o, o, y, y, vm, vm, identity).item() == 0  # anchor = positive
    assert contrastive_semantic_loss(o, ref, y, y, zero, zero, identity).item() == 0  # nothing to compare


def test_slot_skipped_only_when_zero_over_the_whole_batch(batch) -> None:
    o = batch["other"]
    vm = batch["vm"].clone()
    vm[0, 1] = 0  # zero for sample 0 only: still used
    vm[:, 3] = 0  # zero over the batch: skipped
    fb = FilterBankFeatures()
    cs = contrastive_semantic_loss(o, batch["y"] * 0.9, batch["y"], batch["ir"], vm, torch.zeros_like(vm), fb)
    per_slot = 0.0
    for k in (0, 1, 2):  # one slot at a time through the public distance: same as the batched computation
        m = vm[:, k : k + 1]
        pos = feature_distance(o * m, batch["y"] * 0.9 * m, fb)
        neg = feature_distance(o * m, batch["y"] * m, fb)
        per_slot += (pos / (neg + 1e-7)).item()
    assert cs.item() == pytest.approx(per_slot, rel=1e-5)


@pytest.mark.parametrize("objective", ["student", "teacher"])
def test_objectives_reach_only_the_trained_network(batch, objective: str) -> None:
    y, ir, vm, im = batch["y"], batch["ir"], batch["vm"], batch["im"]
    mine = batch["other"].clone().requires_grad_()
    theirs = (0.5 * (y + ir)).requires_grad_()  # as if it came out of the other network with a graph
    my_taps = [t.requires_grad_() for t in _taps(2, 1)]
    their_taps = [t.requires_grad_() for t in _taps(2, 2)]
    sam = SamTwoBlocks(embed_dim=48, heads=3)  # a tiny ViT: the extractor must stay frozen
    fn = student_objective if objective == "student" else teacher_objective
    loss = fn(mine, my_taps, theirs, their_taps, y, ir, vm, im, sam)
    loss.total.backward()
    assert torch.isfinite(loss.total)
    assert mine.grad is not None and mine.grad.abs().sum() > 0 and torch.isfinite(mine.grad).all()
    assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in my_taps)
    assert theirs.grad is None and all(t.grad is None for t in their_taps)
    assert all(p.grad is None and not p.requires_grad for p in sam.parameters())
    assert loss.parts["cs"].item() > 0 if objective == "student" else loss.parts["swapped_cs"].item() > 0


def test_objective_weights(batch) -> None:
    y, ir, vm, im, o = batch["y"], batch["ir"], batch["vm"], batch["im"], batch["other"]
    fb = FilterBankFeatures()
    t = 0.5 * (y + ir)
    st = student_objective(o, _taps(2, 1), t, _taps(2, 2), y, ir, vm, im, fb)
    p = st.parts
    assert p["cs"].item() > 0 and p["fea"].item() > 0
    assert st.total.item() == pytest.approx((3 * p["pix"] + 3 * p["grad"] + p["cs"] + 0.3 * p["fea"]).item(), rel=1e-6)
    fus = fusion_loss(t, y, ir, o, vm, im, fb)
    te = teacher_objective(t, _taps(2, 2), o, _taps(2, 1), y, ir, vm, im, fb)
    own = torch.nn.functional.mse_loss(t, y) + torch.nn.functional.mse_loss(t, ir)
    from samfuse.training.losses.common import gradient_loss

    own = own + 2 * gradient_loss(t, y, ir)
    assert te.total.item() == pytest.approx((own + 0.1 * fus.total + 0.01 * te.parts["fea"]).item(), rel=1e-6)
    seg = torch.tensor(2.0)
    with_seg = teacher_objective(t, _taps(2, 2), o, _taps(2, 1), y, ir, vm, im, fb, seg_loss=seg)
    assert with_seg.total.item() == pytest.approx(te.total.item() + 0.3 * 2.0, rel=1e-6)
    same = student_objective(o, _taps(2, 1), o, _taps(2, 1), y, ir, vm, im, fb)
    assert same.parts["cs"].item() == 0 and same.parts["fea"].item() == pytest.approx(0, abs=1e-5)


def test_filter_bank_shapes_and_cost_free_of_weights() -> None:
    fb = FilterBankFeatures()
    assert list(fb.parameters()) == [] and list(fb.buffers()) == []
    f1, f2 = fb(torch.rand(3, 1, 35, 50))
    assert f1.shape == (3, 8, 18, 25) and f2.shape == (3, 8, 5, 7)
    x = torch.zeros(1, 1, 16, 16)
    x[..., 8:, :] = 1  # a horizontal edge: the y-derivative responds, the x-derivative does not
    f1, _ = fb(x)
    assert f1[0, 2].abs().max() > 0.1 and f1[0, 1].abs().max() < 1e-6


@pytest.fixture(scope="module")
def sam_state() -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    """A stock-format SAM ViT-B image encoder (2 of its blocks; the other keys are ignored by the loader)."""
    from samfuse.semantics.compat import install

    install()
    from segment_anything.modeling import ImageEncoderViT

    torch.manual_seed(0)
    enc = ImageEncoderViT(
        depth=2,
        embed_dim=768,
        img_size=1024,
        mlp_ratio=4,
        norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
        num_heads=12,
        patch_size=16,
        qkv_bias=True,
        use_rel_pos=True,
        global_attn_indexes=[2, 5, 8, 11],
        window_size=14,
        out_chans=256,
    )
    for blk in enc.blocks:  # SAM initialises them to zero; give them values so a wrong mapping would show
        torch.nn.init.normal_(blk.attn.rel_pos_h, std=0.1)
        torch.nn.init.normal_(blk.attn.rel_pos_w, std=0.1)
    sd = {f"image_encoder.{k}": v for k, v in enc.state_dict().items()}
    sd["prompt_encoder.not_needed"] = torch.zeros(2)
    return enc, sd


def test_sam_two_blocks_load_a_stock_checkpoint(sam_state, tmp_path) -> None:
    enc, full = sam_state
    sd = {k: v for k, v in full.items() if not k.startswith("image_encoder.pos_embed")}
    path = tmp_path / "sam_vit_b.pth"
    torch.save(sd, path)
    model = load_sam_two_blocks(path)
    x = torch.rand(2, 1, 64, 96)
    t = enc.patch_embed(x.repeat(1, 3, 1, 1))  # the package's own blocks, without pos-embed and neck
    f0 = enc.blocks[0](t)
    f1 = enc.blocks[1](f0)
    ours = model(x)
    torch.testing.assert_close(ours[0], f0.permute(0, 3, 1, 2))
    torch.testing.assert_close(ours[1], f1.permute(0, 3, 1, 2))
    assert ours[0].shape == (2, 768, 4, 6)
    encoder_only = {k.removeprefix("image_encoder."): v for k, v in sd.items() if k.startswith("image_encoder.")}
    torch.testing.assert_close(sam_two_blocks_from_state_dict(encoder_only)(x)[1], ours[1])


def test_sam_mismatch_fails_loudly_in_one_line(sam_state) -> None:
    sd = sam_state[1]
    missing = {k: v for k, v in sd.items() if k != "image_encoder.blocks.1.attn.rel_pos_h"}
    wrong = dict(sd, **{"image_encoder.patch_embed.proj.weight": torch.zeros(1024, 3, 16, 16)})
    cases = [
        ({"patch_embed.proj.weight": torch.zeros(1)}, "no 'image_encoder.*' tensors"),
        (missing, "missing (first: image_encoder.blocks.1.attn.rel_pos_h)"),
        (wrong, "(1024, 3, 16, 16), ViT-B needs (768, 3, 16, 16)"),
    ]
    for state, reason in cases:
        with pytest.raises(ValueError) as err:
            sam_two_blocks_from_state_dict(state, "sam.pth")
        msg = str(err.value)
        assert msg.startswith("sam.pth: ") and reason in msg and "\n" not in msg


def test_contrastive_gradient_only_where_a_masked_image_is_non_zero(batch) -> None:
    o = batch["other"].clone().requires_grad_()
    vm, im = batch["vm"].clone(), batch["im"].clone()
    vm[..., :, : W // 2] = 0  # the left half is outside every mask of both modalities
    im[..., :, : W // 2] = 0
    cs = contrastive_semantic_loss(o, batch["y"] * 0.8, batch["y"], batch["ir"], vm, im, FilterBankFeatures())
    cs.backward()
    assert torch.isfinite(o.grad).all()
    assert o.grad[..., : W // 2].abs().max() == 0
    assert o.grad[..., W // 2 :].abs().sum() > 0
