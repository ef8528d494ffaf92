"""Output-path safety (samfuse.io.paths): outputs that are inputs, files for folders, paths under files, unwritable."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from samfuse.io import InputError
from samfuse.io.paths import check_output_dir, check_output_file


@pytest.fixture()
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp/ir/a.png, tmp/vi/a.png, tmp/note.txt; the working directory is tmp."""
    for side in ("ir", "vi"):
        (tmp_path / side).mkdir()
        (tmp_path / side / "a.png").write_bytes(b"x")
    (tmp_path / "note.txt").write_text("a file")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("spelling", ["vi", "vi/", "./vi", "ir/../vi", "{abs}/vi", "link_to_vi", "link_to_vi/."])
def test_an_output_folder_that_is_an_input_folder_is_refused_however_spelled(tree: Path, spelling: str) -> None:
    (tree / "link_to_vi").symlink_to(tree / "vi")
    out = spelling.format(abs=tree)
    with pytest.raises(InputError) as err:
        check_output_dir(out, {"--ir": "ir", "--vi": "vi"})
    msg = str(err.value)
    assert msg == f"{Path(out)}: --out is the input folder vi (--vi); choose another folder"


def test_the_folder_of_an_input_file_is_an_input_folder(tree: Path) -> None:
    with pytest.raises(InputError, match=r"^ir: --preview is the input folder ir \(--images file's folder\)"):
        check_output_dir("ir", {"--images": "ir/a.png"}, option="--preview")


def test_good_output_folders_are_returned_as_given(tree: Path) -> None:
    assert check_output_dir("out/fused", {"--ir": "ir", "--vi": "vi"}) == Path("out/fused")
    assert check_output_dir("ir/fused", ["ir", "vi"]) == Path("ir/fused")  # inside an input folder: allowed
    assert check_output_dir(".", ["ir", "vi", None]) == Path(".")  # a parent of an input folder: allowed


@pytest.mark.parametrize(
    ("out", "reason"),
    [
        ("note.txt", "--out must be a folder, but this is an existing file"),
        ("note.txt/sub", "--out lies under {tree}/note.txt, which is a file, not a folder"),
        ("note.txt/a/b", "--out lies under {tree}/note.txt, which is a file, not a folder"),
        ("dangling", "--out is a broken symbolic link (to nowhere)"),
    ],
)
def test_output_folder_that_is_a_file_or_lies_under_one(tree: Path, out: str, reason: str) -> None:
    (tree / "dangling").symlink_to("nowhere")
    with pytest.raises(InputError) as err:
        check_output_dir(out, ["ir"])
    assert str(err.value) == f"{out}: {reason.format(tree=tree)}"


@pytest.mark.parametrize(
    ("out", "reason"),
    [
        ("ir/a.png", "--out is the input file ir/a.png (--vi); choose another file"),
        ("link.png", "--out is the input file ir/a.png (--vi); choose another file"),
        ("vi", "--out is the input folder vi (--fused); choose another file"),
        ("ir", "--out must be a file name, but this is an existing folder"),
        ("note.txt/x.csv", "--out lies under {tree}/note.txt, which is a file, not a folder"),
        ("vi/b.txt", "--out would replace a file in the input folder vi (--fused); choose another file"),
        ("vi/new.png", "--out would add an image to the input folder vi (--fused); choose another file"),
        ("ir/b.png", "--out would add an image to the input folder ir (--vi file's folder); choose another file"),
    ],
)
def test_output_file_checks(tree: Path, out: str, reason: str) -> None:
    (tree / "link.png").symlink_to(tree / "ir" / "a.png")
    (tree / "vi" / "b.txt").write_text("an input folder's file")
    with pytest.raises(InputError) as err:
        check_output_file(out, {"--vi": "ir/a.png", "--fused": "vi"})
    assert str(err.value) == f"{out}: {reason.format(tree=tree)}"


def test_good_output_files(tree: Path) -> None:
    assert check_output_file("metrics.csv", ["ir", "vi"]) == Path("metrics.csv")
    assert check_output_file("new/dir/metrics.csv", ["ir", "vi"]) == Path("new/dir/metrics.csv")
    assert check_output_file("note.txt", ["ir"]) == Path("note.txt")  # an existing output file is replaced
    assert check_output_file("vi/metrics.csv", ["vi"]) == Path("vi/metrics.csv")  # a new non-image file: allowed


def unprivileged(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run Python code as an ordinary user (root may write anywhere, so the check would pass for root)."""
    prefix = [] if os.geteuid() != 0 else ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    if prefix and shutil.which("setpriv") is None:
        pytest.fail("running as root without setpriv: cannot test an unwritable folder")
    return subprocess.run([*prefix, sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_unwritable_output_is_refused() -> None:
    root = Path(tempfile.mkdtemp(prefix="samfuse-paths-"))  # not pytest's tmp_path: that is private to its owner
    try:
        (root / "locked").mkdir()
        root.chmod(0o755)
        (root / "locked").chmod(0o555)
        code = (
            "from samfuse.io.paths import check_output_dir, check_output_file\n"
            "for check, out in ((check_output_dir, 'locked'), (check_output_dir, 'locked/new/deeper'),"
            " (check_output_file, 'locked/m.csv')):\n"
            "    try:\n        check(out, [])\n    except Exception as err:\n        print(type(err).__name__, err)\n"
        )
        proc = unprivileged(code, root)
        assert proc.stdout.splitlines() == [
            "InputError locked: --out is not writable",
            f"InputError locked/new/deeper: --out is not writable ({root}/locked is not)",
            f"InputError locked/m.csv: --out is not writable ({root}/locked is not)",
        ], proc.stderr
    finally:
        shutil.rmtree(root)
