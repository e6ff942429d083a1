"""Faults in the middle of a batch: DynamoDB throttling and transaction conflicts, a lost reply, the
function dying between unit writes. Each ends with no unit half-written, the assignment's result
saying what happened, and a re-send completing the batch.

Timerack down or slow during the export, and SES throttled during mail, are shown where those
features are tested (not repeated here): tests/integration/test_export.py
`test_https_retries_500_and_timeout_then_succeeds_and_isolates_failures`,
`test_https_gives_up_after_read_timeouts_and_refused_connections`,
`test_a_failing_client_does_not_stop_the_others`, and tests/integration/test_mailer.py
`test_an_ses_failure_marks_that_record_for_retry_while_others_are_sent`,
`test_a_send_with_an_unknown_outcome_is_never_repeated`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import CLIENT_KEY, WEEKEND_BILL, Agency, ApiCall, timecard
from timerack_bridge.adapters.dynamodb.timecards import TimecardStore
from timerack_bridge.domain.batch import TimecardIn
from timerack_bridge.domain.entities import Assignment
from timerack_bridge.logic.intake import MAX_WRITE_ATTEMPTS

Fault = Callable[[dict[str, Any]], None]


class FaultyDynamoDB:
    """The services' DynamoDB client, with a fault injected into chosen TransactWriteItems calls.

    `fault(kwargs)` runs before the real call and may raise (as DynamoDB would after botocore's own
    retries); calls it lets through reach moto unchanged.
    """

    def __init__(self, client: Any, fault: Fault) -> None:
        self._client = client
        self.fault = fault
        self.calls: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def transact_write_items(self, **kwargs: Any) -> Any:
        self.calls.extend(units_of(kwargs))
        self.fault(kwargs)
        return self._client.transact_write_items(**kwargs)


def _assignment_of(action: dict[str, Any]) -> int:
    op = action.get("Put") or action.get("Delete") or {}
    item = op.get("Item") or op.get("Key") or {}
    return int(item["pk"]["S"].split("#")[1])


def units_of(kwargs: dict[str, Any]) -> list[int]:
    """The assignment ids a transaction writes, one per unit (each unit starts with its header)."""
    headers = [a["Put"]["Item"] for a in kwargs["TransactItems"] if "Put" in a]
    return [int(h["pk"]["S"].split("#")[1]) for h in headers if h["sk"]["S"].startswith("UNIT#")]


def cancelled_for(kwargs: dict[str, Any], unit: int, reason: str) -> ClientError:
    """The transaction cancelled because of one unit: `reason` on its first item after the header."""
    assignments = [_assignment_of(a) for a in kwargs["TransactItems"]]
    at = assignments.index(unit) + 1
    reasons = [reason if n == at else "None" for n in range(len(assignments))]
    return client_error("TransactionCanceledException", reasons)


def client_error(code: str, reasons: list[str] | None = None) -> ClientError:
    response: dict[str, Any] = {"Error": {"Code": code, "Message": code}}
    if reasons is not None:
        response["CancellationReasons"] = [{"Code": r} for r in reasons]
    return ClientError(response, "TransactWriteItems")


def transaction_conflict() -> ClientError:
    return client_error("TransactionCanceledException", ["None", "TransactionConflict", "None"])


def throttled() -> ClientError:
    return client_error("ProvisionedThroughputExceededException")


def cards(*specs: tuple[int, int, str, float]) -> list[TimecardIn]:
    return [TimecardIn.model_validate(timecard(a, e, code, hours)) for a, e, code, hours in specs]


def rep_access(services: Any) -> Any:
    from timerack_bridge.api.auth import Caller, require_timerack_rep

    return require_timerack_rep(Caller("timerack-portal", frozenset()), services.admin)


def submit(services: Any, timecards: list[TimecardIn], **kwargs: Any) -> Any:
    from timerack_bridge.logic.intake import submit_batch

    customer = services.admin.get_customer_by_client_key(CLIENT_KEY)
    return submit_batch(services, rep_access(services), customer, timecards, **kwargs)


def unit_view(services: Any, assignment_id: int) -> dict[str, Any]:
    """A unit as a payroll clerk sees it: its timecards by pay code, without ids or the sending batch."""
    return {
        card.pay_code: card.model_dump(
            mode="json", by_alias=True, exclude={"timecard_id", "source_batch_id", "assignment_id"}
        )
        for card in services.timecards.timecards(assignment_id, WEEKEND_BILL)
    }


def header(services: Any, assignment_id: int) -> dict[str, Any] | None:
    from timerack_bridge.adapters.dynamodb.base import strip_keys

    item = services.timecards.get(f"ASSIGNMENT#{assignment_id}", f"UNIT#{WEEKEND_BILL.isoformat()}", consistent=True)
    return strip_keys(item) if item else None


def assert_whole(services: Any, assignment_id: int) -> None:
    """No half-written unit: the header names exactly the pay codes stored, all from the header's send."""
    unit = header(services, assignment_id)
    stored = services.timecards.timecards(assignment_id, WEEKEND_BILL)
    if unit is None:
        assert stored == []
        return
    assert sorted(c.pay_code for c in stored) == sorted(unit["pay_codes"])
    assert {c.source_batch_id for c in stored} == {unit["batch_id"]}


