"""``samfuse methods``: list the registered fusion methods."""

from __future__ import annotations

import click

from samfuse.models import list_methods


@click.command("methods")
def methods_command() -> None:
    """List the registered fusion methods with a one-line description."""
    entries = list_methods()
    width = max(map(len, entries), default=0)
    for name, description in entries.items():
        click.echo(f"{name:<{width}}  {description}")
