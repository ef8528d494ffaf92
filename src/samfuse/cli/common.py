"""Helpers shared by the commands: option parsing, fatal one-line errors, device checks."""

from __future__ import annotations

import shlex
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import click

from samfuse.cli.report import BatchReport
from samfuse.io.errors import InputError
from samfuse.io.pairing import PairSet
from samfuse.io.reading import ValueRange


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: <message>`` as one line on stderr and exit with ``code`` (no traceback)."""
    click.echo(f"error: {' '.join(str(message).split())}", err=True)
    sys.exit(code)


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


def parse_params(items: tuple[str, ...], option: str = "--param") -> dict[str, Any]:
    """``KEY=VALUE`` items → ``{KEY: VALUE}``; values parsed as int, float, true/false, else kept as text."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            fail(f"{option} {item!r}: expected KEY=VALUE")
        value: Any = text.strip()
        for cast in (int, float):
            try:
                value = cast(text)
                break
            except ValueError:
                pass
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        out[key.strip().replace("-", "_")] = value
    return out


def method_params(method: str, params: tuple[str, ...], steps: int | None = None, backend: str = "torch") -> dict:
    """``--param KEY=VALUE`` items (plus ``--steps N``) → the method's builder options, or end the command with one
    line naming the options ``method`` has."""
    options = parse_params(params, "--param")
    if steps is not None:
        if "steps" in options and options["steps"] != steps:
            fail(f"--steps {steps} and --param steps={options['steps']} disagree; give one")
        options["steps"] = steps
    if not options:
        return options
    if backend == "onnx":
        fail("--param/--steps: not available with --backend onnx (the exported graph has no options)")
    from samfuse.models import list_methods, method_options  # torch import kept out of `samfuse --help`

    if method not in list_methods():
        return options  # the unknown method is reported by the builder, with the list of methods
    known = method_options(method)
    unknown = [k for k in options if k not in known]
    if unknown:
        names = ", ".join(("--steps" if k == "steps" and steps is not None else f"--param {k}") for k in unknown)
        fail(f"{names}: --method {method} has no such option (its options: {', '.join(known) or 'none'})")
    return options


def build_provider(name: str, options: dict[str, Any], *, option: str = "--provider", params: str = "--param") -> Any:
    """The mask provider ``name`` with ``options``, or end the command with one line saying what is wrong."""
    from samfuse.semantics import ProviderError, UnknownOptionError, UnknownProviderError, get_provider, list_providers

    if name not in list_providers():
        fail(f"unknown mask provider {name!r}; available: {', '.join(list_providers())}")
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