@pytest.fixture
def faulty(services: Any) -> Callable[[Fault], FaultyDynamoDB]:
    original = services.timecards.client

    def install(fault: Fault) -> FaultyDynamoDB:
        wrapped = FaultyDynamoDB(original, fault)
        services.timecards.client = wrapped
        return wrapped

    yield install
    services.timecards.client = original


BATCH = [(1001, 501, "REG", 8.0), (1001, 501, "OT", 2.0), (1002, 502, "REG", 7.5)]


def test_transaction_conflicts_mid_batch_are_retried_with_backoff(
    services: Any, agency: Agency, faulty: Callable[[Fault], FaultyDynamoDB]
) -> None:
    # Given DynamoDB cancels the second unit's transaction twice with TransactionConflict
    seen: dict[int, int] = {}

    def conflict_twice_on_1002(kwargs: dict[str, Any]) -> None:
        for unit in units_of(kwargs):
            seen[unit] = seen.get(unit, 0) + 1
        if 1002 in units_of(kwargs) and seen[1002] <= 2:
            raise cancelled_for(kwargs, 1002, "TransactionConflict")

    client = faulty(conflict_twice_on_1002)
    # When the batch is sent
    result = submit(services, cards(*BATCH))
    # Then the conflicts were retried, and every assignment was created whole
    assert client.calls.count(1002) == 3
    assert {r.assignment_id: r.status for r in result.results} == {1001: "created", 1002: "created"}
    for assignment_id in (1001, 1002):
        assert_whole(services, assignment_id)
    assert set(unit_view(services, 1001)) == {"REG", "OT"}


def test_throttling_that_outlasts_the_retries_is_that_assignments_error_and_a_resend_completes(
    services: Any, agency: Agency, faulty: Callable[[Fault], FaultyDynamoDB], api: ApiCall
) -> None:
    """Found here: a throttled unit write raised out of the batch (a 5xx, a batch left "processing")."""

    # Given DynamoDB throttles every write of assignment 1002 (botocore's retries already spent), as
    # a transaction reports it: cancelled, with a ThrottlingError on 1002's item
    def throttle_1002(kwargs: dict[str, Any]) -> None:
        if 1002 in units_of(kwargs):
            raise cancelled_for(kwargs, 1002, "ThrottlingError")

    client = faulty(throttle_1002)
    # When the batch is sent
    first = submit(services, cards(*BATCH))
    # Then 1002 is reported for a re-send, 1001 went through, and nothing is half-written
    results = {r.assignment_id: r for r in first.results}
    assert results[1001].status == "created"
    assert results[1002].status == "error" and "re-send to finish" in (results[1002].error or "")
    assert client.calls.count(1002) > 1  # retried before giving up
    assert header(services, 1002) is None and unit_view(services, 1002) == {}
    assert_whole(services, 1001)
    # When DynamoDB recovers and Timerack re-sends the same batch
    client.fault = lambda kwargs: None
    second = submit(services, cards(*BATCH))
    # Then the batch is complete, as if sent once, and Payroll History shows both sends completed
    assert {r.assignment_id: r.status for r in second.results} == {1001: "replaced", 1002: "created"}
    assert unit_view(services, 1002)["REG"]["totalHours"] == 7.5
    assert set(unit_view(services, 1001)) == {"REG", "OT"}
    history = api("GET", f"/v1/payroll-history?clientKey={CLIENT_KEY}").json["items"]
    assert [(h["batchId"], h["status"]) for h in history] == [
        (second.batch_id, "completed"),
        (first.batch_id, "completed"),
    ]
    assert history[1]["counts"]["errors"] == 1


def test_a_write_whose_reply_was_lost_is_reported_written_not_superseded(
    services: Any, agency: Agency, faulty: Callable[[Fault], FaultyDynamoDB]
) -> None:
    """Found here: botocore retried a write that had landed; the retry's failed condition read as "a
    newer send replaced it", so the batch reported an error for timecards it had written."""
    # Given the first write of 1001 lands, but its reply is lost and botocore sends it again
    lost: list[int] = []
    moto = services.timecards.client

    def land_then_lose_the_reply(kwargs: dict[str, Any]) -> None:
        if 1001 in units_of(kwargs) and not lost:
            lost.append(1001)
            moto.transact_write_items(**kwargs)  # applied ...
            raise client_error("InternalServerError")  # ... but the caller hears a 500

    faulty(land_then_lose_the_reply)
    # When the batch is sent
    result = submit(services, cards(*BATCH))
    # Then 1001 is reported created, once, whole
    assert {r.assignment_id: r.status for r in result.results} == {1001: "created", 1002: "created"}
    assert all(r.error is None for r in result.results)
    assert_whole(services, 1001)
    assert len(services.timecards.versions(1001, WEEKEND_BILL)) == 1


