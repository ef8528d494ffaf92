"""Split one batch over several processes or machines, and put the evaluation parts back together.

A *shard* is ``INDEX/COUNT`` (0-based, ``0 <= INDEX < COUNT``): it takes every COUNT-th item of the batch sorted
by stem, starting at INDEX (``sorted(items)[INDEX::COUNT]``), so the shards of one COUNT are disjoint, cover the
batch, differ in size by at most one, and share out a folder whose heavy images sit together. The same inputs and
COUNT always give the same split, on any machine.

Where the shard comes from (:func:`resolve_shard`), the first that is set wins:

1. ``--shard INDEX/COUNT``;
2. torchrun (and other ``torch.distributed`` launchers): ``RANK`` / ``WORLD_SIZE``, both set;
3. a Slurm job array: ``SLURM_ARRAY_TASK_ID``, counted from ``SLURM_ARRAY_TASK_MIN`` in steps of
   ``SLURM_ARRAY_TASK_STEP`` (``--array=1-8`` gives shards 0/8 to 7/8), of ``SLURM_ARRAY_TASK_COUNT`` tasks
   (or ``(MAX - MIN) / STEP + 1``); arrays with gaps (``--array=1,3,7``) are refused;
4. a Kubernetes indexed job: ``JOB_COMPLETION_INDEX``, with the count from ``SAMFUSE_SHARD_COUNT`` (Kubernetes
   does not tell a pod the job's ``completions``; without it the command is refused).

None set, or a COUNT of 1: no sharding. ``--shard 0/1`` turns sharding off inside such an environment.

Evaluation parts: a shard writes ``TABLE.part-INDEX-of-COUNT.csv`` for ``--out TABLE.csv`` (:func:`part_path`);
:func:`collect_parts` finds and checks the parts of one table and :func:`merge_parts` reads them into the rows
one machine would have written (stem order, which is a folder's pair order).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from samfuse.io.errors import InputError

if TYPE_CHECKING:
    from samfuse.evaluation import ImageResult

T = TypeVar("T")

#: The environment variable that gives a Kubernetes indexed job its shard count (the job's ``completions``).
COUNT_ENV = "SAMFUSE_SHARD_COUNT"

_PART = re.compile(r"^(?P<base>.+)\.part-(?P<index>\d+)-of-(?P<count>\d+)$")


class ShardError(InputError):
    """A bad shard (option or environment) or a bad set of parts: ``str(err)`` is one line."""


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count``; ``source`` says where it came from (``--shard 1/4``, ``RANK=1, WORLD_SIZE=4``)."""

    index: int
    count: int
    source: str = "--shard"

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"

    def take(self, items: Iterable[T], key: Callable[[T], str]) -> list[T]:
        """This shard's items: every ``count``-th of ``items`` sorted by ``key``, starting at ``index``."""
        return sorted(items, key=key)[self.index :: self.count]


def parse_shard(text: str, option: str = "--shard") -> Shard:
    """``"INDEX/COUNT"`` → :class:`Shard`, or :class:`ShardError` (``--shard 4/4: INDEX must be below COUNT ...``)."""
    index_text, sep, count_text = text.strip().partition("/")
    try:
        if not sep:
            raise ValueError
        index, count = int(index_text), int(count_text)
    except ValueError:
        raise ShardError(f"{option} {text}: expected INDEX/COUNT, 0-based, e.g. 0/4 to 3/4") from None
    if count < 1:
        raise ShardError(f"{option} {text}: COUNT must be at least 1")
    if not 0 <= index < count:
        raise ShardError(f"{option} {text}: INDEX must be below COUNT (0-based: 0/{count} to {count - 1}/{count})")
    return Shard(index, count, f"{option} {text}")


def _whole(env: Mapping[str, str], name: str, source: str) -> int:
    try:
        return int(env[name])
    except ValueError:
        raise ShardError(f"{source}: {name} is not a whole number") from None


