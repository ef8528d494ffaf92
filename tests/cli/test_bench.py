"""`samfuse bench` end to end on real pairs of two datasets (MSRS with its detection labels, MRI–PET):
the report's numbers are `samfuse eval`'s, a rerun fuses nothing, outside folders and detections join."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from nothing_lost import samfuse as run
from samfuse.bench.labels import Box, read_yolo
from samfuse.bench.salience import box_contrast
from shared_paths import DATASETS

MSRS = ["00004N", "00008N", "00055D"]  # two night pairs, one day pair; people, cars
MRI_PET = ["11", "32"]
METHODS = ["average", "laplacian"]


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, object]:
    """A data root with real pairs of two datasets (and the MSRS labels), and one bench run over it."""
    tmp = tmp_path_factory.mktemp("bench")
    root = tmp / "root"
    for stem in MSRS:
        for mod in ("ir", "vi"):
            (root / "MSRS" / mod).mkdir(parents=True, exist_ok=True)
            shutil.copy(DATASETS / "MSRS" / mod / f"{stem}.png", root / "MSRS" / mod)
        for labels in ("infrared", "visible", "fusion"):
            (root / "MSRS" / "detection" / labels).mkdir(parents=True, exist_ok=True)
            shutil.copy(DATASETS / "MSRS" / "detection" / labels / f"{stem}.txt", root / "MSRS" / "detection" / labels)
    for stem in MRI_PET:
        for mod in ("mri", "pet"):
            (root / "MRI_PET" / mod).mkdir(parents=True, exist_ok=True)
            shutil.copy(DATASETS / "MRI_PET" / mod / f"{stem}.png", root / "MRI_PET" / mod)
    out = tmp / "report"
    args = ("--methods", ",".join(METHODS), "--data", "msrs,mri-pet", "--out", out, "--data-root", root)
    r = run("bench", *args, "--jobs", "2")  # one spawn pool for all cells; eval below runs in-process
    return root, out, r


def values(out: Path) -> list[dict[str, str]]:
    with open(out / "values.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_bench_reports_the_numbers_samfuse_eval_gives(bench, tmp_path: Path) -> None:
    root, out, r = bench
    assert r.code == 0, r.stderr
    assert not r.errors
    rows = values(out)
    report = (out / "report.md").read_text()
    for ds, folder, mods, stems in (
        ("msrs", "MSRS", ("ir", "vi"), MSRS),
        ("mri-pet", "MRI_PET", ("mri", "pet"), MRI_PET),
    ):
        for method in METHODS:
            fused = out / "fused" / method / ds
            assert sorted(p.stem for p in fused.glob("*.png")) == sorted(stems)
            csv_path = tmp_path / f"{method}-{ds}.csv"
            e = run("eval", "--ir", root / folder / mods[0], "--vi", root / folder / mods[1], "--fused", fused,
                    "--out", csv_path)  # fmt: skip
            assert e.code == 0, e.stderr
            with open(csv_path, newline="") as fh:
                ref = {row["image"]: row for row in csv.DictReader(fh)}
            got = {(x["item"], x["statistic"]): x["value"] for x in rows
                   if x["table"] == "image" and x["dataset"] == ds and x["method"] == method}  # fmt: skip
            metrics = [k for k in ref[stems[0]] if k != "image"]
            assert len(metrics) == 12
            for stem in stems:
                for m in metrics:
                    assert got[(m, stem)] == ref[stem][m], (ds, method, stem, m)  # the same float, bit for bit
            # the mean/std in report.md are those of eval's table
            for m in ("EN", "VIF", "Qabf"):
                v = np.array([float(ref[s][m]) for s in stems])
                assert f"| {m} | {v.mean():.4f} | {v.std():.4f} | {len(stems)} |" in e.stdout
                assert f"{v.mean():.4f} ± {v.std():.4f}" in report
    # one table per dataset with best-in-bold and ranks, a figure per dataset, speed and salience sections
    assert report.count("| method | n | EN ↑ |") == 2
    assert "**" in report and "| mean rank | rank |" in report
    for ds in ("msrs", "mri-pet"):
        assert (out / "figures" / f"{ds}.jpg").stat().st_size > 10_000
        assert f"](figures/{ds}.jpg)" in report
    assert "## Speed" in report and "| `laplacian` | msrs | 640x480 | 3 |" in report
    assert "## Salience of labelled targets" in report
    assert "YOLOv5 detector retrained on each method" in report and "--detections average=" in report


def test_salience_rows_count_the_labelled_boxes(bench) -> None:
    _, out, _ = bench
    rows = [x for x in values(out) if x["table"] == "salience" and x["statistic"] == "boxes"]
    night_people = sum(
        1
        for s in MSRS
        if s.endswith("N")
        for b in read_yolo(DATASETS / "MSRS/detection/infrared" / f"{s}.txt", 640, 480)
        if b.cls == 0
    )
    got = {(x["method"], x["item"]): float(x["value"]) for x in rows}
    assert got[("IR", "person/night")] == got[("average", "person/night")] == night_people == 17
    ratio = {(x["method"], x["item"]): float(x["value"]) for x in values(out) if x["statistic"] == "ratio_ir"}
    assert ratio[("IR", "person/night")] == 1.0
    # averaging halves the IR contrast of warm pedestrians at night (the visible image adds almost none)
    assert 0.3 < ratio[("average", "person/night")] < 0.6


def test_box_contrast_is_the_target_to_ring_difference() -> None:
    img = np.full((60, 80), 50.0)
    img[20:30, 30:40] = 200.0
    assert box_contrast(img, Box(0, 30, 20, 10, 10)) == 150.0
    img[16:34, 26:44][img[16:34, 26:44] == 50.0] = 80.0  # the ring (half the smaller side = 5 -> 4 px... 5 px)
    assert box_contrast(img, Box(0, 30, 20, 10, 10)) == pytest.approx(200.0 - (80 * 224 + 50 * (400 - 100 - 224)) / 300)
    assert box_contrast(img, Box(0, 0, 0, 1, 1)) is None


def test_a_rerun_fuses_nothing(bench, monkeypatch: pytest.MonkeyPatch) -> None:
    root, out, _ = bench
    from samfuse.pipeline import FusionPipeline

    before = {p: p.stat().st_mtime_ns for p in (out / "fused").rglob("*.png")}
    timing = (out / "timing.json").read_text()

    def no_build(*args: object, **kwargs: object) -> None:
        raise AssertionError("a rerun built a pipeline")

    monkeypatch.setattr(FusionPipeline, "__init__", no_build)
    r = run("bench", "--methods", ",".join(METHODS), "--data", "msrs,mri-pet", "--out", out, "--data-root", root)
    assert r.code == 0, r.stderr
    assert r.stderr.count("0 fused, 0 failed, 3 skipped") == 2 and r.stderr.count("0 fused, 0 failed, 2 skipped") == 2
    assert {p: p.stat().st_mtime_ns for p in (out / "fused").rglob("*.png")} == before
    assert (out / "timing.json").read_text() == timing
    assert "| `average` | mri-pet | 256x256 | 2 |" in (out / "report.md").read_text()  # timings kept


def test_outside_folders_join_and_a_method_without_weights_is_one_line(bench, tmp_path: Path) -> None:
    root, out, _ = bench
    mine = tmp_path / "mine"
    shutil.copytree(out / "fused" / "laplacian" / "msrs", mine / "msrs")  # only MSRS: left out of mri-pet
    rep = tmp_path / "rep"
    r = run("bench", "--methods", "average,sage-student", "--fused", f"mine={mine}", "--data", "msrs,mri-pet",
            "--out", rep, "--data-root", root)  # fmt: skip
    assert r.code == 1  # sage-student could not run
    assert len(r.errors) == 1 and r.errors[0].startswith("error: sage-student: refused: sage-student needs weights")
    assert "Traceback" not in r.stderr
    rows = values(rep)
    lap = {(x["item"], x["statistic"]): x["value"] for x in values(out)
           if x["table"] == "image" and x["dataset"] == "msrs" and x["method"] == "laplacian"}  # fmt: skip
    got = {(x["item"], x["statistic"]): x["value"] for x in rows
           if x["table"] == "image" and x["dataset"] == "msrs" and x["method"] == "mine"}  # fmt: skip
    assert got == lap and len(got) == 36
    assert not any(x["method"] == "mine" and x["dataset"] == "mri-pet" for x in rows)
    assert "no fused image of mri-pet" in r.stderr
    report = (rep / "report.md").read_text()
    assert "| `mine` | 3 |" in report and "`sage-student` left out: sage-student needs weights" in report


def _write(folder: Path, lines: dict[str, list[str]]) -> Path:
    folder.mkdir(parents=True)
    for stem, ls in lines.items():
        (folder / f"{stem}.txt").write_text("".join(f"{line}\n" for line in ls))
    return folder


def test_detections_from_the_labels_give_ap_1_and_shifted_boxes_known_lower_values(bench, tmp_path: Path) -> None:
    root, out, _ = bench
    exact, half, fifth = {}, {}, {}
    for stem in MSRS:
        lines = (DATASETS / "MSRS/detection/fusion" / f"{stem}.txt").read_text().splitlines()
        boxes = [line.split() for line in lines if line.split()]
        exact[stem] = [" ".join(b) + " 0.9" for b in boxes]
        half[stem] = [f"{b[0]} {float(b[1]) + float(b[3]) / 2:.6f} {b[2]} {b[3]} {b[4]} 0.9" for b in boxes]
        fifth[stem] = [f"{b[0]} {float(b[1]) + float(b[3]) / 5:.6f} {b[2]} {b[3]} {b[4]} 0.9" for b in boxes]
    args = []
    for name, d in (("labels", exact), ("half", half), ("fifth", fifth)):
        args += ["--detections", f"{name}={_write(tmp_path / name, d)}"]
    r = run("bench", "--methods", "average", "--data", "msrs", "--out", out, "--data-root", root, *args)
    assert r.code == 0, r.stderr
    ap = {(x["method"], x["item"], x["statistic"]): float(x["value"] or "nan") for x in values(out)
          if x["table"] == "detection"}  # fmt: skip
    for cls in ("person", "car", "mean"):  # the three pairs hold people and cars, no bicycle
        assert ap[("labels", cls, "AP50")] == 1.0 and ap[("labels", cls, "AP50:95")] == 1.0
        # IoU of a box with itself moved by half its width: (w/2)h / (2wh - (w/2)h) = 1/3 < 0.5: no match
        assert ap[("half", cls, "AP50")] == 0.0 and ap[("half", cls, "AP50:95")] == 0.0
        # by a fifth: IoU 0.8/1.2 = 2/3: a match at IoU 0.50, 0.55, 0.60, 0.65 (4 of the 10 thresholds)
        assert ap[("fifth", cls, "AP50")] == 1.0 and ap[("fifth", cls, "AP50:95")] == pytest.approx(0.4)
    assert np.isnan(ap[("labels", "bicycle", "AP50")])
    assert "| `labels` | 3 |" in (out / "report.md").read_text()


def test_an_output_inside_a_data_folder_is_refused_up_front(bench) -> None:
    root, _, _ = bench
    r = run("bench", "--methods", "average", "--data", "msrs", "--out", root / "MSRS" / "ir", "--data-root", root)
    assert r.code == 2 and len(r.errors) == 1 and str(root / "MSRS" / "ir") in r.errors[0]


def test_demo_fuses_the_shipped_samples_and_draws_the_figure(tmp_path: Path) -> None:
    from importlib import resources

    import samfuse
    from samfuse.io import read_raw

    samples = Path(str(resources.files("samfuse") / "samples"))
    files = [p for p in samples.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 400_000
    note = (samples / "SAMPLES.md").read_text()
    stems = sorted({p.stem for p in (samples / "ir").iterdir()})
    assert stems == ["mri-pet_11", "msrs_00008N", "roadscene_FLIR_00006"]
    assert all(f"`{s}`" in note for s in stems) and "licence" in note and "downscaled" in note

    r = run("demo", "--out", tmp_path)
    assert r.code == 0, r.stderr
    assert "3 fused, 0 failed, 0 skipped" in r.stderr
    assert (tmp_path / "demo.jpg").stat().st_size > 10_000
    for s in stems:
        ir, vi = read_raw(next((samples / "ir").glob(f"{s}.*"))), read_raw(next((samples / "vi").glob(f"{s}.*")))
        got = read_raw(tmp_path / "fused" / f"{s}.png")
        ref = np.clip(np.round(samfuse.fuse(ir, vi) * 255), 0, 255).astype(np.uint8)  # the default method
        assert got.shape == ref.shape and np.array_equal(got, ref), s


def test_a_method_that_needs_masks_gets_them_through_the_mask_source(bench, tmp_path, monkeypatch) -> None:
    """sage-teacher (untrained here: no weights exist) fuses MRI–PET with `thermal` masks from the cache."""
    import samfuse.pipeline as pipeline_module

    root, _, _ = bench
    real = pipeline_module.build
    monkeypatch.setattr(pipeline_module, "build", lambda name, *a, **kw: real(name, *a, random_init=True, **kw))
    cache, rep = tmp_path / "cache", tmp_path / "rep"
    r = run("bench", "--methods", "sage-teacher", "--masks", "thermal", "--mask-cache", cache, "--data", "mri-pet",
            "--out", rep, "--data-root", root)  # fmt: skip
    assert r.code == 0, r.stderr
    assert "sage-teacher on mri-pet: 2 fused, 0 failed, 0 skipped" in r.stderr
    assert len([p for p in cache.rglob("*") if p.is_file()]) >= 4  # IR and PET masks of both pairs
    assert "| `sage-teacher` | mri-pet | 256x256 | 2 |" in (rep / "report.md").read_text()
    assert "| 2,639,505 |" in (rep / "report.md").read_text()


def test_method_at_weights_selects_the_weights(bench, tmp_path: Path) -> None:
    """`sage-student@FILE` fuses with the authors' weights, exactly as `samfuse fuse --weights FILE`; a missing
    file is one refusal line naming it."""
    from samfuse.io import read_raw
    from shared_paths import REFERENCE

    root, _, _ = bench
    weights = REFERENCE / "sage" / "sage_student_official.pt"
    rep = tmp_path / "rep"
    r = run("bench", "--methods", f"sage-student@{weights},sage-student@{tmp_path / 'nope.pt'}", "--data", "mri-pet",
            "--out", rep, "--data-root", root)  # fmt: skip
    assert r.code == 1 and len(r.errors) == 1
    assert r.errors[0].startswith("error: sage-student@nope: refused:") and "nope.pt" in r.errors[0]
    f = run("fuse", "--ir", root / "MRI_PET" / "mri", "--vi", root / "MRI_PET" / "pet", "--out", tmp_path / "f",
            "--method", "sage-student", "--weights", weights)  # fmt: skip
    assert f.code == 0, f.stderr
    for stem in MRI_PET:
        got = read_raw(rep / "fused" / "sage-student@sage_student_official" / "mri-pet" / f"{stem}.png")
        assert np.array_equal(got, read_raw(tmp_path / "f" / f"{stem}.png"))
    report = (rep / "report.md").read_text()
    assert "| 134,529 |" in report  # the module as it runs: 135,617 in training form, BN folded into the convs
    assert f"Command: `samfuse bench --methods sage-student@{weights},sage-student@{tmp_path / 'nope.pt'} " in report


def test_columns_name_their_weights_by_tag_or_file_stem() -> None:
    from samfuse.bench.runner import parse_methods

    names = [
        s.name
        for s in parse_methods("sage,sage@sage.authors,sage-student@runs/a/student.safetensors,sage-student@b.pt")
    ]
    assert names == ["sage", "sage@sage.authors", "sage-student@student", "sage-student@b"]
