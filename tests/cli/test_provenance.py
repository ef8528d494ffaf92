"""Issue 25: every reuse is checked against what made it (samfuse.io.provenance).

The three wrong-result paths of the issue (bench reusing another weights' images, the ONNX cache keyed
``no-weights`` for shipped weights, demo reusing another method's images), stale and corrupt ONNX cache entries and
mask caches made by an older provider version. Each refusal asserts the one line it expects.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

import samfuse
from nothing_lost import Snapshot, assert_one_error
from nothing_lost import samfuse as run
from samfuse.io import read_raw
from samfuse.io.digest import file_sha256
from samfuse.io.provenance import check_record, first_difference
from shared_paths import DATASETS, REFERENCE

OFFICIAL = REFERENCE / "sage" / "sage_student_official.pt"
MRI_PET = ["11", "32"]
IR, VI = DATASETS / "RoadScene/ir/FLIR_00006.jpg", DATASETS / "RoadScene/vi/FLIR_00006.jpg"  # 500×329


def _short(path: Path) -> str:
    return f"sha256:{file_sha256(path)[:16]}…"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root with two real MRI–PET pairs (256×256)."""
    root = tmp_path_factory.mktemp("data")
    for stem in MRI_PET:
        for mod in ("mri", "pet"):
            (root / "MRI_PET" / mod).mkdir(parents=True, exist_ok=True)
            shutil.copy(DATASETS / "MRI_PET" / mod / f"{stem}.png", root / "MRI_PET" / mod)
    return root


def test_first_difference_names_the_nested_field() -> None:
    a = {"method": "sgdfuse", "masks": {"provider": "regions", "params": {"min_share": 0.001}}, "weights": None}
    b = {"method": "sgdfuse", "masks": {"provider": "regions", "params": {"min_share": 0.01}}, "weights": None}
    assert first_difference(a, b) == ("masks.params.min_share", 0.001, 0.01)
    assert first_difference(a, dict(a)) is None
    assert first_difference({"x": 1}, {"x": 1, "y": None}) is None  # an absent field reads as null


def test_bench_refuses_images_made_with_other_weights(root: Path, tmp_path: Path) -> None:
    """Issue path 1: `sage-student@A` then `sage-student@B` into the same report folder printed "0 fused, 2
    skipped", labelled the column B and showed A's numbers. Now that column is refused in one line."""
    from samfuse.models.sage.shipped import STUDENT

    out = tmp_path / "report"
    common = ("--data", "mri-pet", "--out", out, "--data-root", root)
    first = run("bench", "--methods", f"sage-student@{OFFICIAL}", *common)
    assert first.code == 0, first.stderr
    folder = out / "fused" / "sage-student" / "mri-pet"
    made = {p: p.read_bytes() for p in folder.glob("*.png")}
    assert len(made) == 2
    report_a = (out / "report.md").read_text()
    assert f"weights `sha256:{file_sha256(OFFICIAL)}`" in report_a  # the report says what made its images

    other = run("bench", "--methods", f"sage-student@{STUDENT}", *common)
    assert_one_error(
        other,
        f'sage-student: refused: {folder}: its fused images were made with weights = "{_short(OFFICIAL)}", not '
        f'"{_short(STUDENT)}"; use another --out or remove that folder',
        code=1,
    )
    assert "0 fused" not in other.stderr
    assert {p: p.read_bytes() for p in folder.glob("*.png")} == made
    report_b = (out / "report.md").read_text()
    assert "- `sage-student` left out:" in report_b and "| `sage-student` |" not in report_b

    again = run("bench", "--methods", f"sage-student@{OFFICIAL}", *common)  # the same weights: reused
    assert again.code == 0 and "sage-student on mri-pet: 0 fused, 0 failed, 2 skipped" in again.stderr


