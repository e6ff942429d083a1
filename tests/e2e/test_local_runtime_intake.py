"""The asynchronous intake end to end on `timerack-bridge run`: a batch over SYNC_BATCH_TIMECARDS (20 on the
session runtime, tests/e2e/conftest.py) is answered 202 and written by the intake worker on its queue; a batch
is uploaded to the stand-in's S3 by a presigned PUT and sent by its upload id."""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import date, timedelta
from typing import Any

import pytest

from local.seed import current_weekend_bill
from tests.e2e.conftest import SESSION_SYNC_BATCH_TIMECARDS, LocalStack
from timerack_bridge.domain import errors

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

# A timeout only: nothing asserts how long it took.
DEADLINE_SECONDS = 60.0
UNKNOWN = list(range(9001, 9001 + SESSION_SYNC_BATCH_TIMECARDS))  # assignments that do not exist: errors


def big_batch() -> dict[str, Any]:
    """Over the session's SYNC_BATCH_TIMECARDS: two known assignments (two pay codes each), the rest unknown."""
    weekend_bill = current_weekend_bill(date.today())
    monday = (weekend_bill - timedelta(days=6)).isoformat()

    def card(assignment_id: int, employee_id: int, pay_code: str = "REG", hours: float = 8.0) -> dict[str, Any]:
        days = [{"date": monday, "hours": hours}]
        return {"assignmentId": assignment_id, "employeeId": employee_id, "payCode": pay_code, "days": days}

    known = [card(1002, 502), card(1002, 502, "OT", 2.0), card(1003, 503), card(1003, 503, "OT", 1.0)]
    period = {"start": monday, "end": weekend_bill.isoformat()}
    return {"clientKey": "ACME-1", "payPeriod": period, "timecards": known + [card(a, 501) for a in UNKNOWN]}


def completed(stack: LocalStack, token: str, batch_id: str) -> dict[str, Any]:
    """The batch's Payroll History once it is no longer processing (fails with the runtime's log at the deadline)."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        status, _, body = stack.call("GET", f"/v1/payroll-history/{batch_id}", token=token)
        assert status == 200, body
        record: dict[str, Any] = json.loads(body)
        if record["status"] != "processing":
            return record
        if time.monotonic() > deadline:
            pytest.fail(f"batch {batch_id} is still processing\n{stack.logs()[-3000:]}")
        time.sleep(0.3)


def test_a_batch_over_the_sync_size_is_accepted_then_completed_by_the_intake_worker(local_stack: LocalStack) -> None:
    token = local_stack.token("timerack-portal")
    # When a batch over SYNC_BATCH_TIMECARDS is sent
    status, headers, body = local_stack.call("POST", "/v1/timecard-batches", big_batch(), token=token)
    # Then it is accepted at once
    assert status == 202, body
    accepted = json.loads(body)
    assert accepted["status"] == "processing" and accepted["timecards"] == len(UNKNOWN) + 4
    assert headers["Location"] == f"/v1/payroll-history/{accepted['batchId']}"
    # And the intake worker completes it with every assignment's result
    record = completed(local_stack, token, accepted["batchId"])
    assert record["status"] == "completed", record
    assert record["counts"]["assignments"] == len(UNKNOWN) + 2, record["results"][:2]
    assert record["counts"]["errors"] == len(UNKNOWN), [r for r in record["results"] if r["assignmentId"] < 9000]
    by_assignment = {r["assignmentId"]: r for r in record["results"]}
    assert by_assignment[1002]["status"] in ("created", "replaced")
    assert sorted(by_assignment[1002]["payCodes"]) == ["OT", "REG"]
    assert by_assignment[9001]["error"] == errors.assignment_not_found(9001)
    # And the units are written
    weekend_bill = current_weekend_bill(date.today()).isoformat()
    status, _, body = local_stack.call(
        "GET", f"/v1/timecards?assignmentId=1003&weekendBill={weekend_bill}", token=token
    )
    assert sorted(card["totalHours"] for card in json.loads(body)["items"]) == [1.0, 8.0]


def test_a_batch_uploaded_to_the_presigned_url_is_sent_by_its_upload_id(local_stack: LocalStack) -> None:
    token = local_stack.token("timerack-portal")
    # Given an upload, its URL on the stand-in's S3 (127.0.0.1)
    status, _, body = local_stack.call("POST", "/v1/timecard-batches/uploads", token=token)
    assert status == 201, body
    upload = json.loads(body)
    assert upload["uploadUrl"].startswith("http://127.0.0.1:")
    # When the batch is PUT there (no bearer token: the URL is signed) and sent by its id
    put = urllib.request.Request(
        upload["uploadUrl"], data=json.dumps(big_batch()).encode(), method="PUT", headers=upload["headers"]
    )
    with urllib.request.urlopen(put, timeout=30) as response:
        assert response.status == 200
    status, _, body = local_stack.call("POST", f"/v1/timecard-batches/uploads/{upload['uploadId']}", token=token)
    # Then it is accepted as a posted batch is, and completed by the intake worker
    assert status == 202, body
    assert completed(local_stack, token, json.loads(body)["batchId"])["status"] == "completed"
    # And the upload is gone
    again = local_stack.call("POST", f"/v1/timecard-batches/uploads/{upload['uploadId']}", token=token)
    assert again[0] == 404
