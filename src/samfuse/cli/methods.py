"""``samfuse methods``: list the registered fusion methods and the named weights each takes."""

from __future__ import annotations

import click


@click.command("methods")
def methods_command() -> None:
    """List the registered fusion methods with a one-line description, then under each method the weights names
    that `--weights` accepts (`*` = the default used without `--weights`), their licence and what they were
    trained on.

    \b
    Example:
      samfuse methods
      samfuse fuse --method sage --weights sage.authors --ir IR --vi VIS --out OUT
    """
    from samfuse.models import list_methods  # registering the methods loads torch: only when this command runs
    from samfuse.models.pretrained import is_default, tags_of

    entries = list_methods()
    width = max(map(len, entries), default=0)
    for name, description in entries.items():
        click.echo(f"{name:<{width}}  {description}")
        for p in tags_of(name):
            mark = "*" if is_default(p, name) else " "
            click.echo(f"{'':<{width}}  {mark} --weights {p.name:<24} licence: {p.licence}; data: {p.data}")
