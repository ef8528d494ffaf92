"""Helpers shared by the commands: option parsing, fatal one-line errors, device checks.

Pipelines are built by the library (:mod:`samfuse.assembly`); the helpers here turn options into its spec
(:func:`mask_spec`, :func:`method_params`) and its errors into one ``error:`` line and exit 2."""

from __future__ import annotations

import os
import shlex
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from samfuse.cli.report import BatchReport
from samfuse.io.errors import InputError
from samfuse.io.pairing import PairSet
from samfuse.io.reading import ValueRange
from samfuse.options import split_key_values
from samfuse.shard import Shard, ShardError, resolve_shard

if TYPE_CHECKING:
    from samfuse.assembly import MaskSpec, PipelineSpec
    from samfuse.pipeline import FusionPipeline

T = TypeVar("T")

#: ``--weights`` help text, the same in every command.
WEIGHTS_HELP = "Weights name (`samfuse methods` lists them, e.g. sage.authors) or file; default: the method's default."


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: <message>`` as one line on stderr and exit with ``code`` (no traceback)."""
    click.echo(f"error: {' '.join(str(message).split())}", err=True)
    sys.exit(code)


def shard_option(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--shard INDEX/COUNT``, the same in ``fuse``, ``eval`` and ``masks`` (``what``: the items split)."""
    return click.option(
        "--shard",
        "shard",
        default=None,
        metavar="INDEX/COUNT",
        help=f"Take shard INDEX/COUNT (0-based) of the {what} sorted by stem: every COUNT-th from INDEX. Default: "
        "from torchrun (RANK/WORLD_SIZE), a Slurm array (SLURM_ARRAY_TASK_ID) or a Kubernetes indexed job "
        "(JOB_COMPLETION_INDEX and SAMFUSE_SHARD_COUNT); none set: all of them. See docs/scale-out.md.",
    )


def get_shard(text: str | None) -> Shard | None:
    """This run's shard from ``--shard`` or the environment (None: unsharded), or one line and exit 2."""
    try:
        return resolve_shard(text, os.environ)
    except ShardError as err:
        fail(str(err))


def take_shard(shard: Shard | None, items: Sequence[T], key: Callable[[T], str], noun: str) -> list[T]:
    """``shard``'s part of ``items`` (all of them when unsharded), with a note saying which part it is."""
    if shard is None:
        return list(items)
    taken = shard.take(items, key)
    origin = "" if shard.source.startswith("--shard") else f" (from {shard.source})"
    note(f"note: shard {shard.label}{origin}: {len(taken)} of {len(items)} {noun}")
    return taken


def command_line(ctx: click.Context) -> str:
    """The command as given (options that differ from their defaults, then the arguments), for a report."""
    words = ["samfuse", ctx.info_name or ctx.command.name or ""]
    arguments: list[str] = []
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        if value in (None, "", ()) or (isinstance(param, click.Option) and value == param.default):
            continue
        values = [shlex.quote(str(v)) for v in (value if isinstance(value, tuple) else (value,))]
        if isinstance(param, click.Option):
            words += [w for v in values for w in (param.opts[0], v)]
        else:
            arguments += values
    return " ".join(words + arguments)


def check_device(device: str) -> str:
    """Validate ``--device``: ``cpu``, ``cuda`` or ``cuda:N``; fails clearly when CUDA is not available."""
    import torch  # here, not at module level: `samfuse --help` lists every command without loading torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        fail(f"--device {device}: CUDA is not available in this PyTorch build or on this machine; use --device cpu")
    try:
        torch.device(device)
    except RuntimeError:
        fail(f"--device {device}: not a device name (use cpu, cuda or cuda:N)")
    return device


def parse_value_range(text: str | None, option: str = "--ir-range") -> ValueRange:
    """``--ir-range`` / ``--vi-range``: ``LO,HI`` (e.g. ``0,16383`` for a 14-bit camera) or ``minmax``;
    none = by bit depth."""
    if text is None:
        return None
    if text.strip().lower() == "minmax":
        return "minmax"
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        fail(f"{option} {text!r}: expected LO,HI (two numbers) or 'minmax'")
    if hi <= lo:
        fail(f"{option} {text!r}: LO must be smaller than HI")
    return (lo, hi)


def warn(message: str) -> None:
    """Print ``warning: <message>`` as one line on stderr (through tqdm, so a progress bar is not broken)."""
    from tqdm import tqdm

    tqdm.write(f"warning: {' '.join(str(message).split())}", file=sys.stderr)


def error(message: str) -> None:
    """Print ``error: <message>`` as one line on stderr (through tqdm) without ending the command: a per-item
    failure of a batch (use :func:`fail` for a fatal one)."""
    from tqdm import tqdm

    tqdm.write(f"error: {' '.join(str(message).split())}", file=sys.stderr)


