"""Hostile bodies: oversized, deeply nested, huge numbers, not UTF-8, the wrong content type.

Each gets a clear 4xx quickly and writes nothing: through the handler (as API Gateway calls it) and,
for what only a socket can send, through the local runtime's HTTP server.
"""

from __future__ import annotations

import base64
import json
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import CLIENT_KEY, Agency, ApiCall, batch, timecard
from tests.hardening.conftest import HardeningStack, table_snapshot

QUICK_SECONDS = 2.0


def valid_batch() -> dict[str, Any]:
    return batch(timecard(1001, 501))


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


HOSTILE_BODIES: dict[str, str | bytes] = {
    "deeply nested timecards": '{"clientKey": "ACME-1", "timecards": ' + nested(100_000) + "}",
    "deeply nested unknown field": json.dumps(valid_batch())[:-1] + ', "extra": ' + '{"a": ' * 5000 + "1" + "}" * 5001,
    "unclosed nesting": '{"clientKey": "ACME-1", "timecards": ' + "[" * 50_000,
    "an id of 5,000 digits": json.dumps(valid_batch()).replace('"assignmentId": 1001', '"assignmentId": ' + "9" * 5000),
    "an id of 1e400": json.dumps(valid_batch()).replace('"assignmentId": 1001', '"assignmentId": 1e400'),
    "an id past 2**53": json.dumps(valid_batch()).replace('"assignmentId": 1001', f'"assignmentId": {2**53 + 1}'),
    "an id as text": json.dumps(valid_batch()).replace('"assignmentId": 1001', '"assignmentId": "1001"'),
    "hours of NaN": json.dumps(valid_batch()).replace('"hours": 8.0', '"hours": NaN'),
    "hours of Infinity": json.dumps(valid_batch()).replace('"hours": 8.0', '"hours": Infinity'),
    "hours as true": json.dumps(valid_batch()).replace('"hours": 8.0', '"hours": true'),
    "an adjustment of 1e300": json.dumps(batch(timecard(1001, 501, adjustments=[{"code": "BONUS", "amount": 1e300}]))),
    "a pay period end of 0": json.dumps({**valid_batch(), "payPeriod": {"start": "2026-11-16", "end": 0}}),
    "not UTF-8": b'{"clientKey": "ACME-\xff\xfe", "timecards": []}',
    "Latin-1 text": '{"clientKey": "ACME-1", "timecards": [], "note": "caf\xe9"}'.encode("latin-1"),
    "a lone surrogate": json.dumps(batch(timecard(1001, 501, pay_code="\ud800"))),
    # Powertools validated the first element alone: the second batch was dropped without a word.
    "two batches in a JSON array": json.dumps([valid_batch(), batch(timecard(1002, 502))]),
    "JSON null": "null",
    "not JSON": "clientKey=ACME-1",
    "a NUL after the JSON": json.dumps(valid_batch()) + "\x00",
}


@pytest.mark.parametrize("name", list(HOSTILE_BODIES))
def test_hostile_bodies_are_a_quick_4xx_and_write_nothing(
    name: str, api: ApiCall, agency: Agency, services: Any
) -> None:
    # Given the standard agency and its table as it is
    before = table_snapshot(services)
    # When the hostile body is sent as a batch
    started = time.monotonic()
    reply = api("POST", "/v1/timecard-batches", raw=HOSTILE_BODIES[name])
    elapsed = time.monotonic() - started
    # Then it is refused as malformed, quickly, with a message, and nothing is written
    assert reply.status == 422, reply.text[:300]
    assert reply.json["message"]
    assert elapsed < QUICK_SECONDS
    assert table_snapshot(services) == before


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["clientKey", "timecards", "assignmentId", "days", "hours", "payCode", "x"])
            | st.text(max_size=8),
            inner,
            max_size=4,
        )
    ),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=json_values | st.binary(max_size=200) | st.text(max_size=200))
def test_whatever_arrives_the_reply_is_never_a_server_error(
    body: Any, api: ApiCall, agency: Agency, services: Any
) -> None:
    raw = body if isinstance(body, bytes | str) else json.dumps(body, allow_nan=True)
    reply = api("POST", "/v1/timecard-batches", raw=raw)
    assert reply.status < 500, reply.text[:300]
    assert reply.status == 200 or reply.json["message"]


