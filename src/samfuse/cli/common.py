"""Helpers shared by the commands: option parsing, fatal one-line errors, device checks."""

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
from samfuse.shard import Shard, ShardError, resolve_shard

if TYPE_CHECKING:
    from samfuse.pipeline import FusionPipeline
    from samfuse.semantics import MaskSource

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


_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def option_types(fn: Any) -> dict[str, Any]:
    """The annotated types of a builder's (or a class's ``__init__``) keyword options; {} when unknown."""
    import typing

    target = fn.__init__ if isinstance(fn, type) else fn
    try:
        return typing.get_type_hints(target)
    except Exception:  # noqa: BLE001  (an annotation that does not resolve: no typing, values are guessed)
        return {}


def _guess(text: str) -> Any:
    """A value of an option whose type is not known: int, float, true/false, else the text."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text.lower() == "true" if text.lower() in ("true", "false") else text


def convert_option(text: str, annotation: Any) -> Any:
    """``text`` as a value of type ``annotation`` (bool, int, float, str, Path, Literal, tuple/list of those, and
    ``X | None`` with ``none``); ValueError ``"expected …"`` when it is not one. Unknown types: guessed."""
    import types
    import typing

    text = text.strip()
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) < len(typing.get_args(annotation)) and text.lower() in ("none", "null"):
            return None
        wanted = []
        for arg in sorted(args, key=lambda a: a is str):  # text last: it accepts anything
            try:
                return convert_option(text, arg)
            except ValueError as err:
                wanted.append(str(err).removeprefix("expected "))
        raise ValueError("expected " + " or ".join(wanted))
    if origin is typing.Literal:
        choices = typing.get_args(annotation)
        for c in choices:
            if text == str(c):
                return c
        raise ValueError(f"expected one of {', '.join(map(str, choices))}")
    if origin in (tuple, list):
        parts = [p.strip() for p in text.strip("[]()").split(",") if p.strip()]
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        if origin is tuple and args and Ellipsis not in typing.get_args(annotation) and len(parts) != len(args):
            raise ValueError(f"expected {len(args)} comma-separated values")
        items = [convert_option(p, args[i] if i < len(args) else (args[-1] if args else Any)) for i, p in
                 enumerate(parts)]  # fmt: skip
        return tuple(items) if origin is tuple else items
    if annotation is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError("expected true or false")
    if annotation is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError("expected a whole number") from None
    if annotation is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError("expected a number") from None
    if annotation is str:
        return text
    if annotation is Path:
        return Path(text)
    return _guess(text)


def split_params(items: tuple[str, ...], option: str = "--param") -> dict[str, str]:
    """``KEY=VALUE`` items → ``{KEY: "VALUE"}`` (text; ``-`` in keys read as ``_``), or one line and exit."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            fail(f"{option} {item!r}: expected KEY=VALUE")
        out[key.strip().replace("-", "_")] = text.strip()
    return out


