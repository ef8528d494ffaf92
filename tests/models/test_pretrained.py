"""Named weights (samfuse.models.pretrained): every shipped tag is in the package with its sha256, loads, and the
authors' student converted to safetensors reproduces the authors' checkpoint exactly."""

from __future__ import annotations

import numpy as np
import pytest

import samfuse
from samfuse.io import read_raw
from samfuse.io.digest import file_sha256
from samfuse.models import build, list_methods
from samfuse.models.pretrained import PRETRAINED, UnknownWeightsError, default_tag, resolve, tags_of
from shared_paths import DATASETS, REFERENCE

AUTHORS_PT = REFERENCE / "sage" / "sage_student_official.pt"


@pytest.mark.parametrize("name", sorted(PRETRAINED))
def test_every_tag_ships_with_its_sha256_and_loads(name: str) -> None:
    p = PRETRAINED[name]
    assert p.path.is_file(), p.path
    assert file_sha256(p.path) == p.sha256
    assert p.method in list_methods() and p.licence and p.source and p.data and p.recipe
    method = build(p.method, weights=name)
    assert method is not None


def test_one_default_per_method_and_the_default_is_used_without_weights() -> None:
    for method in list_methods():
        assert sum(p.default for p in PRETRAINED.values() if p.method == method) <= 1
    assert build("sage").weights_path == str(default_tag("sage").path)
    assert resolve("sage", None) is None  # the builder loads its default
    assert resolve("sage", "authors") == PRETRAINED["sage.authors"].path == resolve("sage-student", "sage.authors")
    assert [p.name for p in tags_of("sage")][0] == default_tag("sage").name


def test_unknown_name_is_one_line_listing_the_tags() -> None:
    with pytest.raises(UnknownWeightsError) as err:
        build("sage", weights="sage.nope")
    assert str(err.value) == (
        "--weights sage.nope: not a file nor a weights name of sage ("
        + ", ".join(p.name for p in tags_of("sage"))
        + ")"
    )


@pytest.mark.parametrize("color", ["ycbcr", "opencv"])
def test_authors_tag_reproduces_the_authors_checkpoint_exactly(color: str) -> None:
    ir = read_raw(DATASETS / "MSRS" / "ir" / "00004N.png")[:200, :280]
    vi = read_raw(DATASETS / "MSRS" / "vi" / "00004N.png")[:200, :280]
    tagged = samfuse.fuse(ir, vi, method="sage", weights="sage.authors", color=color)
    original = samfuse.fuse(ir, vi, method="sage-student", weights=AUTHORS_PT, color=color)
    assert tagged.dtype == original.dtype and np.array_equal(tagged, original)
    assert not np.array_equal(tagged, samfuse.fuse(ir, vi, method="sage", color=color))  # another set of weights