def test_numbers_the_checks_refuse_are_that_assignments_error(api: ApiCall, agency: Agency, services: Any) -> None:
    # Given a batch with a day of 1e308 hours, one of negative hours, and a good assignment
    body = batch(
        timecard(1001, 501, hours=1e308),
        timecard(1002, 502, hours=-1.0),
        timecard(1001, 501, pay_code="OT", hours=2.0),
    )
    # When it is sent
    reply = api("POST", "/v1/timecard-batches", body)
    # Then both assignments are errors with a clear message and neither is written
    assert reply.status == 200
    results = {r["assignmentId"]: r for r in reply.json["results"]}
    assert "no pay code may exceed 24 hours a day" in results[1001]["error"]
    assert "negative hours" in results[1002]["error"]
    assert api("GET", "/v1/timecards?assignmentId=1001&weekendBill=2026-11-22").json["items"] == []
    assert api("GET", "/v1/timecards?assignmentId=1002&weekendBill=2026-11-22").json["items"] == []


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "text/csv",
    ],
)
def test_a_body_that_is_not_json_by_its_content_type_is_415(
    content_type: str, api: ApiCall, agency: Agency, services: Any
) -> None:
    before = table_snapshot(services)
    reply = api("POST", "/v1/timecard-batches", valid_batch(), headers={"Content-Type": content_type})
    assert reply.status == 415 and "application/json" in reply.json["message"]
    assert table_snapshot(services) == before


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/employees/900", {"firstName": "A", "lastName": "B", "hierarchyNodeId": "branch", "birthDate": 0}),
        (
            "/v1/employees/900",
            {"firstName": "A", "lastName": "B", "hierarchyNodeId": "branch", "pinOverride": "123456\n"},
        ),
        (
            "/v1/employees/900",
            {"firstName": "A", "lastName": "B", "hierarchyNodeId": "branch", "ssn": "123-45-\u0666\u0667\u0668\u0669"},
        ),
        (
            "/v1/assignments/900",
            {
                "employeeId": 501,
                "customerId": 100,
                "hierarchyNodeId": "branch",
                "status": "Active",
                "startDate": 1700000000,
            },
        ),
        ("/v1/hierarchy/n1", {"name": "N", "allowsMasterData": 0}),
    ],
    ids=[
        "birthDate as a number",
        "override with a newline",
        "ssn in Arabic-Indic digits",
        "startDate as a Unix time",
        "allowsMasterData as 0",
    ],
)
def test_admin_values_a_lax_reader_would_guess_are_422(
    path: str, body: dict[str, Any], api: ApiCall, agency: Agency, services: Any
) -> None:
    """Found here: a birth date of 0 was 1970-01-01 (a wrong PIN, silently), "123456\\n" a PIN."""
    before = table_snapshot(services)
    reply = api("PUT", path, body, admin=True)
    assert reply.status == 422, reply.text
    assert "123456" not in reply.text and "\u0669" not in reply.text
    assert table_snapshot(services) == before


def test_a_weekend_bill_that_is_not_yyyy_mm_dd_is_refused(api: ApiCall, agency: Agency, services: Any) -> None:
    before = table_snapshot(services)
    assert api("PUT", "/v1/weeks/0", {"hierarchyNodeId": "branch", "status": "open"}, admin=True).status == 422
    assert api("GET", "/v1/timecards?assignmentId=1001&weekendBill=1700000000").status == 422
    assert table_snapshot(services) == before


# ---------------------------------------------------------------- what only a socket sends


def raw_http(stack: HardeningStack, request: bytes, *, timeout: float = 10) -> tuple[int, bytes, float]:
    """Send bytes as they are; the status line and the whole reply, and how long the status took."""
    address = urlsplit(stack.url)
    started = time.monotonic()
    with socket.create_connection((address.hostname, address.port), timeout=timeout) as connection:
        connection.sendall(request)
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = connection.recv(65536)
            if not chunk:
                break
            reply += chunk
        elapsed = time.monotonic() - started
    status = int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/") else 0
    return status, reply, elapsed


def _request(stack: HardeningStack, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    token = stack.token("timerack-portal")
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {urlsplit(stack.url).netloc}",
        f"Authorization: Bearer {token}",
        *(f"{k}: {v}" for k, v in headers.items()),
        "",
        "",
    ]
    return "\r\n".join(lines).encode() + body


