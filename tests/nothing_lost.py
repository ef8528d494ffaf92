"""Shared checks for the "nothing lost, no traceback" promise (tests/cli/test_bad_input.py and others).

* :class:`Snapshot`: sha256, size and mtime of every file under some folders (and the list of entries, so a new
  file in an input folder counts as a change); ``assert_unchanged()`` compares with a fresh look.
* :func:`samfuse`: run the CLI in-process, returning exit code, stdout and stderr.
* :func:`assert_one_error`: the exit code, exactly one ``error:`` line (equal to, or containing, the expected
  text), no traceback anywhere.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from samfuse.cli.main import main


def _digest(paths: tuple[Path, ...]) -> dict[str, tuple[str, int, int] | str]:
    out: dict[str, tuple[str, int, int] | str] = {}
    for root in paths:
        items = [root] if not root.is_dir() or root.is_symlink() else sorted(root.rglob("*"))
        for p in items:
            if p.is_symlink():
                out[str(p)] = f"link -> {os.readlink(p)}"
            elif p.is_dir():
                out[str(p)] = "folder"
            elif p.is_file():
                st = p.stat()
                out[str(p)] = (hashlib.sha256(p.read_bytes()).hexdigest(), st.st_size, st.st_mtime_ns)
            else:
                out[str(p)] = "missing"
    return out


class Snapshot:
    """Every file under ``paths`` (folders walked recursively, files taken as they are), to compare later."""

    def __init__(self, *paths: Path) -> None:
        self.paths = tuple(Path(p) for p in paths)
        self.before = _digest(self.paths)
        assert self.before, "nothing to watch"

    def assert_unchanged(self) -> None:
        after = _digest(self.paths)
        changed = sorted(k for k in self.before.keys() | after.keys() if self.before.get(k) != after.get(k))
        assert not changed, f"changed, added or removed: {changed}"


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def errors(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]

    @property
    def warnings(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("warning:")]


def samfuse(*args: object) -> Run:
    """``samfuse ARGS`` in this process (CliRunner), stdout and stderr apart."""
    result = CliRunner().invoke(main, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback the user would have seen
    return Run(result.exit_code, result.stdout, result.stderr)


def assert_one_error(run: Run, message: str, *, code: int = 2, exact: bool = True) -> None:
    """Exit ``code``, exactly one ``error:`` line (``== "error: " + message``, or containing it), no traceback."""
    assert "Traceback" not in run.stderr + run.stdout, run.stderr
    assert run.code == code, (run.code, run.stderr)
    assert len(run.errors) == 1, run.stderr
    if exact:
        assert run.errors[0] == f"error: {message}", run.errors[0]
    else:
        assert message in run.errors[0], run.errors[0]
