"""The environment the stack gives each function is what that function's settings model reads, and passes it."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]

# Read by Powertools (and pydantic) itself, not by a settings model.
POWERTOOLS = {
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
    "POWERTOOLS_TRACER_CAPTURE_RESPONSE",
    "PYDANTIC_DISABLE_PLUGINS",
}


def _plain(value: Any) -> str:
    # A CloudFormation reference (a table name, a secret ARN) stands for a non-empty string.
    return value if isinstance(value, str) else "resolved-at-deploy"


def test_each_function_is_given_only_variables_its_settings_read_and_they_pass(
    synthesized: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from timerack_bridge.config import FUNCTION_SETTINGS

    for stack in synthesized.templates:
        for function, resource in synthesized.functions(stack).items():
            variables = resource["Properties"]["Environment"]["Variables"]
            model = FUNCTION_SETTINGS[function]
            assert set(variables) - POWERTOOLS <= set(model.variables()), (stack, function)
            for name in model.variables():
                monkeypatch.delenv(name, raising=False)
            for name, value in variables.items():
                monkeypatch.setenv(name, _plain(value))
            model.from_env()  # a ConfigurationError here would fail the deployed function's init
            # No plugin discovery at the first model's build (an entry-point scan of every distribution)
            assert variables["PYDANTIC_DISABLE_PLUGINS"] == "__all__", (stack, function)