def _checked(index: int, count: int, source: str, fix: str) -> Shard:
    if count < 1:
        raise ShardError(f"{source}: the count must be at least 1; {fix}")
    if not 0 <= index < count:
        raise ShardError(f"{source}: shard {index} is not one of 0 to {count - 1}; {fix}")
    return Shard(index, count, source)


def shard_from_env(env: Mapping[str, str]) -> Shard | None:
    """The shard the launcher or scheduler set in ``env`` (see the module docstring), or None."""
    fix = "give --shard INDEX/COUNT instead"
    if "RANK" in env and "WORLD_SIZE" in env:
        source = f"RANK={env['RANK']}, WORLD_SIZE={env['WORLD_SIZE']}"
        return _checked(_whole(env, "RANK", source), _whole(env, "WORLD_SIZE", source), source, fix)
    if "SLURM_ARRAY_TASK_ID" in env:
        names = ["SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_STEP", "SLURM_ARRAY_TASK_COUNT"]
        source = ", ".join(f"{n}={env[n]}" for n in names if n in env)
        task = _whole(env, "SLURM_ARRAY_TASK_ID", source)
        first = _whole(env, "SLURM_ARRAY_TASK_MIN", source) if "SLURM_ARRAY_TASK_MIN" in env else 0
        step = _whole(env, "SLURM_ARRAY_TASK_STEP", source) if "SLURM_ARRAY_TASK_STEP" in env else 1
        if "SLURM_ARRAY_TASK_COUNT" in env:
            count = _whole(env, "SLURM_ARRAY_TASK_COUNT", source)
        elif "SLURM_ARRAY_TASK_MAX" in env:
            count = (_whole(env, "SLURM_ARRAY_TASK_MAX", source) - first) // max(step, 1) + 1
        else:
            raise ShardError(f"{source}: SLURM_ARRAY_TASK_COUNT is not set; {fix}")
        index, rest = divmod(task - first, max(step, 1))
        if rest or not 0 <= index < count:
            raise ShardError(f"{source}: not an evenly spaced array (such as --array=1-8 or 0-30:10); {fix}")
        return _checked(index, count, source, fix)
    if "JOB_COMPLETION_INDEX" in env:
        source = f"JOB_COMPLETION_INDEX={env['JOB_COMPLETION_INDEX']}"
        if COUNT_ENV not in env:
            raise ShardError(f"{source}: set {COUNT_ENV} to the job's completions, or give --shard INDEX/COUNT")
        source += f", {COUNT_ENV}={env[COUNT_ENV]}"
        return _checked(_whole(env, "JOB_COMPLETION_INDEX", source), _whole(env, COUNT_ENV, source), source, fix)
    return None


def resolve_shard(text: str | None, env: Mapping[str, str]) -> Shard | None:
    """The shard of this run: ``--shard`` (``text``) if given, else from ``env``; None when unsharded (nothing set,
    or a COUNT of 1). :class:`ShardError` for a bad value."""
    shard = parse_shard(text) if text is not None else shard_from_env(env)
    return shard if shard is not None and shard.count > 1 else None


def part_path(path: Path, shard: Shard) -> Path:
    """The part a shard writes for the table ``path``: ``table.csv`` → ``table.part-INDEX-of-COUNT.csv``."""
    return path.with_name(f"{path.stem}.part-{shard.index}-of-{shard.count}{path.suffix}")


def parse_part(path: Path) -> tuple[str, int, int] | None:
    """``(table name, index, count)`` of a part file's name (``t.part-1-of-4.csv`` → ``("t.csv", 1, 4)``), else None."""
    match = _PART.match(path.stem)
    if match is None or path.suffix.lower() != ".csv":
        return None
    return match["base"] + path.suffix, int(match["index"]), int(match["count"])


