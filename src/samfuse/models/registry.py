"""The method registry, in the segment-anything / timm manner: name → builder, filled by a decorator.

``build(name, weights=...)`` returns a ready (eval-mode) :class:`~samfuse.models.base.FusionMethod`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from samfuse.models.base import FusionMethod

Builder = Callable[..., FusionMethod]


@dataclass(frozen=True)
class MethodEntry:
    """A registered method: its builder and a one-line description."""

    name: str
    builder: Builder
    description: str


_REGISTRY: dict[str, MethodEntry] = {}


def register(name: str, description: str) -> Callable[[Builder], Builder]:
    """Decorator: register ``builder(weights=None, **kwargs) -> FusionMethod`` under ``name``."""

    def deco(builder: Builder) -> Builder:
        if name in _REGISTRY:
            raise ValueError(f"method {name!r} is already registered")
        _REGISTRY[name] = MethodEntry(name, builder, description)
        return builder

    return deco


def list_methods() -> dict[str, str]:
    """Registered method names → one-line descriptions, sorted by name."""
    return {n: _REGISTRY[n].description for n in sorted(_REGISTRY)}


def method_options(name: str) -> list[str]:
    """The options the builder of ``name`` takes besides ``weights`` (``samfuse fuse --param KEY=VALUE``)."""
    import inspect

    params = inspect.signature(_REGISTRY[name].builder).parameters
    return [p for p, v in params.items() if p != "weights" and v.kind is not inspect.Parameter.VAR_KEYWORD]


def method_builder(name: str) -> Builder:
    """The builder registered as ``name`` (KeyError if none): its annotations type ``--param`` values."""
    return _REGISTRY[name].builder


def samples(name: str) -> bool:
    """Whether the method ``name`` samples, i.e. its builder takes a ``seed`` option (``samfuse fuse --seed``):
    the same seed gives the identical output, another seed another sample. False for an unknown name."""
    import inspect

    entry = _REGISTRY.get(name)
    return entry is not None and "seed" in inspect.signature(entry.builder).parameters


def preferred_backend(name: str) -> str:
    """The backend the method ``name`` runs on by default (``--backend auto``): its class's ``preferred_backend``
    (read from the builder's return annotation, nothing is built), ``"torch"`` for an unknown name or class."""
    import typing

    entry = _REGISTRY.get(name)
    if entry is None:
        return "torch"
    try:
        cls = typing.get_type_hints(entry.builder).get("return")
    except Exception:  # noqa: BLE001  (an unresolvable annotation: the safe default)
        return "torch"
    return str(getattr(cls, "preferred_backend", "torch"))


def build(
    name: str,
    weights: str | Path | None = None,
    device: str | torch.device = "cpu",
    **kwargs: object,
) -> FusionMethod:
    """Build the method ``name`` (with ``weights``: a weights name such as ``sage.authors`` (see
    :mod:`samfuse.models.pretrained`) or a file path; None = the method's default weights, if it has any), in eval
    mode on ``device``."""
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise KeyError(f"unknown method {name!r} (registered: {known})")
    import inspect

    params = inspect.signature(_REGISTRY[name].builder).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(kwargs) - set(params))
        if unknown:
            known = ", ".join(method_options(name)) or "none"
            raise ValueError(f"method {name!r} has no option {', '.join(map(repr, unknown))} (options: {known})")
    from samfuse.models.pretrained import resolve

    if not kwargs.get("random_init"):
        weights = resolve(name, weights)
    model = _REGISTRY[name].builder(weights=weights, **kwargs)
    return model.to(device).eval()
