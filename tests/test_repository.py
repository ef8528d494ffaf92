"""The repository keeps its promises: .ci/run is the README's two commands, and the code is ruff-clean."""

from __future__ import annotations

import re
import subprocess
import sys

from shared_paths import REPO


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Set up and test", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S)]


def test_ci_runs_exactly_the_readme_commands() -> None:
    commands = readme_commands()
    assert len(commands) == 2
    ci = [ln for ln in (REPO / ".ci/run").read_text().splitlines() if ln and not ln.startswith(("#", "set ", "cd "))]
    assert ci == commands


def test_ruff_clean() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "src", "tests", "benchmarks"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_readme_commands_use_the_venv_and_write_only_ignored_paths() -> None:
    """Every `samfuse` command in a README code block runs as written after set-up, and its outputs are
    git-ignored (so following the README leaves `git status` clean)."""
    text = (REPO / "README.md").read_text()
    commands = [
        line.split("#")[0].strip()
        for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S)
        for line in block.splitlines()
        if "samfuse " in line
    ]
    assert len(commands) >= 7
    outputs = []
    for cmd in commands:
        assert cmd.startswith(".venv/bin/samfuse "), cmd
        words = cmd.split()
        outputs += [words[i + 1] for i, w in enumerate(words[:-1]) if w in ("--out", "--preview")]
    assert outputs
    proc = subprocess.run(["git", "check-ignore", *outputs], cwd=REPO, capture_output=True, text=True)
    assert sorted(proc.stdout.split()) == sorted(outputs), proc.stdout + proc.stderr
