"""The one ``KEY=VALUE`` parser: ``--param``, ``--mask-param``, ``--set`` (and the library's option dicts).

:func:`split_key_values` splits the items into ``{KEY: "VALUE"}`` text (``-`` in keys read as ``_``);
:func:`typed_options` converts each text value to the type its builder annotates (:func:`option_types`,
:func:`convert_option`), guessing (int, float, true/false, else text) where the type is not known. Every problem
is one :class:`~samfuse.io.InputError` line naming the option, e.g. ``--param steps=2.5: expected a whole
number``; the command line prints it as it is.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from samfuse.io.errors import InputError

__all__ = ["convert_option", "option_types", "parse_key_values", "split_key_values", "typed_options"]

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def split_key_values(items: Iterable[str], option: str = "--param") -> dict[str, str]:
    """``KEY=VALUE`` items → ``{KEY: "VALUE"}`` (text, stripped; ``-`` in keys read as ``_``); the last of a
    repeated key wins. :class:`InputError` ``--param 'x': expected KEY=VALUE`` for an item without ``=``."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, text = str(item).partition("=")
        if not sep or not key.strip():
            raise InputError(f"{option} {item!r}: expected KEY=VALUE")
        out[key.strip().replace("-", "_")] = text.strip()
    return out


def option_types(fn: Any) -> dict[str, Any]:
    """The annotated types of a builder's (or a class's ``__init__``) keyword options; {} when unknown."""
    target = fn.__init__ if isinstance(fn, type) else fn
    try:
        return typing.get_type_hints(target)
    except Exception:  # noqa: BLE001  (an annotation that does not resolve: no typing, values are guessed)
        return {}


def guess(text: str) -> Any:
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
    return guess(text)


def typed_options(raw: Mapping[str, Any], types_: Mapping[str, Any], option: str = "--param") -> dict[str, Any]:
    """Text values converted to the option's annotated type (:func:`convert_option`), or :class:`InputError`
    (``--param steps=2.5: expected a whole number``); values that are not text are kept, and text options of
    unknown type are guessed."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if not isinstance(value, str):
            out[key] = value
        elif key in types_:
            try:
                out[key] = convert_option(value, types_[key])
            except ValueError as err:
                raise InputError(f"{option} {key}={value}: {err}") from None
        else:
            out[key] = guess(value)
    return out


def parse_key_values(
    items: Iterable[str], option: str = "--param", types_: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """``KEY=VALUE`` items → ``{KEY: value}``, typed by ``types_`` (annotations) where known, else guessed."""
    return typed_options(split_key_values(items, option), types_ or {}, option)
