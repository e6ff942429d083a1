"""Every name of the stack's constants module is used somewhere: a dead constant misleads a reader."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONSTANTS = ROOT / "infra" / "stack" / "constants.py"


def constant_names() -> list[str]:
    tree = ast.parse(CONSTANTS.read_text(encoding="utf-8"))
    names = []
    for node in tree.body:
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        names += [t.id for t in targets if isinstance(t, ast.Name) and t.id.isupper()]
    return names


def test_every_stack_constant_is_used_outside_its_module() -> None:
    # Given the code that may use the constants: the stack, the functions, the tests, and the module's
    # own other lines (a constant built from another)
    sources = [
        p.read_text(encoding="utf-8")
        for folder in ("infra", "functions", "tests")
        for p in (ROOT / folder).rglob("*.py")
        if p != CONSTANTS
    ]
    own = CONSTANTS.read_text(encoding="utf-8").splitlines()
    text = "\n".join([*sources, *(line for line in own if not re.match(r"^[A-Z_][A-Z0-9_]*\s*[:=]", line))])
    # Then each constant is named there
    unused = [name for name in constant_names() if not re.search(rf"\b{name}\b", text)]
    assert constant_names() and unused == []
