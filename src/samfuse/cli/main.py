"""The ``samfuse`` command group.

Commands are loaded lazily from ``COMMANDS`` (name → ``"module:attribute"``), so ``samfuse --help`` stays fast
and one command's heavy imports do not slow the others. Add a command by adding one line here.
"""

from __future__ import annotations

import importlib

import click

from samfuse import __version__, passive_threads

passive_threads()  # the command line sets OpenMP's passive waiting before any command imports torch

COMMANDS: dict[str, str] = {
    "fuse": "samfuse.cli.fuse:fuse_command",
    "methods": "samfuse.cli.methods:methods_command",
    "data": "samfuse.cli.data:data_group",
    "masks": "samfuse.cli.masks:masks_command",
    "eval": "samfuse.cli.eval:eval_command",
    "train": "samfuse.cli.train:train_command",
    "export": "samfuse.cli.export:export_command",
    "bench": "samfuse.cli.bench:bench_command",
    "demo": "samfuse.cli.demo:demo_command",
    "robustness": "samfuse.cli.robustness:robustness_command",
}


class LazyGroup(click.Group):
    """A click group that imports a command's module only when the command is used or listed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="samfuse")
def main() -> None:
    """samfuse: SAM-guided infrared-visible image fusion, metrics and semantic masks."""
