"""The ``sam`` provider end to end with seeded random-weight checkpoints in the official format.

Real checkpoints cannot be had offline; a random model of the same architecture exercises the same code a
user's checkpoint takes (file -> sha256 -> torch.load(weights_only) -> load_state_dict -> generator), and
times the same.  A random model's masks mean nothing, so the thresholds are lowered to keep them all.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from samfuse.io import read_raw
from samfuse.io.checkpoint import CheckpointError
from samfuse.semantics import MaskCache, MaskSet, ProviderError, get_provider, provider_key, sam
from samfuse.semantics.compat import install
from shared_paths import DATASETS

# every prompt kept: no quality filter, no box NMS (a random model gives near-identical boxes)
KEEP_ALL = {"pred_iou_thresh": 0.0, "stability_score_thresh": 0.0, "box_nms_thresh": 1.0}


def _save_random(model: str, path: Path, seed: int) -> Path:
    install()
    if model == "vit_t":
        from mobile_sam import sam_model_registry
    else:
        from segment_anything import sam_model_registry
    torch.manual_seed(seed)
    net = sam_model_registry[model]()
    torch.save(net.state_dict(), path)  # the official format: a plain state dict
    return path


@pytest.fixture(scope="module")
def vit_t_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save_random("vit_t", tmp_path_factory.mktemp("ckpt") / "mobile_sam_random.pt", seed=0)


@pytest.fixture(scope="module")
def crop() -> np.ndarray:
    """A 120x160 crop of a real MSRS night IR image (grey, uint8) around a pedestrian; no resampling."""
    return read_raw(DATASETS / "MSRS/ir/00004N.png")[180:300, 440:600]


def _check_masks(masks: MaskSet, shape: tuple[int, int]) -> None:
    assert len(masks) > 1
    assert masks.masks.dtype == np.bool_ and masks.masks.shape[1:] == shape
    areas = masks.areas
    assert np.all(areas[:-1] >= areas[1:]) and areas[-1] > 0
    assert np.all(np.isfinite(masks.scores))


def test_vit_t_end_to_end_with_cache(vit_t_checkpoint: Path, crop: np.ndarray, tmp_path: Path) -> None:
    provider = get_provider("sam", checkpoint=vit_t_checkpoint, points_per_side=4, **KEEP_ALL)
    assert provider.model_name == "vit_t"
    assert "not a known official file" in provider.checkpoint_note
    assert provider.params()["points_per_side"] == 4 and provider.params()["crop_n_layers"] == 0

    cache = MaskCache(tmp_path / "masks")
    masks, cached = cache.get_or_compute(crop, provider, top_k=20)
    assert not cached
    _check_masks(masks, crop.shape)
    assert len(masks) == 20  # 16 prompts x 3 outputs = 48 masks, the 20 largest kept

    # a grey image and its 3-channel copy give the same masks (IR is replicated for SAM)
    rgb = np.repeat(crop[:, :, None], 3, axis=2)
    assert np.array_equal(provider.generate(rgb).masks[:20], masks.masks)

    # reloaded from the cache without running the model
    def boom(*_: object) -> None:
        raise AssertionError("the generator ran on a cache hit")

    provider.generator.generate = boom  # type: ignore[method-assign]
    again, cached = cache.get_or_compute(crop, provider, top_k=20)
    assert cached
    assert np.array_equal(again.masks, masks.masks) and np.array_equal(again.scores, masks.scores)
    assert cache.get(crop, provider, top_k=4).masks.shape == (4, *crop.shape)
    assert cache.get(crop, provider, top_k=None) is None  # only 20 of 48 were kept: not complete


def test_vit_b_end_to_end(tmp_path: Path, crop: np.ndarray) -> None:
    """ViT-B through the official segment_anything package (one encoder pass, about a minute on 2 cores)."""
    ckpt = _save_random("vit_b", tmp_path / "sam_vit_b_random.pth", seed=1)
    provider = get_provider("sam", checkpoint=ckpt, model="vit_b", points_per_side=2, **KEEP_ALL)
    assert provider.model_name == "vit_b"
    assert type(provider.net.image_encoder).__module__.startswith("segment_anything.")
    small = crop[::2, ::2].copy()  # 60x80
    cache = MaskCache(tmp_path / "masks")
    masks, cached = cache.get_or_compute(small, provider)
    assert not cached
    _check_masks(masks, small.shape)
    assert len(masks) == 12  # 4 prompts x 3 outputs
    ckpt.unlink()  # 375 MB
    again, cached = cache.get_or_compute(small, provider)
    assert cached and np.array_equal(again.masks, masks.masks)


def test_known_checkpoint_is_reported(vit_t_checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    digest = sam.file_sha256(vit_t_checkpoint)
    fake = sam.KnownCheckpoint("vit_t", "mobile_sam.pt", digest, None, "https://example.invalid")
    monkeypatch.setattr(sam, "KNOWN_CHECKPOINTS", (*sam.KNOWN_CHECKPOINTS, fake))
    provider = get_provider("sam", checkpoint=vit_t_checkpoint)
    assert provider.checkpoint_note.endswith("official mobile_sam.pt (sha256 verified)")
    # the same parameters spelled differently give the same cache key; another value another key
    a = get_provider("sam", checkpoint=vit_t_checkpoint, pred_iou_thresh=0, points_per_side=8.0)
    b = get_provider("sam", checkpoint=vit_t_checkpoint, pred_iou_thresh=0.0, points_per_side=8)
    c = get_provider("sam", checkpoint=vit_t_checkpoint, pred_iou_thresh=0.1, points_per_side=8)
    assert provider_key(a) == provider_key(b) != provider_key(c)

    # SAGE's BGR quirk on request: the generator sees the channels reversed, and the key differs
    bgr = get_provider("sam", checkpoint=vit_t_checkpoint, channel_order="bgr")
    seen: list[np.ndarray] = []
    bgr.generator.generate = lambda img: seen.append(img) or []  # type: ignore[method-assign]
    colour = np.zeros((4, 5, 3), np.uint8)
    colour[..., 0] = 200
    assert len(bgr.generate(colour)) == 0 and seen[0][0, 0].tolist() == [0, 0, 200]
    assert provider_key(bgr) != provider_key(provider)
    assert "channel_order" not in provider.params()
    assert provider.model == f"vit_t:{digest[:16]}"


def test_model_mismatch_and_bad_files(vit_t_checkpoint: Path, tmp_path: Path) -> None:
    # another SAM model's file: its names and shapes match vit_t, so --model vit_t is suggested
    with pytest.raises(CheckpointError) as info:
        get_provider("sam", checkpoint=vit_t_checkpoint, model="vit_b")
    assert str(info.value) == (
        f"{vit_t_checkpoint}: tensor 'image_encoder.pos_embed' is missing (and 170 more); this is not a SAM vit_b "
        "checkpoint; it holds a vit_t model: pass --model vit_t"
    )
    # arbitrary pickled objects are refused, never unpickled
    evil = tmp_path / "evil.pt"
    with open(evil, "wb") as f:
        pickle.dump({"image_encoder.x": Path("/")}, f, protocol=2)
    with pytest.raises(CheckpointError, match=r"evil.pt: not a state dict \(a pickled object"):
        get_provider("sam", checkpoint=evil)
    # a state dict of another model family: no SAM name, no --model suggestion
    other = tmp_path / "other.pt"
    torch.save({"weight": torch.zeros(3)}, other)
    with pytest.raises(CheckpointError) as info:
        get_provider("sam", checkpoint=other)
    assert (
        str(info.value)
        == f"{other}: not a SAM or MobileSAM checkpoint (no tensor has a SAM name; the first is 'weight')"
    )
    # a vit_t state dict with one tensor missing: named, and no other model to suggest
    sd = torch.load(vit_t_checkpoint, map_location="cpu", weights_only=True)
    sd.pop("mask_decoder.iou_token.weight")
    part = tmp_path / "part.pt"
    torch.save(sd, part)
    with pytest.raises(CheckpointError) as info:
        get_provider("sam", checkpoint=part)
    assert (
        str(info.value)
        == f"{part}: tensor 'mask_decoder.iou_token.weight' is missing; this is not a SAM vit_t checkpoint"
    )
    assert "--model" not in str(info.value)


def test_missing_checkpoint_is_one_clear_line(tmp_path: Path) -> None:
    for kwargs in ({}, {"checkpoint": tmp_path / "nope.pt"}):
        with pytest.raises(ProviderError) as info:
            get_provider("sam", **kwargs)
        msg = str(info.value)
        assert "\n" not in msg
        assert "--checkpoint" in msg and "MobileSAM" in msg and "regions, thermal" in msg
    with pytest.raises(ProviderError, match="unknown sam preset"):
        get_provider("sam", checkpoint=tmp_path / "x", preset="huge")


def test_presets() -> None:
    assert sam.PRESETS["sage"] == {
        "points_per_side": 128,
        "pred_iou_thresh": 0.86,
        "stability_score_thresh": 0.92,
        "crop_n_layers": 1,
        "crop_n_points_downscale_factor": 2,
        "min_mask_region_area": 100,
    }
    assert sam.PRESETS["fast"]["points_per_side"] == 16 and sam.PRESETS["fast"]["crop_n_layers"] == 0
    assert sam.PRESETS["default"]["points_per_side"] == 32
    assert {k.model for k in sam.KNOWN_CHECKPOINTS} == set(sam.MODELS)
