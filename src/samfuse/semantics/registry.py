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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .base import MaskProvider

__all__ = ["register_provider", "get_provider", "list_providers", "UnknownProviderError"]

B = TypeVar("B", bound=Callable[..., MaskProvider])


class UnknownProviderError(KeyError):
    """No provider is registered under that name."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it one plain line
        return str(self.args[0])


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


def get_provider(name: str, **options: Any) -> MaskProvider:
    """Build the provider registered as ``name`` with ``options`` (see each provider's parameters)."""
    try:
        entry = _REGISTRY[name]
    except KeyError:
        raise UnknownProviderError(
            f"unknown mask provider {name!r}; available: {', '.join(sorted(_REGISTRY))}"
        ) from None
    return entry.builder(**options)


def list_providers() -> dict[str, str]:
    """Registered providers: name -> one-line description, sorted by name."""
    return {k: _REGISTRY[k].description for k in sorted(_REGISTRY)}
