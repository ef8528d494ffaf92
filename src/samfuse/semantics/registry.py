"""Provider registry: a dict from name to builder, filled by a decorator at import time.

Extend it from your own code::

    from samfuse.semantics import MaskProvider, MaskSet, register_provider

    @register_provider("grid", "fixed 2x2 grid of quarters")
    class Grid(MaskProvider):
        name = "grid"
        def params(self): return {}
        def generate(self, image): ...

Any callable ``builder(**options) -> MaskProvider`` can be registered (a class is one).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .base import MaskProvider, ProviderError

__all__ = [
    "register_provider",
    "get_provider",
    "list_providers",
    "provider_options",
    "UnknownProviderError",
    "UnknownOptionError",
]

B = TypeVar("B", bound=Callable[..., MaskProvider])


class UnknownProviderError(KeyError):
    """No provider is registered under that name."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it one plain line
        return str(self.args[0])


class UnknownOptionError(ProviderError):
    """An option the provider does not take; the message lists the ones it does."""


@dataclass(frozen=True)
class _Entry:
    builder: Callable[..., MaskProvider]
    description: str


_REGISTRY: dict[str, _Entry] = {}


def register_provider(name: str, description: str = "", *, overwrite: bool = False) -> Callable[[B], B]:
    """Decorator registering ``builder`` under ``name``; a second registration needs ``overwrite=True``."""

    def deco(builder: B) -> B:
        if name in _REGISTRY and not overwrite:
            raise ValueError(f"mask provider {name!r} is already registered")
        _REGISTRY[name] = _Entry(builder, description or (builder.__doc__ or "").strip().split("\n")[0])
        return builder

    return deco


def _entry(name: str) -> _Entry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownProviderError(
            f"unknown mask provider {name!r}; available: {', '.join(sorted(_REGISTRY))}"
        ) from None


def provider_options(name: str) -> list[str] | None:
    """The option names the provider ``name`` takes, in its signature's order, or None when it takes any
    (a ``**kwargs`` builder without an ``extra_options`` attribute listing them)."""
    builder = _entry(name).builder
    params = inspect.signature(builder).parameters.values()
    names = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if any(p.kind is p.VAR_KEYWORD for p in params):
        extra = getattr(builder, "extra_options", None)
        if extra is None:
            return None
        names += [n for n in extra if n not in names]
    return names


def get_provider(name: str, **options: Any) -> MaskProvider:
    """Build the provider registered as ``name`` with ``options`` (see each provider's parameters).

    An option the provider does not take raises :class:`UnknownOptionError` listing the valid ones.
    """
    entry = _entry(name)
    valid = provider_options(name)
    if valid is not None:
        unknown = [k for k in options if k not in valid]
        if unknown:
            raise UnknownOptionError(
                f"unknown option(s) for mask provider {name!r}: {', '.join(unknown)}; valid: {', '.join(valid)}"
            )
    return entry.builder(**options)


def list_providers() -> dict[str, str]:
    """Registered providers: name -> one-line description, sorted by name."""
    return {k: _REGISTRY[k].description for k in sorted(_REGISTRY)}
