"""Output-path safety: one check, made before any work starts, for every command that writes.

``check_output_dir(out, inputs)`` for an output *folder* (``fuse --out``, ``masks --out``/``--preview``,
``eval --data --fused``, training runs) and ``check_output_file(out, inputs)`` for an output *file* (an eval CSV,
an exported ONNX model). Each raises a one-line :class:`InputError` (``"<out>: <reason>"``) when the output

* is, or resolves to (symbolic links, ``..``, a relative or differently spelled path, a bind mount), one of the
  input folders, or (file variant) one of the input files, an existing file in an input folder (every file there
  may be an input) or a new image in one;
* is an existing file where a folder is needed, or an existing folder where a file is needed, or a broken
  symbolic link;
* lies under a file (``out.png/sub``);
* cannot be written (its nearest existing folder is not writable or is on a read-only file system).

``inputs`` are the paths the command reads: folders, or files (a file input's folder counts as an input folder,
since outputs named ``<stem>.png`` next to it could replace it). Give them as a mapping from the option that
named them to the path (``{"--ir": ir, "--vi": vi}``), so the message can say which input it is, or as a plain
sequence. ``None`` entries are ignored.

Writing *inside* an input folder (``--out ir/fused``) is allowed: no input file can be replaced that way, and
folders are listed without recursion.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from samfuse.io.errors import InputError
from samfuse.io.reading import IMAGE_EXTENSIONS

PathLike = str | os.PathLike[str]
Inputs = Mapping[str, PathLike | None] | Iterable[PathLike | None]

__all__ = ["check_output_dir", "check_output_file"]


def check_output_dir(out: PathLike, inputs: Inputs = (), *, option: str = "--out") -> Path:
    """Check that ``out`` can serve as an output folder; returns it as a :class:`Path` (spelling kept).

    The folder need not exist yet (it is created when the first output is written). Raises
    :class:`InputError` with one line ``"<out>: <reason>"``; see the module docstring for the cases.
    """
    out = Path(out)
    if os.path.lexists(out) and not out.exists():
        raise InputError(f"{out}: {option} is a broken symbolic link (to {os.readlink(out)})")
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: {option} must be a folder, but this is an existing file")
    _check_ancestors(out, option)
    for label, folder in _input_folders(inputs):
        if _same(out, folder):
            raise InputError(f"{out}: {option} is the input folder {_name(label, folder)}; choose another folder")
    _check_writable(out, option)
    return out


def check_output_file(out: PathLike, inputs: Inputs = (), *, option: str = "--out") -> Path:
    """Check that ``out`` can be written as an output file; returns it as a :class:`Path` (spelling kept).

    Its folder need not exist yet. Raises :class:`InputError` with one line ``"<out>: <reason>"`` when ``out`` is
    an input file or folder, would replace a file or add an image in an input folder, is an existing folder, a
    broken symbolic link, lies under a file, or cannot be written.
    """
    out = Path(out)
    if os.path.lexists(out) and not out.exists():
        raise InputError(f"{out}: {option} is a broken symbolic link (to {os.readlink(out)})")
    for label, path in _input_paths(inputs):
        if _same(out, path):
            kind = "folder" if path.is_dir() else "file"
            raise InputError(f"{out}: {option} is the input {kind} {_name(label, path)}; choose another file")
    if out.is_dir():
        raise InputError(f"{out}: {option} must be a file name, but this is an existing folder")
    _check_ancestors(out, option)
    if out.exists() or out.suffix.lower() in IMAGE_EXTENSIONS:
        for label, folder in _input_folders(inputs):
            if _same(out.parent, folder):
                what = "would replace a file in" if out.exists() else "would add an image to"
                raise InputError(f"{out}: {option} {what} the input folder {_name(label, folder)}; choose another file")
    _check_writable(out.parent, option, shown=out)  # written as a temporary file in that folder, then renamed
    return out


def _input_paths(inputs: Inputs) -> list[tuple[str, Path]]:
    items = inputs.items() if isinstance(inputs, Mapping) else (("", p) for p in inputs)
    return [(label, Path(p)) for label, p in items if p is not None]


def _input_folders(inputs: Inputs) -> list[tuple[str, Path]]:
    """Input folders, and the folder of each input file (outputs there could replace it)."""
    folders = []
    for label, p in _input_paths(inputs):
        if p.is_dir():
            folders.append((label, p))
        elif p.exists():
            folders.append((f"{label} file's folder" if label else "", p.parent))
    return folders


def _name(label: str, path: Path) -> str:
    return f"{path} ({label})" if label else str(path)


def _same(a: Path, b: Path) -> bool:
    """The same file system object, however spelled: inode comparison when both exist, else resolved paths."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def _check_ancestors(out: Path, option: str) -> None:
    """Refuse a path under an existing file (``a.png/sub``)."""
    for parent in out.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"{out}: {option} lies under {parent}, which is a file, not a folder")
            return


def _check_writable(path: Path, option: str, shown: Path | None = None) -> None:
    """The folder (or its nearest existing ancestor, where it would be created) must be writable."""
    shown = shown if shown is not None else path
    existing = path.absolute()
    while not existing.exists():
        existing = existing.parent
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "" if existing == shown.absolute() else f" ({existing} is not)"
        raise InputError(f"{shown}: {option} is not writable{where}")


def cache_dir() -> Path:
    """samfuse's cache folder: ``$SAMFUSE_CACHE_DIR``, else ``$XDG_CACHE_HOME/samfuse``, else ``~/.cache/samfuse``.

    On-the-fly ONNX exports go to its ``onnx/`` folder, masks computed by ``samfuse fuse`` to ``masks/``."""
    root = os.environ.get("SAMFUSE_CACHE_DIR")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "samfuse"
