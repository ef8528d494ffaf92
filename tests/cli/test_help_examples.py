"""Issue 25: the --help of every command shows one or two real examples, and `samfuse methods` lists the weights
names --weights accepts."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from samfuse.cli.main import main

COMMANDS = sorted(main.list_commands(None))  # type: ignore[arg-type]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_shows_an_example(command: str) -> None:
    res = CliRunner().invoke(main, [command, "--help"])
    assert res.exit_code == 0
    assert re.search(r"Examples?:", res.output), command
    assert re.search(rf"^\s+(samfuse {command}\b|torchrun .* samfuse {command}\b)", res.output, re.M), command


def test_methods_lists_the_weights_names() -> None:
    res = CliRunner().invoke(main, ["methods"])
    assert res.exit_code == 0
    assert re.search(r"^\s+\* --weights sage\.\S+", res.output, re.M)  # the default, marked
    assert re.search(r"^\s+ {0,2}--weights sage\.authors\b", res.output, re.M)
