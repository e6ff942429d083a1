"""What a batch costs the API function, without changing what it does.

The DynamoDB client the API builds skips botocore's client-side validation: the models refuse
malformed input first.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.conftest import CLIENT_KEY, Agency, ApiCall, batch, timecard
from tests.hardening.conftest import table_snapshot


@pytest.fixture
def production_client(services: Any) -> Any:
    """The services made current on the very DynamoDB client the API function builds (on moto)."""
    from infra.local.moto_stand_in import SerializedClient
    from timerack_bridge.api import deps

    client = deps.build_services(settings=services.settings).dynamodb
    built = deps.Services(settings=services.settings, dynamodb=SerializedClient(client))
    deps.use(built)
    return client


def test_the_api_client_leaves_request_validation_to_dynamodb(production_client: Any) -> None:
    # A parameter of the wrong type: botocore's client-side validation would stop it in the client
    # (ParamValidationError); the API's client sends it as it is, and DynamoDB (here moto) judges it
    request = {"TableName": "main", "Key": {"pk": {"S": "x"}, "sk": {"S": "y"}}, "ConsistentRead": "yes"}
    assert "Item" not in production_client.get_item(**request)


def forged_token(start: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(start, sort_keys=True).encode()).decode()


# Inputs that end up in a DynamoDB request (keys, Limit, ExclusiveStartKey, item values) and would
# be malformed there: the models refuse each first, so botocore's own check is never the one to.
MALFORMED = {
    "limit 0 on the employee search": ("GET", "/v1/employees?hasPinOverride=true&limit=0", None),
    "limit 0 on Payroll History": ("GET", f"/v1/payroll-history?clientKey={CLIENT_KEY}&limit=0", None),
    "an empty client key": ("GET", "/v1/payroll-history?clientKey=&limit=5", None),
    "a forged next token": (
        "GET",
        "/v1/employees?hasPinOverride=true&nextToken=" + forged_token({"pk": {"N": "1"}, "sk": {"S": ""}}),
        None,
    ),
    "a next token of another partition": (
        "GET",
        "/v1/employees?hasPinOverride=true&nextToken="
        + forged_token({k: {"S": "x"} for k in ("pk", "sk", "gsi1pk", "gsi1sk")}),
        None,
    ),
    "an assignment id of 0": ("GET", "/v1/timecards?assignmentId=0&weekendBill=2026-11-22", None),
    "a batch assignment id as text": (
        "POST",
        "/v1/timecard-batches",
        batch({**timecard(1001, 501), "assignmentId": "1001"}),
    ),
    "a batch assignment id past 2**53": ("POST", "/v1/timecard-batches", batch(timecard(2**53 + 1, 501))),
    "an empty pay code": ("POST", "/v1/timecard-batches", batch(timecard(1001, 501, pay_code=""))),
    "an empty client key in a batch": ("POST", "/v1/timecard-batches", batch(timecard(1001, 501), client_key="")),
    "an adjustment without a code": (
        "POST",
        "/v1/timecard-batches",
        batch(timecard(1001, 501, adjustments=[{"code": "", "amount": 5}])),
    ),
    "a hierarchy node id with a slash": ("PUT", "/v1/hierarchy/a%2Fb", {"name": "x"}),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_input_is_refused_before_it_reaches_dynamodb(
    name: str, api: ApiCall, agency: Agency, services: Any, production_client: Any
) -> None:
    before = table_snapshot(services)
    method, path, body = MALFORMED[name]
    reply = api(method, path, body, admin=True)
    assert 400 <= reply.status < 500, reply.text[:300]
    assert table_snapshot(services) == before


def test_a_batch_on_the_api_client_is_written_as_on_the_test_client(
    api: ApiCall, agency: Agency, production_client: Any
) -> None:
    body = batch(timecard(1001, 501, adjustments=[{"code": "BONUS", "amount": 25.5}]), timecard(1002, 502, "OT", 2.5))
    first = api("POST", "/v1/timecard-batches", body)
    again = api("POST", "/v1/timecard-batches", body)
    assert first.status == 200 and first.json["counts"]["created"] == 2, first.text[:300]
    assert again.status == 200 and again.json["counts"]["replaced"] == 2, again.text[:300]
    cards = api("GET", "/v1/timecards?assignmentId=1001&weekendBill=2026-11-22").json["items"]
    assert [(c["totalHours"], c["adjustments"][0]["amount"]) for c in cards] == [(8.0, 25.5)]
