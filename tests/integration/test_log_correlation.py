"""Every log line of a request carries its correlation id, the module loggers' lines too (JSON, one per line)."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

from tests.conftest import cold_start
from tests.integration.test_export_changes import ADMIN, EMPLOYEE_601, PIN, BrokenQueue
from tests.integration.test_export_changes import changes as changes  # the fixture

REQUEST_ID = "c0ffee00-1111-2222-3333-444455556666"


class Context:
    function_name = "timerack-api"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:timerack-api"
    aws_request_id = "lambda-request-1"

    def get_remaining_time_in_millis(self) -> int:
        return 28_000


def _json_lines(text: str) -> list[dict[str, Any]]:
    """The log lines (a metrics line, EMF, is not one)."""
    return [line for line in map(json.loads, filter(lambda t: t.startswith("{"), text.splitlines())) if "level" in line]


def test_a_module_logger_line_of_an_api_request_carries_the_request_id(
    services: Any, changes: Any, resolver: Any
) -> None:
    from local.proxy import build_proxy_event
    from timerack_bridge.api.deps import Services

    handler = cold_start("functions.api.handler")
    broken = Services(settings=services.settings, dynamodb=services.dynamodb, export_queue=BrokenQueue(refuse=False))
    instance = handler.ApiInstance(services=broken, app=resolver)
    event = build_proxy_event(
        "PUT",
        "/v1/employees/601",
        headers={"Content-Type": "application/json"},
        body=json.dumps({**EMPLOYEE_601, "pinOverride": PIN}),
        claims={"sub": ADMIN["principal"], "scope": "timerack/timecards.write timerack/admin"},
    )
    event["requestContext"]["requestId"] = REQUEST_ID
    # The function's logger writes where this test reads (an earlier test's handler may hold another stream)
    stream = io.StringIO()
    for log_handler in logging.getLogger(handler.logger.service).handlers:
        if isinstance(log_handler, logging.StreamHandler):
            log_handler.setStream(stream)
    # When a PUT's change cannot be queued (logged by logic/export_changes.py, a module logger)
    reply = handler.lambda_handler(event, Context(), instance)
    assert reply["statusCode"] == 200
    lines = _json_lines(stream.getvalue())
    # Then that line is JSON with the request's correlation id, as every line of the request
    assert any("not queued" in line["message"] for line in lines)
    assert lines and all(line.get("correlation_id") == REQUEST_ID for line in lines), lines
    assert all(line["service"] == "timerack-bridge" for line in lines)


def test_no_logger_names_its_own_service() -> None:
    """A logger with its own service name is not under the function's logger (POWERTOOLS_SERVICE_NAME, set per
    function by the stack): its lines lose the correlation id and the Lambda context keys."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    named = []
    for path in [*(root / "layers" / "shared" / "python").rglob("*.py"), *(root / "functions").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            is_logger = (
                isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "Logger"
            )
            if is_logger and any(keyword.arg == "service" for keyword in node.keywords):  # type: ignore[attr-defined]
                named.append(f"{path.relative_to(root)}:{node.lineno}")
    assert named == []
