"""Helpers shared by the commands: option parsing, fatal one-line errors, device checks."""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from samfuse.io.reading import ValueRange


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: <message>`` as one line on stderr and exit with ``code`` (no traceback)."""
    click.echo(f"error: {' '.join(str(message).split())}", err=True)
    sys.exit(code)


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


def parse_value_range(text: str | None) -> ValueRange:
    """``--value-range``: ``LO,HI`` (e.g. ``0,16383`` for a 14-bit camera) or ``minmax``; none = by bit depth."""
    if text is None:
        return None
    if text.strip().lower() == "minmax":
        return "minmax"
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        fail(f"--value-range {text!r}: expected LO,HI (two numbers) or 'minmax'")
    if hi <= lo:
        fail(f"--value-range {text!r}: LO must be smaller than HI")
    return (lo, hi)
