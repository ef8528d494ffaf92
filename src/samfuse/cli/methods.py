"""``samfuse methods``: list the registered fusion methods."""

from __future__ import annotations

import click


@click.command("methods")
def methods_command() -> None:
    """List the registered fusion methods with a one-line description and the weights each uses.

    `--weights` takes a weights FILE (a path: .safetensors or the authors' .pt; `.onnx` with --backend onnx);
    there are no weight names. Without --weights a method uses the shipped file listed here.
    """
    from samfuse.batch import shipped_weights
    from samfuse.models import list_methods  # registering the methods loads torch: only when this command runs

    entries = list_methods()
    width = max(map(len, entries), default=0)
    for name, description in entries.items():
        click.echo(f"{name:<{width}}  {description}")
    click.echo("\nweights without --weights (--weights takes a file path; there are no weight names):")
    for name in entries:
        shipped = shipped_weights(name)
        if shipped is not None:
            click.echo(f"{name:<{width}}  shipped: {shipped.name}")
    click.echo(f"{'sage-student':<{width}}  none shipped: --weights FILE is required")
