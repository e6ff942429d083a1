"""`timerack-bridge` finds a running `make run` through TIMERACK_STATE_DIR and TIMERACK_PORT, and fails in one line."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import pytest

from local.runtime import free_port
from local.seed import current_weekend_bill
from local.tokens import signing_key
from tests.e2e.conftest import LocalStack, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

HEADER = (
    "Assignment ID,Employee ID,Pay Code,Date,Hours,Punch In,Punch Out,"
    "Adjustment Code,Adjustment Amount,Adjustment Description"
)


def feed(tmp_path: Path) -> tuple[Path, str]:
    weekend_bill = current_weekend_bill(date.today()).isoformat()
    path = tmp_path / "feed.csv"
    path.write_text(f"{HEADER}\n3001,504,REG,{weekend_bill},8,,,,,\n")
    return path, weekend_bill


def assert_one_line_failure(result: object, *words: str) -> None:
    assert result.returncode != 0  # type: ignore[attr-defined]
    stderr: str = result.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    for word in words:
        assert word in lines[0], stderr


def test_import_finds_the_running_runtime(local_stack: LocalStack, tmp_path: Path) -> None:
    path, weekend_bill = feed(tmp_path)
    result = local_stack.cli(
        "import", str(path), "--parent-customer", "300", "--weekend-bill", weekend_bill, "--dry-run"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rows"] == 1 and "Traceback" not in result.stderr


def test_an_admin_imports_with_the_cli(local_stack: LocalStack, tmp_path: Path) -> None:
    """`--admin`: a TempWorks admin's token (no service rep behind it) runs the same import."""
    path, weekend_bill = feed(tmp_path)
    args = ("import", str(path), "--parent-customer", "300", "--weekend-bill", weekend_bill, "--dry-run")
    result = local_stack.cli(*args, "--admin")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rows"] == 1
    # A caller who is neither a rep nor an admin is refused
    refused = local_stack.cli(*args, "--principal", "nobody")
    assert refused.returncode == 1 and "403" in refused.stderr


def test_export_finds_the_running_runtime(local_stack: LocalStack) -> None:
    result = local_stack.cli("export", "--client", "ACME-1")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["clients"][0]["clientKey"] == "ACME-1"


@pytest.mark.parametrize("command", ["import", "export"])
@pytest.mark.parametrize("ran_before", [False, True], ids=["never ran", "ran before"])
def test_no_runtime_running_is_one_line(tmp_path: Path, command: str, ran_before: bool) -> None:
    path, weekend_bill = feed(tmp_path)
    args = [str(path), "--parent-customer", "300", "--weekend-bill", weekend_bill] if command == "import" else []
    if ran_before:  # a state directory a stopped runtime left: its signing key, no runtime.json
        signing_key(tmp_path / "state")
    env = {**os.environ, "TIMERACK_STATE_DIR": str(tmp_path / "state"), "TIMERACK_PORT": str(free_port())}
    env.pop("TIMERACK_BRIDGE_URL", None)
    assert_one_line_failure(run_cli(command, *args, env=env), "no local runtime")


def test_a_missing_file_is_one_line(local_stack: LocalStack, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.csv"
    result = local_stack.cli("import", str(missing), "--parent-customer", "300", "--weekend-bill", "2026-11-22")
    assert_one_line_failure(result, "nowhere.csv")


def test_an_http_error_is_one_line(local_stack: LocalStack, tmp_path: Path) -> None:
    path, weekend_bill = feed(tmp_path)
    args = ["--parent-customer", "300", "--weekend-bill", weekend_bill, "--token", "not.a.token"]
    result = local_stack.cli("import", str(path), *args)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("Refused (401)"), result.stderr