@pytest.mark.xdist_group("hardening")
@pytest.mark.e2e
@pytest.mark.parametrize(
    ("what", "method", "headers", "body", "expected"),
    [
        (
            "a claimed 10 GB body never sent",
            "POST",
            {"Content-Length": str(10 * 1024**3), "Content-Type": "application/json"},
            b"{",
            413,
        ),
        ("a negative Content-Length", "POST", {"Content-Length": "-5", "Content-Type": "application/json"}, b"{}", 400),
        ("a Content-Length that is no number", "POST", {"Content-Length": "ten"}, b"", 400),
        (
            "a chunked body",
            "POST",
            {"Transfer-Encoding": "chunked", "Content-Type": "application/json"},
            b"2\r\n{}\r\n0\r\n\r\n",
            411,
        ),
        ("TRACE", "TRACE", {}, b"", 405),
        ("an unknown method", "QUERY", {}, b"", 405),
    ],
)
def test_the_local_runtime_answers_broken_http_with_a_quick_4xx(
    what: str, method: str, headers: dict[str, str], body: bytes, expected: int, hardening_stack: HardeningStack
) -> None:
    before = hardening_stack.snapshot()
    status, _, elapsed = raw_http(
        hardening_stack, _request(hardening_stack, method, "/v1/timecard-batches", headers, body)
    )
    assert status == expected, what
    assert elapsed < QUICK_SECONDS, what
    assert hardening_stack.snapshot() == before


@pytest.mark.xdist_group("hardening")
@pytest.mark.e2e
def test_the_local_runtime_refuses_6_mb_and_non_utf8_and_stays_up(hardening_stack: HardeningStack) -> None:
    before = hardening_stack.snapshot()
    token = hardening_stack.token("timerack-portal")
    started = time.monotonic()
    status, _, body = hardening_stack.call("POST", "/v1/timecard-batches", token=token, raw=b"[" * (6 * 1024 * 1024))
    assert status == 413 and "6291456" in json.loads(body)["message"]  # Lambda's event limit, named
    assert time.monotonic() - started < QUICK_SECONDS * 2
    status, _, body = hardening_stack.call(
        "POST", "/v1/timecard-batches", token=token, raw=b'{"clientKey": "\xff", "timecards": []}'
    )
    assert status == 422 and "UTF-8" in json.loads(body)["message"]
    status, _, _ = hardening_stack.call(
        "POST",
        "/v1/timecard-batches",
        token=token,
        raw=json.dumps({"clientKey": CLIENT_KEY, "timecards": []}).encode() + b"\x00",
    )
    assert status == 422
    assert hardening_stack.snapshot() == before
    assert hardening_stack.call("GET", "/v1/health")[0] == 200


def _token(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.mark.parametrize(
    "forged",
    [
        {"x": 1},
        {"pk": "BATCH#x"},
        {"pk": {"N": "1"}, "sk": {"S": "x"}, "gsi1pk": {"S": "HISTORY#ACME-1"}, "gsi1sk": {"S": "x"}},
        # A well-formed key of another client's partition
        {"pk": {"S": "BATCH#x"}, "sk": {"S": "BATCH"}, "gsi1pk": {"S": "HISTORY#GLOBEX-1"}, "gsi1sk": {"S": "z"}},
    ],
    ids=["unknown attribute", "not attribute values", "a number key", "another partition"],
)
def test_a_forged_next_token_is_422_not_a_server_error(forged: Any, api: ApiCall, agency: Agency) -> None:
    """Found here: a nextToken that decoded to the wrong shape reached DynamoDB and failed with a 5xx."""
    api("POST", "/v1/timecard-batches", batch(timecard(1001, 501)))
    history = api("GET", f"/v1/payroll-history?clientKey={CLIENT_KEY}&nextToken={_token(forged)}")
    employees = api("GET", f"/v1/employees?hasPinOverride=false&nextToken={_token(forged)}", admin=True)
    for reply in (history, employees):
        assert reply.status == 422 and "nextToken" in reply.json["message"]


def test_a_genuine_next_token_still_pages(api: ApiCall, agency: Agency) -> None:
    for hours in (1.0, 2.0, 3.0):
        api("POST", "/v1/timecard-batches", batch(timecard(1001, 501, hours=hours)))
    first = api("GET", f"/v1/payroll-history?clientKey={CLIENT_KEY}&limit=2").json
    second = api("GET", f"/v1/payroll-history?clientKey={CLIENT_KEY}&limit=2&nextToken={first['nextToken']}").json
    assert len(first["items"]) == 2 and len(second["items"]) == 1
    employees = api("GET", "/v1/employees?hasPinOverride=false&limit=3", admin=True).json
    rest = api("GET", f"/v1/employees?hasPinOverride=false&limit=3&nextToken={employees['nextToken']}", admin=True)
    assert rest.status == 200 and len(employees["items"]) + len(rest.json["items"]) == 4
