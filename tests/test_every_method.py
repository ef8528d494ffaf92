"""Every registered method, one spec, four entry points, one image (issue 22).

Each method is run with the same spec through ``samfuse fuse``, ``samfuse eval --data``, ``samfuse bench`` and
``samfuse.fuse`` on a real 64×64 MSRS crop, and the four fused images must be identical to the last bit (the uint8
PNGs the commands write, ``to_uint8`` of what the API returns). All four build the pipeline with
:func:`samfuse.assembly.build`, so a method that needs masks gets the default provider (``regions``) in each of them;
before, ``eval`` built no mask source and failed every pair of ``sage-teacher``.

A method that cannot be built at all is listed in ``REFUSED`` (none: ``sage-rt`` ships ``sage-rt.temporal`` now);
a method built without weights when it has no default ones (``WITHOUT_WEIGHTS``) gives the same one-line refusal in
the library and the command (checked); a newly registered method fails :func:`test_every_method_is_covered` until
it is added here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import samfuse
from nothing_lost import samfuse as run
from samfuse.assembly import BuildError, PipelineSpec, build
from samfuse.io import read_raw, to_uint8, write_image
from samfuse.models import list_methods
from shared_paths import DATASETS

STEM = "00004N"
BOX = (slice(200, 264), slice(300, 364))  # 64×64 with pedestrians: the masks are not empty

#: method → (weights, method options as text): the spec every entry point gets.
SPECS: dict[str, tuple[str | None, dict[str, str]]] = {
    "average": (None, {}),
    "laplacian": (None, {}),
    "max": (None, {}),
    "sage": (None, {}),
    "sage-rt": (None, {}),  # the shipped default weights, sage-rt.temporal
    "sage-student": ("authors", {}),  # no default weights: the authors' tag
    "sage-teacher": (None, {}),  # needs masks: `regions` by default everywhere
    "seafusion": (None, {}),
    "sgdfuse": (None, {"steps": "1"}),  # needs masks; one sampling step keeps it to a second
    "sgdfuse-stage1": (None, {}),
}
#: method → the start of the one-line refusal it gives whatever it is given (none now).
REFUSED: dict[str, str] = {}
#: method without default weights → the start of the one-line refusal it gives when built with no weights.
WITHOUT_WEIGHTS: dict[str, str] = {"sage-student": "--method sage-student: sage-student needs weights"}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root whose ``msrs`` is one real 64×64 crop."""
    root = tmp_path_factory.mktemp("every_method")
    for side in ("ir", "vi"):
        write_image(root / "MSRS" / side / f"{STEM}.png", read_raw(DATASETS / "MSRS" / side / f"{STEM}.png")[BOX])
    return root


@pytest.fixture(autouse=True)
def cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands' default mask cache (and any other cache) in a temporary folder, not the user's."""
    monkeypatch.setenv("SAMFUSE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "samfuse-cache"))


def _args(method: str) -> list[str]:
    weights, options = SPECS[method]
    params = [a for k, v in options.items() for a in ("--param", f"{k}={v}")]
    return (["--weights", weights] if weights is not None else []) + params


@pytest.fixture(scope="module")
def bench(root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One bench over every method (``METHOD@WEIGHTS`` where a spec names weights; ``--param`` goes to the methods
    that take it)."""
    out = tmp_path_factory.mktemp("bench")
    methods = [m if SPECS[m][0] is None else f"{m}@{SPECS[m][0]}" for m in SPECS]
    params = [a for m in SPECS for k, v in SPECS[m][1].items() for a in ("--param", f"{k}={v}")]
    mp = pytest.MonkeyPatch()
    mp.setenv("SAMFUSE_CACHE_DIR", str(out / "cache"))
    try:
        r = run("bench", "--methods", ",".join(methods), "--data", "msrs", "--data-root", root, "--out", out,
                "--metrics", "EN", *params)  # fmt: skip
    finally:
        mp.undo()
    assert r.code == 0, r.stderr
    return out / "fused"


def test_every_method_is_covered() -> None:
    assert set(list_methods()) == set(SPECS) | set(REFUSED), "add the new method to SPECS (or REFUSED, with why)"
    assert not set(SPECS) & set(REFUSED)


@pytest.mark.parametrize("method", sorted(WITHOUT_WEIGHTS))
def test_a_method_without_weights_is_the_same_one_line_refusal(method: str, root: Path, tmp_path: Path) -> None:
    with pytest.raises(BuildError) as err:
        build(PipelineSpec(method))
    assert str(err.value).startswith(WITHOUT_WEIGHTS[method]) and "\n" not in str(err.value)
    r = run("fuse", "--ir", root / "MSRS/ir", "--vi", root / "MSRS/vi", "--out", tmp_path / "o", "--method", method)
    assert r.code == 2 and r.errors == [f"error: {err.value}"]


@pytest.mark.parametrize("method", sorted(SPECS))
def test_one_spec_gives_one_image_everywhere(method: str, root: Path, bench: Path, tmp_path: Path) -> None:
    ir, vi = root / "MSRS/ir", root / "MSRS/vi"
    r = run("fuse", "--ir", ir, "--vi", vi, "--out", tmp_path / "fuse", "--method", method, *_args(method))
    assert r.code == 0, r.stderr
    r = run("eval", "--data", "msrs", "--data-root", root, "--method", method, *_args(method),
            "--fused", tmp_path / "eval", "--metrics", "EN")  # fmt: skip
    assert r.code == 0, r.stderr
    weights, options = SPECS[method]
    api = samfuse.fuse(read_raw(ir / f"{STEM}.png"), read_raw(vi / f"{STEM}.png"), method=method, weights=weights,
                       method_options=options)  # fmt: skip
    images = {
        "fuse": read_raw(tmp_path / "fuse" / f"{STEM}.png"),
        "eval": read_raw(tmp_path / "eval" / f"{STEM}.png"),
        "bench": read_raw(bench / method / "msrs" / f"{STEM}.png"),
        "samfuse.fuse": to_uint8(api),
    }
    assert images["fuse"].dtype == np.uint8 and images["fuse"].shape == (64, 64, 3)
    for way, img in images.items():
        assert np.array_equal(img, images["fuse"]), f"{method}: {way} differs from fuse"
