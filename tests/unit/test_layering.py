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
    ),
}
# The package itself (`from timerack_bridge import __version__`, the HTTPS User-Agent): adapters only.
PACKAGE_ROOT_USERS = ("adapters",)


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
    if module == "timerack_bridge":
        return floor in PACKAGE_ROOT_USERS
    return any(module == prefix or module.startswith(prefix + ".") for prefix in ALLOWED[floor])


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


def test_the_check_does_not_take_the_package_name_as_a_prefix(tmp_path: Path) -> None:
    # Given an adapter that imports a flow and the API
    module = tmp_path / "adapter.py"
    module.write_text(
        "from timerack_bridge.logic.intake import submit_batch\nfrom timerack_bridge.api.app import build_app\n"
    )
    # Then both are named, though the package's own name is allowed to adapters
    assert [m for m in package_imports(module) if not allowed("adapters", m)] == [
        "timerack_bridge.logic.intake",
        "timerack_bridge.api.app",
    ]


def test_the_product_never_imports_the_local_runtime() -> None:
    # Given the shared package and the Lambda functions (what is deployed)
    files = [*PACKAGE.rglob("*.py"), *(Path(__file__).resolve().parents[2] / "functions").rglob("*.py")]
    # Then none imports local/ (the local runtime is an entry point beside them, never below them)
    offenders = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
            offenders += [f"{path.name}: {n}" for n in names if n == "local" or n.startswith("local.")]
    assert files and offenders == []


# The export worker records one client's AWS failure as that client's outcome (retried by the queue);
# which exceptions those are is still named in the flow (moving that into the adapters is open work,
# docs/architecture.md).
AWS_NAMED_IN_LOGIC = {"logic/export_worker.py"}


@pytest.mark.parametrize("floor", ["domain", "logic"])
def test_rules_and_flows_do_not_talk_to_aws(floor: str) -> None:
    # Given every module of the floor
    offenders = []
    for path in sorted((PACKAGE / floor).rglob("*.py")):
        if str(path.relative_to(PACKAGE)) in AWS_NAMED_IN_LOGIC:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
            offenders += [
                f"{path.relative_to(PACKAGE)}: {n}" for n in names if n.split(".")[0] in {"boto3", "botocore"}
            ]
    # Then none imports boto3 or botocore: AWS is the adapters' business
    assert offenders == []
