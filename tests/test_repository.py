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
        [sys.executable, "-m", "ruff", "check", "src", "tests", "benchmarks"], cwd=REPO, capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