def collect_parts(paths: Sequence[Path]) -> list[Path]:
    """The parts of one table, in shard order, from part files and folders (each folder's ``*.part-*-of-*.csv``).

    :class:`ShardError`, one line, unless they are exactly the parts 0 to COUNT-1 of one table: a name that is
    not ``NAME.part-INDEX-of-COUNT.csv``, a file that does not exist, parts of two tables or of two counts, one
    part twice, a missing part (named, as the shard would have written it).
    """
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".") and parse_part(p))
            if not found:
                raise ShardError(f"{path}: no part files (NAME.part-INDEX-of-COUNT.csv) in this folder")
            files += found
        elif parse_part(path) is None:
            raise ShardError(f"{path}: not a part file (NAME.part-INDEX-of-COUNT.csv)")
        elif not path.is_file():
            raise ShardError(f"{path}: no such file")
        else:
            files.append(path)
    if not files:
        raise ShardError("--merge: no parts given")
    by_index: dict[int, Path] = {}
    first = files[0]
    table, _, count = parse_part(first)  # type: ignore[misc]  (every file was checked above)
    for path in files:
        name, index, n = parse_part(path)  # type: ignore[misc]
        if name != table:
            raise ShardError(f"{path}: a part of {name}, but {first} is a part of {table}; merge one table")
        if n != count:
            raise ShardError(f"{path}: a part of {n}, but {first} is a part of {count}")
        if index >= count:
            raise ShardError(f"{path}: part {index} of {count} cannot exist (0-based: 0 to {count - 1})")
        other = by_index.get(index)
        if other is not None and other.resolve() != path.resolve():
            raise ShardError(f"{path}: part {index} of {count} is also {other}")
        by_index[index] = path
    for index in range(count):
        if index not in by_index:
            missing = part_path(first.parent / table, Shard(index, count))
            raise ShardError(f"{missing}: missing; the merge needs all {count} parts (0 to {count - 1})")
    return [by_index[i] for i in range(count)]


@dataclass
class MergedTable:
    """The rows of a table's parts, as one machine would have written them."""

    parts: list[Path]
    metrics: list[str]
    results: list[ImageResult]  # in stem order
    part_of: dict[str, int]  # stem -> index of the part that holds it


def merge_parts(parts: Sequence[Path]) -> MergedTable:
    """The metric columns and the rows of the parts (from :func:`collect_parts`), rows in stem order.

    :class:`ShardError`, one line, when a part is not an eval CSV, its metric columns differ from the first
    part's, or an image is in two parts.
    """
    from samfuse.evaluation import read_csv

    metrics: list[str] | None = None
    rows: dict[str, ImageResult] = {}
    part_of: dict[str, int] = {}
    for index, path in enumerate(parts):
        try:
            columns, results = read_csv(path)
        except InputError as err:
            raise ShardError(str(err)) from None
        if metrics is None:
            metrics = columns
        elif columns != metrics:
            raise ShardError(
                f"{path}: its metric columns ({','.join(columns)}) differ from {parts[0]}'s ({','.join(metrics)})"
            )
        for res in results:
            if res.stem in rows:
                raise ShardError(f"{path}: image {res.stem} is also in {parts[part_of[res.stem]]}")
            rows[res.stem], part_of[res.stem] = res, index
    order = sorted(rows)
    return MergedTable(list(parts), metrics or [], [rows[s] for s in order], {s: part_of[s] for s in order})


def check_stems(table: MergedTable, stems: Iterable[str], what: str) -> None:
    """``table`` holds every one of ``stems`` (the whole batch, called ``what`` in messages), each in the part its
    shard writes; :class:`ShardError`, one line, for an image not in the batch, in another shard's part, or in no
    part."""
    count = len(table.parts)
    expected = sorted(set(stems))
    home = {stem: i % count for i, stem in enumerate(expected)}  # the shards' take(): every count-th, sorted
    for stem, index in table.part_of.items():
        part = table.parts[index]
        if stem not in home:
            raise ShardError(f"{part}: image {stem} is not one of the pairs of {what}")
        if home[stem] != index:
            raise ShardError(
                f"{part}: image {stem} belongs to part {home[stem]} of {count}; the parts were not made from {what}"
            )
    missing = [stem for stem in expected if stem not in table.part_of]
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise ShardError(
            f"{what}: {len(missing)} image(s) in no part: {shown} (failed or not run in their shard: rerun it, or "
            f"merge without {what})"
        )