def test_a_unit_locked_while_the_write_retries_reports_the_lock(
    services: Any, agency: Agency, faulty: Callable[[Fault], FaultyDynamoDB]
) -> None:
    """Found here: when the last attempt found the unit locked, the result said "re-send" instead."""
    # Given 1001 was sent before; a re-send's writes conflict until its last attempt, and the unit
    # is sent to payroll meanwhile
    submit(services, cards((1001, 501, "REG", 8.0)))
    before = unit_view(services, 1001)
    payroll = TimecardStore(services.timecards.client, services.settings.table_name)
    attempts: list[int] = []

    def lock_and_conflict_until_the_last_attempt(kwargs: dict[str, Any]) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            unit = header(services, 1001)
            assert unit is not None
            assert (
                payroll.lock_unit({**unit, "pk": "ASSIGNMENT#1001", "sk": f"UNIT#{WEEKEND_BILL.isoformat()}"})
                == "locked"
            )
        if len(attempts) < MAX_WRITE_ATTEMPTS:
            raise transaction_conflict()

    faulty(lock_and_conflict_until_the_last_attempt)
    # When the re-send runs
    result = submit(services, cards((1001, 501, "REG", 4.0)))
    # Then the result names the payroll lock, and the locked timecard is unchanged
    assert len(attempts) == MAX_WRITE_ATTEMPTS
    assert result.results[0].status == "error"
    assert "already been sent to payroll" in (result.results[0].error or "")
    assert {code: {**card, "payrollStatus": "open"} for code, card in unit_view(services, 1001).items()} == before
    assert all(card["payrollStatus"] == "sent" for card in unit_view(services, 1001).values())


@pytest.mark.parametrize("writes_before_death", [0, 1, 2])
def test_the_function_dying_between_writes_then_a_resend_equals_one_clean_send(
    writes_before_death: int, services: Any, agency: Agency, api: ApiCall, monkeypatch: pytest.MonkeyPatch
) -> None:
    from timerack_bridge.logic import intake

    # One unit per transaction (a batch of over 100 actions in small), so the function can die between two
    monkeypatch.setattr(intake, "MAX_TRANSACTION_ACTIONS", 1)
    # Given twin assignments 2001/2002 for a clean send, and 1001 with an earlier send to be replaced
    for twin, employee, customer in ((2001, 501, 100), (2002, 502, 101), (2003, 503, 100)):
        services.admin.put_assignment(
            Assignment(
                assignment_id=twin,
                employee_id=employee,
                customer_id=customer,
                hierarchy_node_id="branch",
                status="Active",
                start_date=date(2026, 1, 5),
            )
        )
    services.admin.put_assignment(
        Assignment(
            assignment_id=1003,
            employee_id=503,
            customer_id=100,
            hierarchy_node_id="branch",
            status="Active",
            start_date=date(2026, 1, 5),
        )
    )
    earlier = [(1001, 501, "REG", 9.0), (1001, 501, "DT", 3.0), (2001, 501, "REG", 9.0), (2001, 501, "DT", 3.0)]
    submit(services, cards(*earlier))
    batch = [(1001, 501, "REG", 8.0), (1001, 501, "OT", 2.0), (1002, 502, "REG", 7.5), (1003, 503, "REG", 6.0)]
    twin_of = {1001: 2001, 1002: 2002, 1003: 2003}
    clean = submit(services, cards(*[(twin_of[a], e, c, h) for a, e, c, h in batch]))
    assert all(r.status != "error" for r in clean.results)
    services.settings = services.settings.model_copy(update={"write_parallelism": 1})
    # When the function dies after `writes_before_death` unit writes
    written: list[int] = []

    def die(assignment_id: int) -> None:
        if len(written) == writes_before_death:
            raise SystemExit("the function died")
        written.append(assignment_id)

    with pytest.raises(SystemExit):
        submit(services, cards(*batch), before_unit_write=die)
    for assignment_id in (1001, 1002, 1003):
        assert_whole(services, assignment_id)
    # And Timerack re-sends the same batch
    resend = submit(services, cards(*batch))
    # Then every unit is exactly what one clean send made of its twin
    assert all(r.status != "error" for r in resend.results)
    for assignment_id, twin in twin_of.items():
        assert_whole(services, assignment_id)
        assert unit_view(services, assignment_id) == unit_view(services, twin)
    # And nothing was lost: 1001 keeps its earlier version as history
    assert len(services.timecards.versions(1001, WEEKEND_BILL)) >= 2
    # And Payroll History shows the dead send as processing and the re-send as completed
    history = api("GET", f"/v1/payroll-history?clientKey={CLIENT_KEY}").json["items"]
    assert [h["status"] for h in history[:2]] == ["completed", "processing"]
    assert history[0]["batchId"] == resend.batch_id and len(history) == 4
