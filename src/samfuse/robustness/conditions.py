"""Perturbation conditions: :class:`Condition` (``none``, ``erode``/``dilate`` by a k×k square, ``drop`` with p),
the per-image drop seed and :func:`parse_perturbations` (the ``--perturb`` specs)."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from samfuse.semantics.base import MaskSet
from samfuse.semantics.perturb import dilate, drop_masks, erode

#: The perturbations a spec may name, and what their values are.
KINDS = {"erode": "k", "dilate": "k", "drop": "p"}

#: The specs used when none are given (the study the issue names).
DEFAULT_SPECS = ("erode:3,5,7", "dilate:3,5,7")


@dataclass(frozen=True)
class Condition:
    """One way of perturbing every mask: ``none``, ``erode``/``dilate`` by a k×k square, or ``drop`` with p."""

    kind: str
    value: float | None = None

    @property
    def name(self) -> str:
        """Folder and row name: ``none``, ``erode-3``, ``dilate-5``, ``drop-0.5``."""
        if self.kind == "none":
            return "none"
        return f"{self.kind}-{self.value:g}"

    @property
    def label(self) -> str:
        """For tables: ``none``, ``erode k=3``, ``drop p=0.5``."""
        if self.kind == "none":
            return "none"
        return f"{self.kind} {KINDS[self.kind]}={self.value:g}"

    def perturbation(self, seed: int = 0) -> Callable[[MaskSet], MaskSet] | None:
        """The function applied to each image's :class:`MaskSet` (None for ``none``)."""
        if self.kind == "none":
            return None
        if self.kind == "drop":
            p = float(self.value or 0.0)

            def drop(masks: MaskSet) -> MaskSet:
                return drop_masks(masks, p, seed=image_seed(masks, seed))

            return drop
        k = int(self.value or 1)
        op = erode if self.kind == "erode" else dilate

        def morph(masks: MaskSet) -> MaskSet:
            return op(masks, k)

        return morph


NONE = Condition("none")


def image_seed(masks: MaskSet, seed: int) -> int:
    """The drop seed of one image's masks: ``seed`` combined with a checksum of the masks themselves, so each
    image (and each modality) draws its own drops, the same in every run and whatever order images come in."""
    key = zlib.crc32(np.packbits(masks.masks).tobytes()) ^ zlib.crc32(repr(masks.masks.shape).encode())
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, key]).generate_state(1)[0])


def _value(kind: str, text: str, spec: str) -> float:
    where = f"--perturb {spec!r}"
    if kind == "drop":
        try:
            p = float(text)
        except ValueError:
            raise ValueError(f"{where}: {text!r} is not a probability (a number in (0, 1])") from None
        if not 0.0 < p <= 1.0:
            raise ValueError(f"{where}: p={text} is outside (0, 1] (p=0 is the reference `none`, always included)")
        return p
    try:
        k = int(text)
    except ValueError:
        raise ValueError(f"{where}: {text!r} is not a kernel size (an odd integer ≥ 3)") from None
    if k < 3 or k % 2 == 0:
        raise ValueError(f"{where}: k={text} must be an odd integer ≥ 3 (k=1 is the reference `none`)")
    return k


def parse_perturbations(specs: Iterable[str]) -> list[Condition]:
    """``["erode:3,5,7", "dilate:3", "drop:0.5"]`` → ``[none, erode-3, erode-5, erode-7, dilate-3, drop-0.5]``.

    A spec is ``KIND:V1,V2,...`` with KIND ``erode`` or ``dilate`` (odd kernel sizes k ≥ 3) or ``drop``
    (probabilities p in (0, 1]); several specs may also come in one string separated by spaces. ``none`` is
    always the first condition (giving it is allowed). No spec at all means :data:`DEFAULT_SPECS`.
    :class:`ValueError` (one line naming the spec) for anything else, or a condition given twice.
    """
    words = [w for spec in specs for w in str(spec).split()]
    if not words:
        words = list(DEFAULT_SPECS)
    out = [NONE]
    for spec in words:
        if spec == "none":
            continue
        kind, sep, values = spec.partition(":")
        if kind not in KINDS:
            raise ValueError(f"--perturb {spec!r}: unknown perturbation {kind!r} (use erode:K,…, dilate:K,…, drop:P,…)")
        if not sep or not values.strip(","):
            raise ValueError(f"--perturb {spec!r}: no values (e.g. {kind}:{'0.5' if kind == 'drop' else '3,5,7'})")
        for text in values.split(","):
            if not text.strip():
                continue
            cond = Condition(kind, _value(kind, text.strip(), spec))
            if cond in out:
                raise ValueError(f"--perturb {spec!r}: {cond.label} is given twice")
            out.append(cond)
    return out