def test_bench_refuses_fused_images_without_a_record(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    folder = out / "fused" / "average" / "mri-pet"
    folder.mkdir(parents=True)
    shutil.copy(DATASETS / "MRI_PET" / "mri" / "11.png", folder / "11.png")  # not a fused image at all
    r = run("bench", "--methods", "average", "--data", "mri-pet", "--out", out, "--data-root", root)
    assert_one_error(
        r,
        f"average: refused: {folder}: holds fused images but no record of what made them (provenance.json); use "
        "another --out or remove that folder",
        code=1,
    )


def test_demo_refuses_images_of_another_method_and_overwrite_remakes_them(tmp_path: Path) -> None:
    """Issue path 3: `demo --method sage` then `demo --method laplacian` into one folder drew the sage images
    under the title "laplacian"."""
    assert run("demo", "--out", tmp_path, "--method", "sage").code == 0
    snap = Snapshot(tmp_path)
    r = run("demo", "--out", tmp_path, "--method", "laplacian")
    assert_one_error(
        r,
        f'{tmp_path / "fused"}: its fused images were made with method = "sage", not "laplacian"; use another '
        "--out or add --overwrite",
    )
    snap.assert_unchanged()  # neither the images nor the figure were touched

    r = run("demo", "--out", tmp_path, "--method", "laplacian", "--overwrite")
    assert r.code == 0 and "3 fused, 0 failed, 0 skipped" in r.stderr
    for png in (tmp_path / "fused").glob("*.png"):
        stem = png.stem
        samples = Path(str(samfuse.__file__)).parent / "samples"
        ir = read_raw(next((samples / "ir").glob(f"{stem}.*")))
        vi = read_raw(next((samples / "vi").glob(f"{stem}.*")))
        ref = np.clip(np.round(samfuse.fuse(ir, vi, method="laplacian") * 255), 0, 255).astype(np.uint8)
        assert np.array_equal(read_raw(png), ref), stem


def _fuse_onnx(out: Path, method: str = "sage") -> tuple[int, str]:
    r = run("fuse", "--ir", IR, "--vi", VI, "--out", out, "--method", method, "--backend", "onnx")
    return r.code, r.stderr


def _torch(tmp_path: Path, name: str, *weights: object) -> np.ndarray:
    out = tmp_path / name
    r = run("fuse", "--ir", IR, "--vi", VI, "--out", out, "--method", "sage-student", *weights)
    assert r.code == 0, r.stderr
    return read_raw(out / "FLIR_00006.png").astype(int)


def test_onnx_cache_follows_the_shipped_weights_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue path 2: the cache was keyed `no-weights` for shipped weights, so after the shipped `sage` weights
    changed (same samfuse version) `--backend onnx` fused with the old ones."""
    import dataclasses

    from samfuse.models.pretrained import PRETRAINED, default_tag
    from samfuse.models.sage.shipped import STUDENT

    monkeypatch.setenv("SAMFUSE_CACHE_DIR", str(tmp_path / "cache"))
    code, err = _fuse_onnx(tmp_path / "a")
    assert code == 0, err
    names = sorted(p.name for p in (tmp_path / "cache/onnx").iterdir())
    assert names == [f"sage-{file_sha256(STUDENT)[:16]}-opset17-samfuse{samfuse.__version__}.onnx"]
    a = read_raw(tmp_path / "a/FLIR_00006.png").astype(int)
    assert np.abs(a - _torch(tmp_path, "ta", "--weights", STUDENT)).max() <= 1

    tag = default_tag("sage")  # "the shipped weights changed", version unchanged
    monkeypatch.setitem(PRETRAINED, tag.name, dataclasses.replace(tag, file=str(OFFICIAL)))
    code, err = _fuse_onnx(tmp_path / "b")
    assert code == 0, err
    b = read_raw(tmp_path / "b/FLIR_00006.png").astype(int)
    assert np.abs(b - _torch(tmp_path, "tb", "--weights", OFFICIAL)).max() <= 1
    assert np.abs(a - b).max() > 10  # really other weights
    assert len(list((tmp_path / "cache/onnx").iterdir())) == 2


def test_stale_and_corrupt_onnx_cache_entries_are_exported_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from samfuse.models.sage.shipped import STUDENT

    cache = tmp_path / "cache" / "onnx"
    monkeypatch.setenv("SAMFUSE_CACHE_DIR", str(tmp_path / "cache"))
    target = cache / f"sage-{file_sha256(STUDENT)[:16]}-opset17-samfuse{samfuse.__version__}.onnx"
    want = _torch(tmp_path, "t", "--weights", STUDENT)

    # stale: a valid export of `sage` with other weights under this name
    assert run("export", "--method", "sage", "--weights", OFFICIAL, "--out", tmp_path / "o.onnx").code == 0
    cache.mkdir(parents=True)
    shutil.copy(tmp_path / "o.onnx", target)
    code, err = _fuse_onnx(tmp_path / "a")
    assert code == 0, err
    assert err.splitlines()[0] == (
        f'note: {target}: stale cache entry, made with weights = "{_short(OFFICIAL)}", not "{_short(STUDENT)}"; '
        "exporting it again"
    )
    assert np.abs(read_raw(tmp_path / "a/FLIR_00006.png").astype(int) - want).max() <= 1

    # the rebuilt entry is reused silently
    stamp = target.stat().st_mtime_ns
    code, err = _fuse_onnx(tmp_path / "b")
    assert code == 0 and "note:" not in err and target.stat().st_mtime_ns == stamp

    # corrupt: rebuilt instead of failing every run until deleted by hand
    target.write_bytes(b"truncated")
    code, err = _fuse_onnx(tmp_path / "c")
    assert code == 0, err
    first = err.splitlines()[0]
    assert first.startswith(f"note: {target}: corrupt cache entry (not a readable ONNX file (") and first.endswith(
        "); exporting it again"
    )
    assert np.abs(read_raw(tmp_path / "c/FLIR_00006.png").astype(int) - want).max() <= 1
    assert target.stat().st_size > 100_000


def test_an_onnx_file_without_the_onnx_backend_says_to_add_it(tmp_path: Path) -> None:
    onnx_file = tmp_path / "max.onnx"
    assert run("export", "--method", "max", "--out", onnx_file).code == 0
    r = run("fuse", "--ir", IR, "--vi", VI, "--out", tmp_path / "o", "--method", "max", "--weights", onnx_file)
    assert_one_error(r, f"--weights {onnx_file}: an exported ONNX file; add --backend onnx to run it")
    assert not (tmp_path / "o").exists()


def test_masks_of_an_older_provider_version_are_recomputed_with_one_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from samfuse.semantics import MaskCache, get_provider
    from samfuse.semantics.cache import StaleMasksWarning
    from samfuse.semantics.regions import RegionsProvider

    images = [read_raw(DATASETS / "MSRS" / "ir" / f"{s}.png")[200:296, 300:428] for s in ("00004N", "00081D")]
    provider = get_provider("regions")
    first = [MaskCache(tmp_path).get_or_compute(img, provider)[0] for img in images]
    folder = MaskCache(tmp_path).folder(provider)

    monkeypatch.setattr(RegionsProvider, "version", 2)
    cache = MaskCache(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = [cache.get_or_compute(img, provider) for img in images]
    stale = [str(w.message) for w in caught if issubclass(w.category, StaleMasksWarning)]
    assert stale == [
        f"mask cache {folder}: its masks were made with version = 1, not 2; they are computed again as they are needed"
    ]
    assert [hit for _, hit in got] == [False, False]  # both recomputed, the same masks (same algorithm here)
    assert all(np.array_equal(m.masks, f.masks) for (m, _), f in zip(got, first, strict=True))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert all(MaskCache(tmp_path).get_or_compute(img, provider)[1] for img in images)  # now current: hits
    assert not caught


def test_check_record_refuses_in_one_line_and_writes_when_nothing_is_there(tmp_path: Path) -> None:
    from samfuse.io.provenance import ProvenanceError

    check_record(tmp_path, {"method": "max", "weights": None}, has_outputs=False)
    check_record(tmp_path, {"method": "max", "weights": None}, has_outputs=True)
    with pytest.raises(ProvenanceError) as err:
        check_record(tmp_path, {"method": "average", "weights": None}, has_outputs=True)
    assert str(err.value) == (
        f'{tmp_path}: its fused images were made with method = "max", not "average"; use another --out or remove '
        "that folder"
    )
    (tmp_path / "provenance.json").write_text("{not json")
    with pytest.raises(ProvenanceError, match="unreadable record of what made the outputs"):
        check_record(tmp_path, {"method": "max"}, has_outputs=True)
