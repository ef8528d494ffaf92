"""Masks reach a method through the pipeline: `samfuse fuse --masks PROVIDER`, `FusionPipeline(masks=...)` and
`samfuse.fuse(mask_provider=...)` compute each image's masks through the shared cache and hand the method the product
it declares in ``needs_masks`` (here the SAGE teacher, ``top_k_pairs``, with seeded random weights: the wiring is
under test, not the fusion quality)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import samfuse
from nothing_lost import Snapshot, assert_one_error
from nothing_lost import samfuse as run_cli
from samfuse.io import read_raw, write_image
from samfuse.models.sage.teacher import SageTeacherNet
from samfuse.pipeline import FusionPipeline
from samfuse.semantics import MaskSource, get_provider, top_k_pairs
from shared_paths import DATASETS

STEMS = ("00004N", "00107D")
BOX = (slice(200, 248), slice(300, 364))  # 48×64, a pedestrian-rich area of the MSRS frames


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fuse_masks")
    for side in ("ir", "vi"):
        (root / side).mkdir()
        for stem in STEMS:
            write_image(root / side / f"{stem}.png", read_raw(DATASETS / "MSRS" / side / f"{stem}.png")[BOX])
    torch.manual_seed(0)
    net = SageTeacherNet()
    for p in net.parameters():  # the zero-initialised transformer outputs would hide the masked inputs
        p.data.add_(0.01 * torch.randn_like(p))
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(root / "teacher.safetensors"))
    return {"root": root, "ir": root / "ir", "vi": root / "vi", "weights": root / "teacher.safetensors"}


def _entries(cache: Path) -> list[Path]:
    return sorted(cache.rglob("*.npz"))


def test_fuse_with_masks_uses_and_fills_the_shared_cache(data: dict[str, Path], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    # `samfuse masks` fills the cache for both folders first; `fuse` must reuse those entries, not add its own
    for side in ("ir", "vi"):
        assert run_cli("masks", "--images", data[side], "--out", cache, "--provider", "thermal").code == 0
    before = _entries(cache)
    assert len(before) == 2 * len(STEMS)
    snap = Snapshot(data["ir"], data["vi"])
    args = ["--ir", data["ir"], "--vi", data["vi"], "--method", "sage-teacher", "--weights", data["weights"]]
    run = run_cli("fuse", *args, "--out", tmp_path / "out", "--masks", "thermal", "--mask-cache", cache)
    assert run.code == 0, run.stderr
    assert _entries(cache) == before  # every mask came from the cache
    for stem in STEMS:
        out = read_raw(tmp_path / "out" / f"{stem}.png")
        assert out.shape == (48, 64, 3)
    snap.assert_unchanged()


def test_pipeline_masks_equal_the_method_given_the_product_by_hand(data: dict[str, Path], tmp_path: Path) -> None:
    ir = read_raw(data["ir"] / f"{STEMS[0]}.png")
    vi = read_raw(data["vi"] / f"{STEMS[0]}.png")
    provider = get_provider("thermal")
    source = MaskSource(provider, tmp_path / "cache")
    pipeline = FusionPipeline("sage-teacher", data["weights"], masks=source)
    auto = pipeline.fuse_arrays(ir, vi)
    # by hand: the same provider's masks, paired SAGE's way, handed over as MaskPairs (the method's own form)
    pairs = top_k_pairs(provider.generate(ir), provider.generate(vi), k=4)
    manual = FusionPipeline("sage-teacher", data["weights"]).fuse_arrays(ir, vi, masks=pairs)
    assert np.array_equal(auto, manual)
    # not vacuous: the crop holds real mask pairs, so the two forms had masks to agree on
    assert pairs.valid.any()
    assert len(_entries(tmp_path / "cache")) == 2  # computed once per image, stored


def test_python_api_takes_the_mask_options(data: dict[str, Path], tmp_path: Path) -> None:
    ir = read_raw(data["ir"] / f"{STEMS[1]}.png")
    vi = read_raw(data["vi"] / f"{STEMS[1]}.png")
    out = samfuse.fuse(
        ir, vi, method="sage-teacher", weights=data["weights"], mask_provider="thermal", mask_cache=tmp_path / "c"
    )
    assert out.shape == (48, 64, 3) and np.isfinite(out).all()
    assert len(_entries(tmp_path / "c")) == 2


def test_masks_follow_resize_to(data: dict[str, Path], tmp_path: Path) -> None:
    """With --resize-to, the masks are computed on the images as fused, so they match the fused size."""
    ir_small = tmp_path / "ir"
    ir_small.mkdir()
    stem = STEMS[0]
    write_image(ir_small / f"{stem}.png", read_raw(data["ir"] / f"{stem}.png")[::2, ::2])  # 24×32
    run = run_cli(
        "fuse", "--ir", ir_small / f"{stem}.png", "--vi", data["vi"] / f"{stem}.png", "--out", tmp_path / "out",
        "--method", "sage-teacher", "--weights", data["weights"], "--masks", "thermal",
        "--mask-cache", tmp_path / "cache", "--resize-to", "vi",
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert read_raw(tmp_path / "out" / f"{stem}.png").shape == (48, 64, 3)


def test_mask_option_errors_are_one_line(data: dict[str, Path], tmp_path: Path) -> None:
    base = ["fuse", "--ir", data["ir"], "--vi", data["vi"], "--out", tmp_path / "out"]
    teacher = ["--method", "sage-teacher", "--weights", data["weights"]]
    assert_one_error(run_cli(*base, *teacher, "--masks", "nope"), "unknown mask provider 'nope'", exact=False)
    assert_one_error(
        run_cli(*base, *teacher, "--masks", "thermal", "--mask-checkpoint", data["weights"]),
        "--mask-checkpoint: only with --masks sam (not thermal)",
    )
    assert_one_error(
        run_cli(*base, *teacher, "--masks", "thermal", "--mask-cache", data["ir"]), f"{data['ir']}", exact=False
    )
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    # a method without masks: the options are ignored with one warning, and it fuses
    run = run_cli(*base, "--method", "average", "--masks", "thermal")
    assert run.code == 0 and "uses no masks" in run.stderr
