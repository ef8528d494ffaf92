"""Issue 14, "nothing lost, no traceback": one test per class of bad or unusual input.

Every test asserts the one-line message, the exit code, that no input changed (hashes before and after) and that
complete outputs survive (tests/nothing_lost.py). Small real crops (MSRS, 96×128) keep them fast.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import samfuse
from nothing_lost import Snapshot, assert_one_error
from nothing_lost import samfuse as run
from samfuse.io import read_raw, write_image
from shared_paths import DATASETS

STEMS = ("00004N", "00081D")


def crop(side: str, stem: str) -> np.ndarray:
    """A 96×128 crop of a real MSRS image (IR grey, visible colour), no resampling."""
    return read_raw(DATASETS / "MSRS" / side / f"{stem}.png")[200:296, 300:428]


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    """A dataset root with TNO/ir and TNO/vi holding two real crops each (so `--data tno` finds them)."""
    for side in ("ir", "vi"):
        folder = tmp_path / "datasets" / "TNO" / side
        folder.mkdir(parents=True)
        for stem in STEMS:
            write_image(folder / f"{stem}.png", crop(side, stem))
    return tmp_path / "datasets"


@pytest.fixture()
def fused(root: Path, tmp_path: Path) -> Path:
    """Complete outputs of a good run, which no later bad run may touch."""
    out = tmp_path / "fused"
    assert run("fuse", "--ir", root / "TNO/ir", "--vi", root / "TNO/vi", "--out", out).code == 0
    assert sorted(p.name for p in out.iterdir()) == [f"{s}.png" for s in STEMS] + ["provenance.json"]
    return out


# --- an output that is an input -----------------------------------------------------------------------------


def test_an_output_that_is_an_input_is_refused_up_front(root: Path, fused: Path, tmp_path: Path) -> None:
    ir, vi = root / "TNO/ir", root / "TNO/vi"
    (tmp_path / "vi_link").symlink_to(vi)
    snap = Snapshot(root, fused)
    fuse = ("fuse", "--ir", ir, "--vi", vi, "--overwrite", "--out")
    cases = [
        ((*fuse, vi), f"{vi}: --out is the input folder {vi} (--vi); choose another folder"),
        ((*fuse, tmp_path / "vi_link"), f"{tmp_path / 'vi_link'}: --out is the input folder {vi} (--vi); choose"),
        ((*fuse, ir / ".." / "vi"), f"{ir / '..' / 'vi'}: --out is the input folder {vi} (--vi); choose"),
        (("fuse", "--ir", vi / "00004N.png", "--vi", vi / "00004N.png", "--out", vi), f"{vi}: --out is the input"),
        (("masks", "--images", ir, "--out", tmp_path / "m", "--preview", ir), f"{ir}: --preview is the input folder"),
        (("masks", "--images", ir, "--out", f"{ir}/"), f"{ir}: --out is the input folder {ir} (--images); choose"),
        (
            ("eval", "--data", "tno", "--data-root", root, "--method", "average", "--fused", vi),
            f"{vi}: --fused is the input folder {vi} (--data tno, vi); choose another folder",
        ),
    ]
    for args, message in cases:
        assert_one_error(run(*args), message, exact=False)
        assert run(*args).errors[0].startswith(f"error: {message}")
    assert not (tmp_path / "m").exists()  # refused before any mask was computed
    snap.assert_unchanged()


# --- value ranges per modality ------------------------------------------------------------------------------


def test_value_ranges_apply_per_modality_and_a_mismatch_warns_once(tmp_path: Path, fused: Path) -> None:
    """The documented case: 14-bit thermal in 16-bit files beside 8-bit visible images."""
    ir16, ir8, vi = tmp_path / "ir16", tmp_path / "ir8", tmp_path / "vi"
    for folder in (ir16, ir8, vi):
        folder.mkdir()
    for stem in STEMS:
        write_image(ir8 / f"{stem}.png", crop("ir", stem))
        write_image(ir16 / f"{stem}.png", crop("ir", stem).astype(np.uint16) * 64)  # 0..16320
        write_image(vi / f"{stem}.png", crop("vi", stem))
    snap = Snapshot(ir16, ir8, vi, fused)

    r = run("fuse", "--ir", ir8, "--vi", vi, "--out", tmp_path / "ref")
    assert r.code == 0 and not r.warnings
    r = run("fuse", "--ir", ir16, "--vi", vi, "--out", tmp_path / "o", "--ir-range", "0,16383")
    assert r.code == 0 and not r.warnings, r.stderr
    for stem in STEMS:
        got = read_raw(tmp_path / "o" / f"{stem}.png").astype(int)
        ref = read_raw(tmp_path / "ref" / f"{stem}.png").astype(int)
        assert got.ndim == 3 and np.abs(got - ref).max() <= 1  # x·64/16383 vs x/255: within one grey level

    # the old option applies to IR only now, and says so
    r = run("fuse", "--ir", ir16, "--vi", vi, "--out", tmp_path / "old", "--value-range", "0,16383")
    assert r.code == 0
    assert r.warnings == [
        "warning: --value-range is deprecated and applies to the IR image only; use --ir-range (and --vi-range)"
    ]
    for stem in STEMS:
        assert (tmp_path / "old" / f"{stem}.png").read_bytes() == (tmp_path / "o" / f"{stem}.png").read_bytes()

    # a 16-bit range on 8-bit visible images: one warning per run (two pairs), naming the first file
    r = run("fuse", "--ir", ir8, "--vi", vi, "--out", tmp_path / "dark", "--vi-range", "0,16383")
    assert r.code == 0
    assert r.warnings == [
        f"warning: {vi / '00004N.png'}: an 8-bit image mapped with the range 0,16383, beyond its largest value 255 "
        "(it comes out dark); check the VIS value range (vi_range, --vi-range); warned once per run"
    ]
    dark = read_raw(tmp_path / "dark" / "00081D.png").mean()
    assert dark < read_raw(tmp_path / "ref" / "00081D.png").mean() / 2  # what the warning is about
    # the library takes the same per-modality ranges
    a = samfuse.fuse(crop("ir", "00004N").astype(np.uint16) * 64, crop("vi", "00004N"), ir_range=(0, 16383))
    b = samfuse.fuse(crop("ir", "00004N"), crop("vi", "00004N"))
    assert np.abs(a - b).max() < 1.5 / 255
    snap.assert_unchanged()


# --- output paths that cannot be written ----------------------------------------------------------------------


def test_bad_output_paths_are_one_line_before_any_work(root: Path, fused: Path, tmp_path: Path) -> None:
    ir, vi = root / "TNO/ir", root / "TNO/vi"
    note = tmp_path / "note.txt"
    note.write_text("not a folder")
    snap = Snapshot(root, fused, note)
    pair = ("--ir", ir, "--vi", vi)
    evaluate = ("eval", *pair, "--fused", fused, "--out")
    cases = [
        (("fuse", *pair, "--out", note), f"{note}: --out must be a folder, but this is an existing file"),
        (
            ("fuse", *pair, "--out", note / "sub"),
            f"{note / 'sub'}: --out lies under {note}, which is a file, not a folder",
        ),
        ((*evaluate, tmp_path), f"{tmp_path}: --out must be a file name, but this is an existing folder"),
        ((*evaluate, fused), f"{fused}: --out is the input folder {fused} (--fused); choose another file"),
        ((*evaluate, note / "x.csv"), f"{note / 'x.csv'}: --out lies under {note}, which is a file, not a folder"),
        ((*evaluate, fused / "00004N.png"), f"{fused / '00004N.png'}: --out would replace a file in the input folder"),
        (("masks", "--images", ir, "--out", note), f"{note}: --out must be a folder, but this is an existing file"),
        (
            ("masks", "--images", ir, "--out", tmp_path / "m", "--preview", note),
            f"{note}: --preview must be a folder, but this is an existing file",
        ),
    ]
    for args, message in cases:
        r = run(*args)
        assert_one_error(r, message, exact=False)
        assert r.errors[0].startswith(f"error: {message}")
        assert "evaluated" not in r.stderr and "computed" not in r.stderr  # refused before any work
    assert not (tmp_path / "m").exists()
    snap.assert_unchanged()


def test_an_unwritable_output_folder_is_one_line(tmp_path: Path) -> None:
    """Root may write anywhere, so the command runs as an ordinary user (setpriv) when the tests run as root."""
    base = Path(tempfile.mkdtemp(prefix="samfuse-unwritable-"))  # pytest's tmp_path is private to its owner
    try:
        for side in ("ir", "vi"):
            (base / side).mkdir()
            write_image(base / side / "00004N.png", crop(side, "00004N"))
        (base / "locked").mkdir()
        for p in (base, base / "ir", base / "vi"):
            p.chmod(0o755)
        (base / "locked").chmod(0o555)
        snap = Snapshot(base)
        prefix = [] if os.geteuid() != 0 else ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        cmd = [*prefix, sys.executable, "-m", "samfuse", "fuse", "--ir", "ir", "--vi", "vi", "--out", "locked/new"]
        proc = subprocess.run(cmd, cwd=base, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.splitlines() == [f"error: locked/new: --out is not writable ({base}/locked is not)"]
        snap.assert_unchanged()
    finally:
        shutil.rmtree(base)


# --- checkpoint errors ----------------------------------------------------------------------------------------


def test_checkpoint_errors_are_one_line_and_suggest_model_only_when_it_fits(tmp_path: Path) -> None:
    from samfuse.semantics.sam import expected_shapes

    images = tmp_path / "img"
    images.mkdir()
    write_image(images / "van.png", crop("vi", "00081D"))
    ck = tmp_path / "ckpt"
    ck.mkdir()
    (ck / "empty.pt").write_bytes(b"")
    (ck / "folder.pt").mkdir()
    torch.save([1, 2, 3], ck / "list.pt")
    torch.save(torch.nn.Linear(2, 2), ck / "module.pt")  # a whole pickled module: never unpickled
    vit_t = {k: torch.zeros(s) for k, s in expected_shapes("vit_t").items()}
    torch.save(vit_t, ck / "mobile_sam.pt")
    torch.save({"weight": torch.zeros(3)}, ck / "other.pt")
    part = dict(vit_t)
    part.pop("mask_decoder.iou_token.weight")
    torch.save(part, ck / "part.pt")
    snap = Snapshot(images, ck)
    cases = [
        ("empty.pt", (), "empty file (0 bytes)"),
        ("folder.pt", (), "is a directory, not a weight file"),
        ("list.pt", (), "not a state dict (it holds a list, not a mapping of tensor names to tensors)"),
        ("module.pt", (), "not a state dict (a pickled object that samfuse will not unpickle)"),
        (
            "mobile_sam.pt",
            ("--model", "vit_b"),
            "tensor 'image_encoder.pos_embed' is missing (and 170 more); this is not a SAM vit_b checkpoint; "
            "it holds a vit_t model: pass --model vit_t",
        ),
        ("other.pt", (), "not a SAM or MobileSAM checkpoint (no tensor has a SAM name; the first is 'weight')"),
        ("part.pt", (), "tensor 'mask_decoder.iou_token.weight' is missing; this is not a SAM vit_t checkpoint"),
    ]
    for name, extra, reason in cases:
        r = run("masks", "--images", images, "--out", tmp_path / "m", "--provider", "sam",
                "--checkpoint", ck / name, *extra)  # fmt: skip
        assert_one_error(r, f"{ck / name}: {reason}")
    assert not (tmp_path / "m").exists()
    snap.assert_unchanged()


# --- undefined metrics ----------------------------------------------------------------------------------------


def test_undefined_metrics_are_one_warning_per_image_and_counts_agree(tmp_path: Path) -> None:
    ir, vi, fu = (tmp_path / d for d in ("ir", "vi", "fused"))
    for folder in (ir, vi, fu):
        folder.mkdir()
        cv2.imwrite(str(folder / "flat.png"), np.full((64, 64), 128, np.uint8))  # constant: CC, SCD undefined
    write_image(ir / "real.png", crop("ir", "00004N"))
    write_image(vi / "real.png", crop("vi", "00004N"))
    write_image(fu / "real.png", crop("vi", "00081D"))  # another real image of that size: every metric defined
    write_image(ir / "gone.png", crop("ir", "00081D"))
    write_image(vi / "gone.png", crop("vi", "00081D"))  # no fused image: fails, in neither CSV nor table
    out = tmp_path / "m.csv"
    snap = Snapshot(ir, vi, fu)
    r = run("eval", "--ir", ir, "--vi", vi, "--fused", fu, "--out", out)
    assert_one_error(r, f"gone: no fused image gone.* in {fu}", code=1)
    assert "RuntimeWarning" not in r.stderr
    assert r.warnings == [
        "warning: flat: undefined, left out of the mean: SCD (NaN: undefined on this image, e.g. a constant image); "
        "CC (NaN: undefined on this image, e.g. a constant image); PSNR (inf: e.g. a fused image equal to its sources)"
    ]
    assert r.stderr.splitlines()[-1] == "2 evaluated, 1 failed, 0 skipped (1 with undefined metrics)"
    with open(out, newline="") as fh:
        rows = {row["image"]: row for row in csv.DictReader(fh)}
    assert sorted(rows) == ["flat", "real"]
    assert rows["flat"]["CC"] == "" and float(rows["flat"]["EN"]) == 0.0 and np.isfinite(float(rows["real"]["CC"]))
    n = {line.split("|")[1].strip(): int(line.split("|")[4]) for line in r.stdout.splitlines() if line[2:3].isupper()}
    assert n["EN"] == 2 and n["CC"] == 1 and n["PSNR"] == 1
    snap.assert_unchanged()


# --- provider options -----------------------------------------------------------------------------------------


def test_an_unknown_provider_option_lists_the_valid_keys(root: Path, tmp_path: Path) -> None:
    snap = Snapshot(root)
    line = ("--mask-param: unknown option(s) for mask provider 'thermal': k_hi; valid: k_low, k_high, sigma, "
            "min_share, max_share, top_quantile, s_min, max_side")  # fmt: skip
    for spelling in (("--masks", "thermal", "--mask-param"), ("--provider", "thermal", "--param")):  # new, old
        r = run("masks", "--images", root / "TNO/ir", "--out", tmp_path / "m", *spelling[:2], spelling[2], "k_hi=3")
        assert_one_error(r, line)
    assert not (tmp_path / "m").exists()
    snap.assert_unchanged()


# --- unusual folders ------------------------------------------------------------------------------------------


def test_unusual_folders_are_named_in_warnings_never_chosen_silently(tmp_path: Path) -> None:
    ir, vi = tmp_path / "ir", tmp_path / "vi"
    ir.mkdir()
    vi.mkdir()
    for stem in STEMS:
        write_image(ir / f"{stem}.png", crop("ir", stem))
        write_image(vi / f"{stem}.png", crop("vi", stem))
    write_image(ir / "00004N.jpg", crop("ir", "00004N"))  # a second file with one stem
    (ir / "folder.png").mkdir()  # a folder named like an image
    (ir / "dangling.png").symlink_to(tmp_path / "nowhere.png")  # a broken link named like an image
    write_image(vi / "lonely.png", crop("vi", "00081D"))  # no partner
    snap = Snapshot(ir, vi)
    expected = [
        f"warning: 1 file(s) without a partner, skipped: {vi / 'lonely.png'}",
        f"warning: {ir / 'dangling.png'}: a broken symbolic link named like an image, ignored",
        f"warning: {ir / 'folder.png'}: a folder named like an image, ignored",
        f"warning: {ir / '00004N.jpg'}, {ir / '00004N.png'} share the stem '00004N': using {ir / '00004N.jpg'}, "
        f"ignoring {ir / '00004N.png'}",
    ]
    r = run("fuse", "--ir", ir, "--vi", vi, "--out", tmp_path / "out")
    assert r.code == 0 and r.warnings == expected, r.stderr
    assert r.stderr.splitlines()[-1] == "2 fused, 0 failed, 2 skipped"
    r = run("eval", "--ir", ir, "--vi", vi, "--fused", tmp_path / "out", "--metrics", "EN")
    assert r.code == 0 and r.warnings == expected, r.stderr  # eval names the files as fuse does

    r = run("fuse", "--ir", vi, "--vi", vi, "--out", tmp_path / "self")
    assert r.code == 0
    assert r.warnings == [f"warning: {vi} and {vi} are the same folder: each image is paired with itself"]
    r = run("masks", "--images", ir, "--out", tmp_path / "m", "--provider", "thermal")
    assert r.code == 0 and r.warnings == expected[1:]
    assert "2 computed, 0 failed, 0 skipped" in r.stderr
    snap.assert_unchanged()


# --- large images ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("provider", "side"), [("regions", "vi"), ("thermal", "ir")])
def test_providers_work_at_a_bounded_resolution_and_return_full_size_masks(provider: str, side: str) -> None:
    """With max_side=320 a 640×480 image is segmented at 320×240; the masks are those of the reduced image,
    brought back to 640×480 (benchmarks/large_images.py measures a 6000×4000 pair with the default 1024)."""
    from samfuse.semantics import MaskSet, get_provider

    image = read_raw(DATASETS / "MSRS" / side / "00081D.png")
    masks = get_provider(provider, max_side=320).generate_top(image, 5)
    assert masks.masks.shape == (5, 480, 640) and masks.found > 5

    small = cv2.resize(image, (320, 240), interpolation=cv2.INTER_AREA)
    labels = get_provider(provider).labels(small)
    labels = labels[0] if isinstance(labels, tuple) else labels
    grown = cv2.resize(labels, (640, 480), interpolation=cv2.INTER_NEAREST)
    expected = MaskSet.from_labels(grown).top(5)
    assert np.array_equal(masks.masks, expected.masks)
    assert np.array_equal(get_provider(provider, max_side=320).generate(image).top(5).masks, masks.masks)


# --- small things ---------------------------------------------------------------------------------------------


def test_masks_accepts_one_image_file(root: Path, tmp_path: Path) -> None:
    one = root / "TNO/ir/00004N.png"
    snap = Snapshot(root)
    r = run("masks", "--images", one, "--out", tmp_path / "m", "--provider", "thermal", "--preview", tmp_path / "p")
    assert r.code == 0 and "1 computed, 0 failed, 0 skipped" in r.stderr
    assert [p.name for p in (tmp_path / "p").iterdir()] == ["00004N.png"]
    snap.assert_unchanged()
