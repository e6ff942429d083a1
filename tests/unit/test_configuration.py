"""Each function reads its settings at cold start and fails its init naming a bad variable; README lists them all."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import cold_start
from timerack_bridge.config import FUNCTION_SETTINGS, ConfigurationError

ROOT = Path(__file__).resolve().parents[2]

# A complete configuration of each function, as the stack gives it.
QUEUES = {
    "EXPORT_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/exports-bulk",
    "EXPORT_PRIORITY_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/exports-priority",
}
VALID = {
    "api": {"TABLE_NAME": "main", "IDEMPOTENCY_TABLE_NAME": "idem", "EXPORT_DESTINATION": "outbox", **QUEUES},
    "export": {"TABLE_NAME": "main", "EXPORT_DESTINATION": "https", **QUEUES},
    "export_worker": {
        "TABLE_NAME": "main",
        "EXPORT_DESTINATION": "outbox",
        "EXPORT_OUTBOX_DIR": "/tmp/outbox",
        **QUEUES,
    },
    "mailer": {"TABLE_NAME": "main", "SENDER_EMAIL": "timerack-bridge@agency.example"},
}
# One malformed value per function, and the variable the failure must name.
MALFORMED = {
    "api": ("WRITE_PARALLELISM", "0"),
    "export": ("EXPORT_DESTINATION", "ftp"),
    "export_worker": ("TIMERACK_MAX_ATTEMPTS", "many"),
    "mailer": ("SENDER_EMAIL", "not an address"),
}


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No variable of any settings model is set, whatever the developer's shell has."""
    for model in FUNCTION_SETTINGS.values():
        for name in model.variables():
            monkeypatch.delenv(name, raising=False)
    return monkeypatch


def configure(monkeypatch: pytest.MonkeyPatch, variables: dict[str, str]) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("function", sorted(VALID))
def test_a_complete_configuration_is_read_at_cold_start(environment: pytest.MonkeyPatch, function: str) -> None:
    configure(environment, VALID[function])
    handler = cold_start(f"functions.{function}.handler")
    assert isinstance(handler.settings, FUNCTION_SETTINGS[function])
    assert handler.settings.table_name == "main"


@pytest.mark.parametrize(("function", "missing"), [(f, name) for f, env in sorted(VALID.items()) for name in env])
def test_a_missing_variable_fails_the_init_naming_it(
    environment: pytest.MonkeyPatch, function: str, missing: str
) -> None:
    configure(environment, {k: v for k, v in VALID[function].items() if k != missing})
    with pytest.raises(ConfigurationError, match=missing):
        cold_start(f"functions.{function}.handler")


@pytest.mark.parametrize("function", sorted(MALFORMED))
def test_a_malformed_variable_fails_the_init_naming_it(environment: pytest.MonkeyPatch, function: str) -> None:
    name, value = MALFORMED[function]
    configure(environment, VALID[function] | {name: value})
    with pytest.raises(ConfigurationError, match=name) as failure:
        cold_start(f"functions.{function}.handler")
    assert value not in str(failure.value)  # a value can be a secret: the message names, never shows


def readme_configuration() -> dict[str, set[str]]:
    """README's Configuration table: each variable and the functions (api, export, mailer, local) using it."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    table: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and (names := re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0])):
            for name in names:
                table[name] = {user.strip() for user in cells[1].split(",")}
    return table


def local_runtime_variables() -> set[str]:
    """The variables the local runtime and its CLI read (names quoted in local/)."""
    return {
        name
        for path in (ROOT / "local").rglob("*.py")
        for name in re.findall(r"[\"'](TIMERACK_[A-Z_]+)[\"']", path.read_text())
    }


def test_readme_lists_every_variable_of_every_function_and_no_other() -> None:
    expected: dict[str, set[str]] = {}
    for function, model in FUNCTION_SETTINGS.items():
        for name in model.variables():
            expected.setdefault(name, set()).add(function)
    for name in local_runtime_variables():
        expected.setdefault(name, set()).add("local")
    assert readme_configuration() == expected
