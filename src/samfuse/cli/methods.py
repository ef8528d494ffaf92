"""``samfuse methods``: list the registered fusion methods."""

from __future__ import annotations

import click


@click.command("methods")
def methods_command() -> None:
    """List the registered fusion methods with a one-line description."""
    from samfuse.models import list_methods  # registering the methods loads torch: only when this command runs

    entries = list_methods()
    width = max(map(len, entries), default=0)
    for name, description in entries.items():
        click.echo(f"{name:<{width}}  {description}")
