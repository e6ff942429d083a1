"""The sample API Gateway events in events/ drive the API function's Lambda handler."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tests.conftest import Agency, load_event


@dataclass
class FakeLambdaContext:
    function_name: str = "timerack-api"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:timerack-api"
    aws_request_id: str = "52fdfc07-2182-154f-163f-5f0f9a621d72"

    def get_remaining_time_in_millis(self) -> int:
        return 25_000


def test_sample_events_drive_the_handler(services: Any, agency: Agency) -> None:
    from functions.api.handler import build_instance, lambda_handler

    # The function's composition root, on this test's services
    instance = build_instance(services)

    def invoke(name: str) -> tuple[int, Any]:
        response = lambda_handler(load_event(name), FakeLambdaContext(), instance=instance)
        return response["statusCode"], json.loads(response["body"])

    status, body = invoke("api-health.json")
    assert (status, body["status"]) == (200, "ok")

    status, body = invoke("api-admin-put-employee.json")
    assert status == 200 and body["hasSsn"] is True and "2345" not in json.dumps(body)

    status, body = invoke("api-timecard-batch.json")
    assert status == 200
    assert body["counts"] == {"assignments": 2, "created": 1, "replaced": 0, "errors": 1}
    assert {r["assignmentId"]: r["status"] for r in body["results"]} == {1001: "created", 1004: "error"}

    # The same Idempotency-Key replays the first answer
    assert invoke("api-timecard-batch.json") == (200, body)

    status, history = invoke("api-payroll-history.json")
    assert status == 200 and [b["batchId"] for b in history["items"]] == [body["batchId"]]

    status, locked = invoke("api-admin-send-to-payroll.json")
    assert status == 200 and locked["lockedUnits"] == 1 and locked["lockedTimecards"] == 2


def test_a_query_parameter_the_route_does_not_read_is_a_422_naming_it(api: Any, agency: Any) -> None:
    # A misspelt nextToken would otherwise be ignored: the caller would read the first page again
    reply = api("GET", "/v1/payroll-history?clientKey=ACME-1&nexttoken=abc")
    assert reply.status == 422
    assert '"nexttoken"' in reply.json["message"] and "nextToken" in reply.json["message"]
    # The parameters the route reads are taken as before
    assert api("GET", "/v1/payroll-history?clientKey=ACME-1&limit=5").status == 200
