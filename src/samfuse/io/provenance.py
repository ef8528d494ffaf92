"""Provenance records: what made an output, checked every time the output is reused.

One mechanism for every reuse in samfuse (issue 25): the fused images of ``samfuse bench`` and ``samfuse demo``
and of a robustness study, the ONNX exports cached by ``--backend onnx`` and the mask cache. Each output carries
a *record*, a small JSON object of its inputs (method, sha256 of the weights file, method options, mask provider
and its options and version, colour path, value ranges, samfuse version where it matters), written atomically
beside the output (or, for an ONNX export, into the file's metadata). Before an output is reused, the record of
the run about to reuse it is compared with the stored one:

* equal: the output is reused;
* different: :func:`check_record` raises one :class:`ProvenanceError` line naming the first field that differs
  (``<folder>: its fused images were made with weights = "sha256:…", not "sha256:…"; <remedy>``), or the caller
  re-makes the output where that is the documented behaviour (a stale or corrupt cache entry);
* outputs without a record (made before records existed, or by hand): refused too, since what made them is
  unknown.

:func:`first_difference` walks nested objects, so the line names e.g. ``masks.params.min_share``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from samfuse.io.digest import file_sha256
from samfuse.io.errors import InputError
from samfuse.io.writing import atomic_write

__all__ = [
    "RECORD",
    "ProvenanceError",
    "weights_id",
    "normalise",
    "first_difference",
    "describe_difference",
    "read_record",
    "write_record",
    "check_record",
]

#: File name of a folder's record (``<folder>/provenance.json``).
RECORD = "provenance.json"


class ProvenanceError(InputError):
    """An output made from other inputs than the run that would reuse it (or an unreadable record); one line."""


def weights_id(weights: str | Path | None) -> str | None:
    """How a record names weights: ``"sha256:<hex>"`` of a file (its content, whatever its name or place), the
    text itself when it is no file, ``None`` for none."""
    if weights is None:
        return None
    path = Path(weights)
    return f"sha256:{file_sha256(path)}" if path.is_file() else str(weights)


def normalise(record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` as it reads back from JSON (tuples → lists, paths → text, keys sorted), so that a fresh record
    and a stored one compare equal when they say the same."""
    return json.loads(json.dumps(record, default=str, sort_keys=True))


def first_difference(before: Any, now: Any, prefix: str = "") -> tuple[str, Any, Any] | None:
    """The first field (dotted name, keys in sorted order) whose value differs, with both values; None if equal."""
    if isinstance(before, Mapping) and isinstance(now, Mapping):
        for key in sorted(set(before) | set(now), key=str):
            name = f"{prefix}.{key}" if prefix else str(key)
            if key not in before or key not in now:
                if before.get(key) != now.get(key):
                    return name, before.get(key), now.get(key)
                continue
            diff = first_difference(before[key], now[key], name)
            if diff is not None:
                return diff
        return None
    return None if before == now else (prefix or "record", before, now)


def _show(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    if isinstance(value, str) and value.startswith("sha256:") and len(value) > 23:
        text = json.dumps(value[:23] + "…", ensure_ascii=False)  # sha256: and 16 hex digits name a file well enough
    return text


def describe_difference(diff: tuple[str, Any, Any]) -> str:
    """``key = <before>, not <now>`` (JSON values; a sha256 shortened to 16 hex digits)."""
    key, before, now = diff
    return f"{key} = {_show(before)}, not {_show(now)}"


def read_record(path: str | Path) -> dict[str, Any] | None:
    """The record stored at ``path``; None when there is none; :class:`ProvenanceError` when it is unreadable."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        reason = " ".join(str(err).split())
        raise ProvenanceError(f"{path}: unreadable record of what made the outputs ({reason})") from None
    if not isinstance(data, dict):
        raise ProvenanceError(f"{path}: unreadable record of what made the outputs (not a JSON object)")
    return data


def write_record(path: str | Path, record: Mapping[str, Any]) -> None:
    """Write ``record`` to ``path`` atomically (indented JSON, keys sorted)."""
    text = json.dumps(normalise(record), indent=1, sort_keys=True).encode()
    atomic_write(Path(path), lambda fh: fh.write(text))


def _stored_or_none(path: Path) -> dict[str, Any] | None:
    try:
        return read_record(path)
    except ProvenanceError:
        return None


def check_record(
    folder: str | Path,
    record: Mapping[str, Any],
    *,
    has_outputs: bool,
    what: str = "fused images",
    remedy: str = "use another --out or remove that folder",
    name: str = RECORD,
    write: bool = True,
) -> None:
    """The one reuse check: ``folder``'s outputs may be reused by a run described by ``record``.

    No outputs yet (``has_outputs`` false): this run's record is written (when ``write``), replacing any other.
    Outputs without a record: refused (their origin is unknown). Outputs with a record: compared; the first
    difference is one :class:`ProvenanceError` line
    ``<folder>: its <what> were made with <key> = <before>, not <now>; <remedy>``.
    """
    folder = Path(folder)
    now = normalise(record)
    if not has_outputs:  # nothing to protect: the record (if any) is replaced by this run's
        if write and _stored_or_none(folder / name) != now:
            write_record(folder / name, now)
        return
    before = read_record(folder / name)
    if before is None:
        raise ProvenanceError(f"{folder}: holds {what} but no record of what made them ({name}); {remedy}")
    diff = first_difference(before, now)
    if diff is not None:
        raise ProvenanceError(f"{folder}: its {what} were made with {describe_difference(diff)}; {remedy}")