def typed_params(raw: dict[str, Any], types: dict[str, Any], option: str = "--param") -> dict[str, Any]:
    """Text values converted to the option's annotated type (:func:`convert_option`), or one line and exit
    (``--param steps=2.5: expected a whole number``); values that are not text, and options of unknown type
    (guessed), are kept."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if not isinstance(value, str):
            out[key] = value
        elif key in types:
            try:
                out[key] = convert_option(value, types[key])
            except ValueError as err:
                fail(f"{option} {key}={value}: {err}")
        else:
            out[key] = _guess(value)
    return out


def parse_params(items: tuple[str, ...], option: str = "--param", types: dict[str, Any] | None = None) -> dict:
    """``KEY=VALUE`` items → ``{KEY: value}``, typed by ``types`` (annotations) where known, else guessed (int,
    float, true/false, else text); one line and exit for a malformed item or a value of the wrong type."""
    return typed_params(split_params(items, option), types or {}, option)


def method_params(method: str, params: tuple[str, ...], steps: int | None = None, backend: str = "torch") -> dict:
    """``--param KEY=VALUE`` items (plus ``--steps N``) → the method's builder options, each of the type the builder
    declares, or end the command with one line naming the options ``method`` has, or the type a value lacks."""
    options: dict[str, Any] = dict(split_params(params, "--param"))
    if steps is not None:
        if "steps" in options and options["steps"] != steps:
            fail(f"--steps {steps} and --param steps={options['steps']} disagree; give one")
        options["steps"] = steps
    if not options:
        return options
    if backend == "onnx":
        fail("--param/--steps: not available with --backend onnx (the exported graph has no options)")
    from samfuse.models import list_methods, method_options  # torch import kept out of `samfuse --help`
    from samfuse.models.registry import method_builder

    if method not in list_methods():
        return typed_params(options, {})  # the unknown method is reported by the builder, with the list of methods
    known = method_options(method)
    unknown = [k for k in options if k not in known]
    if unknown:
        names = ", ".join(("--steps" if k == "steps" and steps is not None else f"--param {k}") for k in unknown)
        fail(f"{names}: --method {method} has no such option (its options: {', '.join(known) or 'none'})")
    return typed_params(options, option_types(method_builder(method)))


def build_provider(name: str, options: dict[str, Any], *, option: str = "--provider", params: str = "--param") -> Any:
    """The mask provider ``name`` with ``options``, or end the command with one line saying what is wrong."""
    from samfuse.semantics import ProviderError, UnknownOptionError, UnknownProviderError, get_provider, list_providers
    from samfuse.semantics.registry import _entry

    if name not in list_providers():
        fail(f"unknown mask provider {name!r}; available: {', '.join(list_providers())}")
    options = typed_params(options, option_types(_entry(name).builder), params)  # text values get their types
    try:
        provider = get_provider(name, **options)
    except UnknownOptionError as err:
        fail(f"{params}: {err}")
    except (ProviderError, UnknownProviderError, InputError) as err:  # InputError: e.g. a bad checkpoint file
        fail(str(err))
    except (TypeError, ValueError) as err:
        fail(f"{option} {name}: {' '.join(str(err).split())}")
    note = getattr(provider, "checkpoint_note", None)
    if note:
        click.echo(f"note: {note}", err=True)
    return provider


def build_pipeline(
    method: str, weights: str | None, device: str, *, backend: str = "torch", **options: Any
) -> FusionPipeline:
    """Build the fusion pipeline, or end the command with one line naming the method and the reason.

    ``backend="onnx"``: the method runs through onnxruntime (``--weights`` may then be an exported ``.onnx``
    file; otherwise the method is exported once into the cache folder, see :func:`samfuse.export.onnx_method`).
    """
    from samfuse.pipeline import FusionPipeline  # torch import kept out of `samfuse --help`

    if backend != "onnx" and weights is not None and str(weights).lower().endswith(".onnx"):
        fail(f"--weights {weights}: an exported ONNX file; add --backend onnx to run it")
    try:
        if backend == "onnx":
            from samfuse.export import onnx_method

            if device != "cpu":
                fail(f"--backend onnx runs on the CPU (got --device {device})")
            method_ = onnx_method(method, weights, on_note=lambda line: click.echo(f"note: {line}", err=True))
            return FusionPipeline(method_, None, device, **options)
        return FusionPipeline(method, weights, device, **options)
    except (KeyError, ValueError, OSError, InputError) as err:
        fail(f"--method {method}: {err.args[0] if err.args else err}")


def build_mask_source(
    provider: str | None,
    cache: Path | None,
    checkpoint: Path | None,
    params: tuple[str, ...],
    *,
    inputs: dict[str, Path],
    device: str = "cpu",
    default_cache: bool = True,
) -> MaskSource:
    """The pipeline's mask source from the ``--masks``/``--mask-*`` options (one line and exit on any problem).

    Without ``--mask-cache`` the masks go to the default cache folder, or (``default_cache=False``, videos: frames
    rarely repeat) nowhere."""
    from samfuse.io.paths import cache_dir, check_output_dir
    from samfuse.semantics import MaskSource

    name = provider or "regions"
    if provider is None:
        click.echo("note: masks from the weight-free `regions` provider (choose with --masks)", err=True)
    options: dict[str, Any] = dict(split_params(params, "--mask-param"))  # typed by the provider (build_provider)
    if checkpoint is not None:
        if name != "sam":
            fail(f"--mask-checkpoint: only with --masks sam (not {name})")
        options.update({"checkpoint": checkpoint, "device": device})
    if cache is None and not default_cache:
        return MaskSource(build_provider(name, options, option="--masks", params="--mask-param"), None)
    folder = cache if cache is not None else cache_dir() / "masks"
    try:
        check_output_dir(folder, inputs, option="--mask-cache")
    except InputError as err:
        fail(str(err))
    return MaskSource(build_provider(name, options, option="--masks", params="--mask-param"), folder)
