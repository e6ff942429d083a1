"""One direction of dependency: domain <- logic <- adapters <- entry points (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "layers" / "shared" / "python" / "timerack_bridge"
# What each floor may import of the package, besides itself (exceptions: the failures every floor names).
ALLOWED = {
    "domain": ("timerack_bridge.domain", "timerack_bridge.exceptions"),
    "logic": ("timerack_bridge.domain", "timerack_bridge.logic", "timerack_bridge.exceptions"),
    "adapters": (
        "timerack_bridge.domain",
        "timerack_bridge.logic.ports",
        "timerack_bridge.adapters",
        "timerack_bridge.exceptions",
        "timerack_bridge",  # the package's __version__ (the HTTPS User-Agent)
    ),
}


def package_imports(source: Path) -> list[str]:
    """Every timerack_bridge module a file imports, at the top or inside a function."""
    names: list[str] = []
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("timerack_bridge"):
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names if alias.name.startswith("timerack_bridge")]
    return names


def allowed(floor: str, module: str) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in ALLOWED[floor]) and not (
        module == "timerack_bridge" and floor != "adapters"
    )


@pytest.mark.parametrize("floor", sorted(ALLOWED))
def test_no_module_imports_from_a_floor_above_its_own(floor: str) -> None:
    # Given every module of one floor
    files = sorted((PACKAGE / floor).rglob("*.py"))
    assert files, f"no modules under {floor}/"
    # Then none imports from a floor above it
    upward = [
        f"{path.relative_to(PACKAGE)} imports {module}"
        for path in files
        for module in package_imports(path)
        if not allowed(floor, module)
    ]
    assert upward == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    # Given a domain module that imports an adapter
    module = tmp_path / "rule.py"
    module.write_text("def f():\n    from timerack_bridge.adapters.ses import SesEmailSender\n")
    # Then the check names it
    assert [m for m in package_imports(module) if not allowed("domain", m)] == ["timerack_bridge.adapters.ses"]