def note(message: str) -> None:
    """Print a progress note (e.g. a per-dataset summary line) on stderr."""
    click.echo(message, err=True)


def warn_pairing(pair_set: PairSet, report: BatchReport) -> None:
    """Print the pairing warnings (files without a partner, named, and every other file left out) one line each,
    and count the files left out as skipped."""
    for line in pair_set.warnings:
        warn(line)
    for p in [*pair_set.unpaired, *pair_set.ignored]:
        report.skipped(str(p))


@contextmanager
def warnings_as_lines() -> Iterator[None]:
    """Show samfuse's own warnings (``UserWarning`` subclasses raised by the library) as ``warning: ...`` lines,
    each once, instead of Python's two-line ``file:line: Category: message`` form."""
    previous = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], *_args: object, **_kw: object) -> None:
        warn(str(message))

    with warnings.catch_warnings():
        warnings.simplefilter("default", UserWarning)
        warnings.showwarning = show
        try:
            yield
        finally:
            warnings.showwarning = previous


def params_option(
    help_text: str = "Method option (the builder's keyword arguments), e.g. steps=20 or guidance=false for sgdfuse.",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--param KEY=VALUE`` (repeatable), the same in every command that builds a method."""
    return click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help=help_text)


def mask_options(
    cache_help: str = "Mask cache folder, shared with `samfuse masks` and training (default: ~/.cache/samfuse/masks).",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--masks PROVIDER``, ``--mask-cache DIR``, ``--mask-checkpoint FILE``, ``--mask-param KEY=VALUE``: the same
    spelling in every command (``samfuse masks`` takes them too)."""
    options = [
        click.option(
            "--masks",
            "mask_provider",
            default=None,
            metavar="PROVIDER",
            help="Mask provider for methods that need masks (regions, thermal, sam; default regions): masks are "
            "computed once per image into the mask cache and handed to the method as the product it declares.",
        ),
        click.option("--mask-cache", type=click.Path(path_type=Path), default=None, help=cache_help),
        click.option(
            "--mask-checkpoint", type=click.Path(path_type=Path), default=None, help="SAM checkpoint (--masks sam)."
        ),
        click.option("--mask-param", "mask_params", multiple=True, metavar="KEY=VALUE", help="Mask provider option."),
    ]

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


def mask_spec(
    provider: str | None,
    cache: Path | None,
    checkpoint: Path | None,
    params: tuple[str, ...],
    *,
    default_cache: bool = True,
) -> MaskSpec:
    """The :class:`~samfuse.assembly.MaskSpec` of the ``--masks``/``--mask-*`` options (one line and exit on a
    malformed ``--mask-param``). Without ``--mask-cache`` the masks go to the shared cache folder, or
    (``default_cache=False``, videos: frames rarely repeat) nowhere."""
    from samfuse.assembly import MaskSpec, default_mask_cache

    try:
        options = split_key_values(params, "--mask-param")
    except InputError as err:
        fail(str(err))
    if cache is None and default_cache:
        cache = default_mask_cache()
    return MaskSpec(provider, options, checkpoint, cache)


def method_params(method: str, params: tuple[str, ...], steps: int | None = None) -> dict[str, str]:
    """``--param KEY=VALUE`` items (plus ``--steps N``) as the text options of a spec (typed when it is built);
    one line and exit for a malformed item, a ``--steps`` that disagrees with ``--param steps`` or a method that
    takes no ``steps``."""
    try:
        options: dict[str, Any] = split_key_values(params, "--param")
    except InputError as err:
        fail(str(err))
    if steps is not None:
        if "steps" in options and options["steps"] != str(steps):
            fail(f"--steps {steps} and --param steps={options['steps']} disagree; give one")
        from samfuse.models import list_methods, method_options

        if method in list_methods() and "steps" not in method_options(method):
            known = ", ".join(method_options(method)) or "none"
            fail(f"--steps: --method {method} has no such option (its options: {known})")
        options["steps"] = str(steps)
    return options


def build_pipeline(spec: PipelineSpec, *, inputs: dict[str, Path | None] | None = None) -> FusionPipeline:
    """:func:`samfuse.assembly.build` for a command: notes and warnings as lines, any problem one line and exit."""
    from samfuse.assembly import build

    try:
        return build(spec, inputs=inputs, on_note=lambda line: note(f"note: {line}"), on_warning=warn)
    except InputError as err:
        fail(str(err))


def build_provider(masks: MaskSpec, device: str = "cpu") -> Any:
    """:func:`samfuse.assembly.build_provider` for a command (one line and exit on any problem)."""
    from samfuse.assembly import build_provider as build_

    try:
        return build_(masks, device, on_note=lambda line: note(f"note: {line}"))
    except InputError as err:
        fail(str(err))
