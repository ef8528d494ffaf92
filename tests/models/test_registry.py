"""Registry-wide contract tests: every registered method builds and honours the I/O contract.

Methods with weights are built from the real weights listed in ``WEIGHTS`` (a method that needs weights and is
missing there fails ``test_every_method_builds``: add its file, never random weights).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from samfuse.io import read_raw
from samfuse.io.checkpoint import CheckpointError
from samfuse.models import FusionMethod, MissingWeightsError, build, list_methods, register
from samfuse.pipeline import FusionPipeline
from samfuse.semantics import MaskSet, MaskSource, get_provider, top_k_pairs
from shared_paths import DATASETS, REFERENCE

#: Real weights for the methods that need them.
WEIGHTS: dict[str, Path] = {"sage-student": REFERENCE / "sage" / "sage_student_official.pt"}
METHODS = sorted(list_methods())
#: Build options for the untrained contract checks of methods that have no weights yet.
UNTRAINED: dict[str, dict[str, object]] = {"sgdfuse": {"profile": "tiny"}, "sgdfuse-stage1": {"profile": "tiny"}}
WITH_WEIGHTS = [m for m in METHODS if m in WEIGHTS]

_built: dict[str, FusionMethod] = {}
_untrained: set[str] = set()


def built(name: str) -> FusionMethod:
    """The method with its real weights (``WEIGHTS``) or as shipped; a method whose weights exist nowhere yet must
    refuse in one line (:class:`MissingWeightsError`), and is then checked untrained (``random_init``, in its
    ``tiny`` profile where it has one): the I/O contract does not depend on the weights."""
    if name not in _built:
        try:
            _built[name] = build(name, weights=WEIGHTS.get(name))
        except MissingWeightsError as err:
            assert name not in WEIGHTS and "\n" not in str(err)
            _built[name] = build(name, random_init=True, **UNTRAINED.get(name, {}))
            _untrained.add(name)
    return _built[name]


def _masks(product: str | None, ir: torch.Tensor, vi: torch.Tensor) -> object:
    """The mask product a method declares, from threshold masks of each image (None when it needs none)."""
    if product is None:
        return None
    if product == "top_k_pairs":
        pairs = []
        for a, b in zip(ir[:, 0].numpy(), vi.mean(1).numpy(), strict=True):
            ms_a = MaskSet.from_masks([a > np.quantile(a, q) for q in (0.25, 0.5, 0.75)])
            ms_b = MaskSet.from_masks([b > np.quantile(b, q) for q in (0.25, 0.5, 0.75)])
            pairs.append(top_k_pairs(ms_a, ms_b, k=4))
        return pairs
    if product == "modality_mask":
        gen = torch.Generator().manual_seed(1)
        return torch.rand(ir.shape[0], 2, *ir.shape[-2:], generator=gen) > 0.7
    raise AssertionError(f"no contract-test masks for the {product!r} product")


@pytest.mark.parametrize("name", METHODS)
def test_every_method_builds(name: str) -> None:
    method = built(name)
    assert isinstance(method, FusionMethod) and not method.training
    assert method.consumes in ("y", "rgb")


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("size", [(37, 53), (64, 64)])
def test_every_method_keeps_size_and_range(name: str, size: tuple[int, int]) -> None:
    method = built(name)
    gen = torch.Generator().manual_seed(0)
    ir = torch.rand(2, 1, *size, generator=gen)
    vi = torch.rand(2, 1 if method.consumes == "y" else 3, *size, generator=gen)
    masks = _masks(method.needs_masks, ir, vi)
    with torch.inference_mode():
        out = method(ir, vi, masks=masks)
        raw = method.forward_raw(ir, vi, masks=masks)
    assert out.shape == vi.shape and raw.shape == vi.shape
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("color", ["ycbcr", "opencv"])
def test_every_method_on_real_grey_and_colour_crops_of_odd_size(name: str, color: str) -> None:
    """RoadScene (colour visible, odd 329×500 frames) and TNO (grey visible), cropped to odd sizes."""
    method = built(name)
    # a method that needs masks gets them through the pipeline's mask source (weight-free provider, no cache)
    source = MaskSource(get_provider("thermal")) if method.needs_masks else None
    pipeline = FusionPipeline(method, color=color, masks=source)
    box = (slice(11, 88), slice(5, 106))  # 77×101
    colour_ir = read_raw(DATASETS / "RoadScene/ir/FLIR_00018.jpg")[box]
    colour_vi = read_raw(DATASETS / "RoadScene/vi/FLIR_00018.jpg")[box]
    grey_ir = read_raw(DATASETS / "TNO/ir/01.png")[box]
    grey_vi = read_raw(DATASETS / "TNO/vi/01.png")[box]
    out_colour = pipeline.fuse_arrays(colour_ir, colour_vi)
    out_grey = pipeline.fuse_arrays(grey_ir, grey_vi)
    assert out_colour.shape == (77, 101, 3)
    # ycbcr keeps grey as grey; the authors' path writes RGB for a grey visible image too
    assert out_grey.shape == ((77, 101) if color == "ycbcr" else (77, 101, 3))
    for out in (out_colour, out_grey):
        values = out.astype(np.float32) / (255 if out.dtype == np.uint8 else 1)
        assert values.min() >= 0 and values.max() <= 1
        if name not in _untrained:  # a trained method shows the scene; an untrained one may be flat
            assert values.std() > 0.01
    assert pipeline.fuse_arrays(colour_ir, colour_vi).tobytes() == out_colour.tobytes()  # deterministic


def _bad_files(tmp: Path, good: Path) -> dict[str, tuple[Path, str]]:
    """Bad weight files made from the method's real file, each with the reason the error must give."""
    state = torch.load(good, weights_only=True, map_location="cpu")
    first = next(iter(state))
    cases: dict[str, tuple[Path, str]] = {}
    renamed = {("renamed." + k if k == first else k): v for k, v in state.items()}
    torch.save(renamed, tmp / "keys.pt")
    cases["wrong keys"] = (tmp / "keys.pt", f"tensor '{first}' is missing")
    bigger = dict(state)
    bigger[first] = torch.zeros(*(d + 1 for d in state[first].shape))
    torch.save(bigger, tmp / "shape.pt")
    cases["wrong shape"] = (tmp / "shape.pt", f"tensor '{first}' has shape")
    data = good.read_bytes()
    (tmp / "cut.pt").write_bytes(data[: len(data) // 3])
    cases["truncated"] = (tmp / "cut.pt", "truncated or corrupt")
    torch.save(torch.nn.Conv2d(1, 1, 1), tmp / "module.pt")
    cases["pickled module"] = (tmp / "module.pt", "not a state dict")
    torch.save([v for v in state.values()], tmp / "list.pt")
    cases["a list"] = (tmp / "list.pt", "not a state dict")
    (tmp / "empty.pt").touch()
    cases["empty"] = (tmp / "empty.pt", "empty file")
    shutil.copy(DATASETS / "TNO/ir/01.png", tmp / "photo.pt")
    cases["an image"] = (tmp / "photo.pt", "not a PyTorch checkpoint")
    return cases


@pytest.mark.parametrize("name", WITH_WEIGHTS)
def test_bad_checkpoint_files_are_one_line_naming_the_file(name: str, tmp_path: Path) -> None:
    for case, (path, reason) in _bad_files(tmp_path, WEIGHTS[name]).items():
        with pytest.raises(CheckpointError) as err:
            build(name, weights=path)
        text = str(err.value)
        assert text.startswith(f"{path}: ") and reason in text and "\n" not in text, case


@pytest.mark.parametrize("name", WITH_WEIGHTS)
def test_methods_with_weights_refuse_to_run_without(name: str) -> None:
    with pytest.raises(ValueError, match="needs weights"):
        build(name)


def test_descriptions_are_one_line() -> None:
    for name, description in list_methods().items():
        assert description and "\n" not in description, name


def test_unknown_method_lists_the_known_ones() -> None:
    with pytest.raises(KeyError, match="laplacian"):
        build("no-such-method")


def test_double_registration_is_refused() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register("average", "again")(lambda weights=None: None)


def test_baselines_refuse_weights() -> None:
    with pytest.raises(ValueError, match="no weights"):
        build("average", weights="something.safetensors")


def test_method_options_and_unknown_options_are_refused_by_name() -> None:
    from samfuse.models import method_options

    assert method_options("average") == ["ir_weight"]
    assert {"steps", "seed", "guidance", "diffusion", "use_hfah"} <= set(method_options("sgdfuse"))
    with pytest.raises(ValueError, match=r"method 'average' has no option 'steps' \(options: ir_weight\)"):
        build("average", steps=3)
    assert build("average", ir_weight=0.25).ir_weight == 0.25
