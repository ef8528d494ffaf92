"""``import samfuse`` leaves the caller's environment alone; the ``samfuse`` command sets passive OpenMP waiting
(issue 22)."""

from __future__ import annotations

import os
import subprocess
import sys


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}


def test_import_does_not_change_the_environment() -> None:
    code = "import os, samfuse; samfuse.fuse; print(os.environ.get('OMP_WAIT_POLICY'))"
    out = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "None"


def test_the_command_line_and_the_helper_set_passive_waiting_unless_set() -> None:
    code = "import os, samfuse.cli.main; print(os.environ.get('OMP_WAIT_POLICY'))"
    out = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "PASSIVE"
    code = "import os, samfuse; samfuse.passive_threads(); print(os.environ['OMP_WAIT_POLICY'])"
    env = {**_env(), "OMP_WAIT_POLICY": "ACTIVE"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ACTIVE"  # an explicit setting wins
