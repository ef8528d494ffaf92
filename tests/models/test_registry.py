"""Registry-wide contract tests: every registered method builds and honours the I/O contract."""

from __future__ import annotations

import pytest
import torch

from samfuse.models import FusionMethod, MissingWeightsError, build, list_methods, register


def build_for_contract(name: str) -> FusionMethod:
    """The method as shipped, or, when it needs trained weights, untrained in its ``tiny`` profile."""
    try:
        return build(name)
    except MissingWeightsError:
        return build(name, random_init=True, profile="tiny")


def masks_for(method: FusionMethod, batch: int, size: tuple[int, int], gen: torch.Generator) -> object:
    if method.needs_masks == "modality_mask":
        return torch.rand(batch, 2, *size, generator=gen) > 0.7
    return None


@pytest.mark.parametrize("name", sorted(list_methods()))
@pytest.mark.parametrize("size", [(37, 53), (64, 64)])
def test_every_method_keeps_size_and_range(name: str, size: tuple[int, int]) -> None:
    method = build_for_contract(name)
    assert isinstance(method, FusionMethod) and not method.training
    assert method.consumes in ("y", "rgb")
    gen = torch.Generator().manual_seed(0)
    ir = torch.rand(2, 1, *size, generator=gen)
    vi = torch.rand(2, 1 if method.consumes == "y" else 3, *size, generator=gen)
    with torch.inference_mode():
        out = method(ir, vi, masks=masks_for(method, 2, size, gen))
    assert out.shape == vi.shape
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


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
