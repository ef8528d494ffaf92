"""samfuse.robustness: perturbation specs, and the perturbed masks really reaching the method (a real MSRS crop,
the weight-free `regions` provider), while the mask cache keeps the unperturbed masks."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from samfuse.io import Pair, read_raw, write_image
from samfuse.models.base import FusionMethod
from samfuse.pipeline import FusionPipeline
from samfuse.robustness import Condition, parse_perturbations, run_robustness, write_outputs
from samfuse.semantics import MaskCache, MaskSource, dilate, erode, get_provider
from shared_paths import DATASETS

STEM = "00004N"
BOX = (slice(200, 296), slice(260, 388))  # 96×128: a person and a car in the MSRS night frame


def test_specs_parse_into_conditions_with_none_first() -> None:
    conds = parse_perturbations(["erode:3,5,7", "dilate:3", "drop:0.5,1"])
    assert [c.name for c in conds] == ["none", "erode-3", "erode-5", "erode-7", "dilate-3", "drop-0.5", "drop-1"]
    assert [c.label for c in conds[:2]] == ["none", "erode k=3"]
    # several specs in one string (the issue's `--perturb erode:3,5,7 dilate:3,5,7` quoted), `none` allowed
    assert parse_perturbations(["none erode:9 dilate:11"]) == [
        Condition("none"),
        Condition("erode", 9),
        Condition("dilate", 11),
    ]
    assert [c.name for c in parse_perturbations([])] == [
        "none",
        *(f"{k}-{v}" for k in ("erode", "dilate") for v in (3, 5, 7)),
    ]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("erode:4", "--perturb 'erode:4': k=4 must be an odd integer ≥ 3 (k=1 is the reference `none`)"),
        ("dilate:1", "--perturb 'dilate:1': k=1 must be an odd integer ≥ 3 (k=1 is the reference `none`)"),
        ("dilate:x", "--perturb 'dilate:x': 'x' is not a kernel size (an odd integer ≥ 3)"),
        ("drop:0", "--perturb 'drop:0': p=0 is outside (0, 1] (p=0 is the reference `none`, always included)"),
        ("drop:half", "--perturb 'drop:half': 'half' is not a probability (a number in (0, 1])"),
        ("blur:3", "--perturb 'blur:3': unknown perturbation 'blur' (use erode:K,…, dilate:K,…, drop:P,…)"),
        ("erode", "--perturb 'erode': no values (e.g. erode:3,5,7)"),
        ("erode:3,3", "--perturb 'erode:3,3': erode k=3 is given twice"),
    ],
)
def test_bad_specs_are_one_line(spec: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_perturbations([spec])
    assert str(err.value) == message


class MaskSpy(FusionMethod):
    """Averages IR and Y, and records the modality masks it was handed (the wiring is under test)."""

    needs_masks = "modality_mask"  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[np.ndarray] = []

    def forward(self, ir: torch.Tensor, vi: torch.Tensor, masks: object = None) -> torch.Tensor:
        assert isinstance(masks, torch.Tensor)
        self.seen.append(masks[0].numpy().copy())
        return (ir + vi) / 2


@pytest.fixture(scope="module")
def crop(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    root = tmp_path_factory.mktemp("robustness_crop")
    for side in ("ir", "vi"):
        (root / side).mkdir()
        write_image(root / side / f"{STEM}.png", read_raw(DATASETS / "MSRS" / side / f"{STEM}.png")[BOX])
    return Pair(STEM, root / "ir" / f"{STEM}.png", root / "vi" / f"{STEM}.png")


def test_perturbed_masks_reach_the_method_and_the_cache_keeps_the_originals(crop: Pair, tmp_path: Path) -> None:
    provider = get_provider("regions")
    source = MaskSource(provider, tmp_path / "cache")
    spy = MaskSpy()
    pipeline = FusionPipeline(spy, masks=source)
    conds = parse_perturbations(["erode:7", "dilate:3", "drop:1"])
    out = tmp_path / "study"
    result = run_robustness(pipeline, [crop], conds, out, metrics="EN,SD", progress=False, on_note=lambda _: None)
    assert result.exit_code == 0 and pipeline.masks is source  # the pipeline is given back as it was
    assert len(spy.seen) == 4
    none, eroded, dilated, dropped = (m.sum(axis=(1, 2)) for m in spy.seen)
    # both channels (M_ir, M_vis) of the SGDFuse product: fewer mask pixels eroded, more dilated, none dropped
    assert (eroded < none).all() and (dilated > none).all() and (dropped == 0).all()
    assert (none > 0).all()
    # exactly what the perturbed source gives for the pair, i.e. every mask perturbed before the product
    ir, vi = read_raw(crop.ir), read_raw(crop.vi)
    for cond, seen in zip(conds, spy.seen, strict=True):
        expected = source.with_perturb(cond.perturbation(0))("modality_mask", ir, vi)
        assert np.array_equal(seen, expected.astype(np.float32)), cond.name
    # the cache holds the provider's own masks (one entry per image), not a perturbed copy
    cache = MaskCache(tmp_path / "cache")
    stored, hit = cache.get_or_compute(ir, provider, None)
    assert hit and np.array_equal(stored.masks, provider.generate(ir).masks)
    assert len(list((tmp_path / "cache").rglob("*.npz"))) == 2
    eroded_set = source.with_perturb(conds[1].perturbation()).masks_of(ir, None)
    assert np.array_equal(eroded_set.masks, erode(stored, 7).masks)
    assert np.array_equal(
        source.with_perturb(conds[2].perturbation()).masks_of(ir, None).masks, dilate(stored, 3).masks
    )
    # one fused folder and one per-image CSV per condition; the summary rows come from those values
    for cond in conds:
        assert (out / "fused" / cond.name / f"{STEM}.png").is_file()
        rows = list(csv.DictReader((out / "metrics" / f"{cond.name}.csv").open()))
        assert [r["image"] for r in rows] == [STEM] and float(rows[0]["EN"]) > 0
    write_outputs(result, out)
    summary = list(csv.DictReader((out / "robustness.csv").open()))
    assert [(r["condition"], r["metric"]) for r in summary[:2]] == [("none", "EN"), ("none", "SD")]
    assert len(summary) == 4 * 2 and all(r["n"] == "1" for r in summary)
    ref = float(summary[0]["mean"])
    erode_en = next(r for r in summary if r["condition"] == "erode-7" and r["metric"] == "EN")
    assert float(erode_en["change_pct"]) == pytest.approx(100 * (float(erode_en["mean"]) - ref) / ref)


def test_drop_is_seeded_per_image_and_repeatable(crop: Pair, tmp_path: Path) -> None:
    source = MaskSource(get_provider("regions"), tmp_path / "cache")
    ir, vi = read_raw(crop.ir), read_raw(crop.vi)
    half = Condition("drop", 0.5)
    a = source.with_perturb(half.perturbation(0))
    full_ir, full_vi = source.masks_of(ir, None), source.masks_of(vi, None)
    kept_ir, kept_vi = a.masks_of(ir, None), a.masks_of(vi, None)
    assert 0 < len(kept_ir) < len(full_ir) and 0 < len(kept_vi) < len(full_vi)
    assert np.array_equal(kept_ir.masks, a.masks_of(ir, None).masks)  # the same drops every time
    other = source.with_perturb(half.perturbation(1)).masks_of(ir, None)
    assert not np.array_equal(other.masks, kept_ir.masks)  # another seed, other drops
