"""The package's shape: every function can be read in one screen."""

from __future__ import annotations

import ast
from pathlib import Path

import timerack_bridge

PACKAGE = Path(timerack_bridge.__file__).resolve().parent
MAX_FUNCTION_LINES = 60


def _function_lengths() -> list[tuple[str, int]]:
    lengths = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                # Decorators and the docstring count: they are part of what a reader has to take in.
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                assert node.end_lineno is not None
                where = f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}"
                lengths.append((where, node.end_lineno - first + 1))
    return lengths


def test_the_package_is_read_from_its_files() -> None:
    assert len(_function_lengths()) > 100


def test_no_function_runs_past_sixty_lines() -> None:
    too_long = [f"{where} ({lines} lines)" for where, lines in _function_lengths() if lines > MAX_FUNCTION_LINES]
    assert too_long == []
