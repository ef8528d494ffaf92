"""``samfuse data``: list the named datasets and verify files against the manifest."""

from __future__ import annotations

from pathlib import Path

import click
from tqdm import tqdm

from samfuse.cli.common import fail
from samfuse.data import check_manifest, get_dataset, list_datasets, resolve_root
from samfuse.io import InputError

root_option = click.option(
    "--data-root",
    type=click.Path(path_type=Path),
    default=None,
    help="Datasets folder (default: $SAMFUSE_DATA_ROOT, else ./shared/datasets or ../shared/datasets).",
)


@click.group("data")
def data_group() -> None:
    """Named datasets over the shared data folder.

    \b
    Examples:
      samfuse data list
      samfuse data check msrs roadscene
    """


@data_group.command("list")
@root_option
def list_command(data_root: Path | None) -> None:
    """List the named datasets with their pair counts."""
    try:
        root = resolve_root(data_root)
    except InputError as err:
        fail(str(err))
    click.echo(f"data root: {root}")
    for name, description in list_datasets().items():
        try:
            count: str = str(len(get_dataset(name, root)))
        except InputError as err:
            count = f"unavailable ({err})"
        click.echo(f"{name:<11} {count:>4} pairs  {description}")


@data_group.command("check")
@root_option
@click.argument("names", nargs=-1)
def check_command(data_root: Path | None, names: tuple[str, ...]) -> None:
    """Verify size and sha256 of the dataset files against manifest.csv (all sets, or NAMES)."""
    try:
        checked, problems = check_manifest(
            data_root, names or None, progress=lambda rows: tqdm(rows, unit="file", desc="check")
        )
    except InputError as err:
        fail(str(err))
    for p in problems:
        click.echo(f"error: {p.path}: {p.reason}", err=True)
    click.echo(f"{checked - len(problems)} files ok, {len(problems)} failed", err=True)
    raise SystemExit(1 if problems else 0)
