"""`make test` (what CI runs, through .ci/run) lints and type-checks before the suite."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def planned_commands(target: str, makefile: Path = REPO_ROOT / "Makefile") -> list[str]:
    """The commands `make TARGET` would run, in order, without running them (make -n)."""
    make = shutil.which("make") or "make"
    done = subprocess.run(
        [make, "--no-print-directory", "-n", "-f", str(makefile), target],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.splitlines()


def first(commands: list[str], needle: str) -> int:
    return next((i for i, command in enumerate(commands) if needle in command), -1)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_test_runs_ruff_and_mypy_before_the_suite() -> None:
    commands = planned_commands("test")
    suite = first(commands, "-m pytest")
    checks = [first(commands, needle) for needle in ("ruff check", "ruff format --check", "bin/mypy")]
    assert suite >= 0 and all(0 <= check < suite for check in checks), commands


def test_ci_runs_make_test() -> None:
    assert "make test" in (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
