"""The package's shape: every function can be read in one screen."""

from __future__ import annotations

import ast
from pathlib import Path

import timerack_bridge

PACKAGE = Path(timerack_bridge.__file__).resolve().parent
FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
MAX_FUNCTION_LINES = 60


def _function_lengths(root: Path = PACKAGE) -> list[tuple[str, int]]:
    lengths = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                # Decorators and the docstring count: they are part of what a reader has to take in.
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                assert node.end_lineno is not None
                where = f"{path.relative_to(root)}:{node.lineno} {node.name}"
                lengths.append((where, node.end_lineno - first + 1))
    return lengths


def test_the_package_is_read_from_its_files() -> None:
    assert len(_function_lengths()) > 100


def test_no_function_runs_past_sixty_lines() -> None:
    too_long = [f"{where} ({lines} lines)" for where, lines in _function_lengths() if lines > MAX_FUNCTION_LINES]
    assert too_long == []


def test_no_handler_runs_past_sixty_lines() -> None:
    # The Lambda handlers and their composition roots, read as the package is
    lengths = _function_lengths(FUNCTIONS)
    assert lengths and [where for where, lines in lengths if lines > MAX_FUNCTION_LINES] == []
