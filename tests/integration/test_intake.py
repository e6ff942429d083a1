"""'Send to TempWorks': checks, conditional-write replacement, Payroll History (docs/contract.md)."""

from __future__ import annotations

import csv
import io
import threading
from datetime import date
from typing import Any

import pytest

from tests.conftest import CLIENT_KEY, Agency, ApiCall, batch, timecard

ADMIN = {"principal": "agency-admin", "admin": True}


def send(api: ApiCall, body: dict[str, Any], **kwargs: Any) -> Any:
    reply = api("POST", "/v1/timecard-batches", body, **kwargs)
    assert reply.status == 200, reply.text
    return reply.json


def result_of(reply: dict[str, Any], assignment_id: int) -> dict[str, Any]:
    return next(r for r in reply["results"] if r["assignmentId"] == assignment_id)


def stored(api: ApiCall, assignment_id: int, weekend_bill: str = "2026-11-22") -> list[dict[str, Any]]:
    reply = api("GET", f"/v1/timecards?assignmentId={assignment_id}&weekendBill={weekend_bill}")
    assert reply.status == 200, reply.text
    return reply.json["items"]


def test_a_batch_creates_timecards_with_hours_punches_and_adjustments(api: ApiCall, agency: Agency) -> None:
    body = batch(
        {
            "assignmentId": 1001,
            "employeeId": 501,
            "payCode": "REG",
            "days": [
                {"date": "2026-11-16", "hours": 8},
                {"date": "2026-11-17", "punches": [{"in": "0800", "out": "1630"}]},
                {"date": "2026-11-18", "punches": [{"in": "2200", "out": "0600"}]},
            ],
            "adjustments": [{"code": "BONUS", "amount": 25.0, "description": "safety"}],
        },
        timecard(1002, 502, "OT", 2.5),
    )
    reply = send(api, body)
    assert reply["counts"] == {"assignments": 2, "created": 2, "replaced": 0, "errors": 0}
    assert reply["weekendBill"] == "2026-11-22" and reply["clientKey"] == CLIENT_KEY
    [card] = stored(api, 1001)
    assert card["totalHours"] == 24.5
    assert card["adjustments"] == [{"type": "employee", "code": "BONUS", "amount": 25.0, "description": "safety"}]
    assert card["payrollStatus"] == "open" and card["sourceBatchId"] == reply["batchId"]
    assert card["customerId"] == 100 and card["timecardId"] in result_of(reply, 1001)["timecardIds"]
    assert stored(api, 1002)[0]["customerId"] == 101  # a child customer's assignment belongs to the client


def test_every_article_error_verbatim_with_the_real_id(api: ApiCall, agency: Agency, services: Any) -> None:
    from timerack_bridge.domain.entities import Assignment

    services.admin.put_assignment(
        Assignment(
            assignment_id=1007,
            employee_id=501,
            customer_id=100,
            hierarchy_node_id="branch-x",
            status="Active",
            start_date=date(2026, 1, 1),
        )
    )
    reply = send(
        api,
        batch(
            timecard(999, 501),  # missing
            timecard(1005, 501),  # another client's
            timecard(1006, 502),  # not visible from the rep's node
            timecard(1003, 503),  # deleted
            timecard(1004, 504),  # cancelled
        ),
    )
    assert (
        result_of(reply, 999)["error"]
        == "The Assignment with an Id of 999 could not be found or is not currently visible."
    )
    assert (
        result_of(reply, 1005)["error"]
        == "The Assignment with an Id of 1005 could not be found or is not currently visible."
    )
    assert (
        result_of(reply, 1006)["error"]
        == "The Assignment with an Id of 1006 could not be found or is not currently visible."
    )
    blocked = "The Assignment with an Id of {} has a status that does not allow timecards to be created."
    assert result_of(reply, 1003)["error"] == blocked.format(1003)
    assert result_of(reply, 1004)["error"] == blocked.format(1004)
    assert reply["counts"]["errors"] == 5 and all(r["status"] == "error" for r in reply["results"])


def test_no_open_weeks(api: ApiCall, agency: Agency, services: Any) -> None:
    from timerack_bridge.domain.entities import Week

    services.admin.put_week(Week(weekend_bill=date(2026, 11, 22), hierarchy_node_id="branch", status="closed"))
    reply = send(api, batch(timecard(1001, 501)))
    assert result_of(reply, 1001)["error"] == "There are currently no open weeks visible."


def test_open_week_of_the_nearest_ancestor_and_pay_period_choice(api: ApiCall, agency: Agency, services: Any) -> None:
    from timerack_bridge.domain.entities import Week

    # Given two open weeks on the branch, the sub-branch's assignment uses the branch's (nearest ancestor)
    services.admin.put_week(Week(weekend_bill=date(2026, 11, 29), hierarchy_node_id="branch", status="open"))
    reply = send(api, batch(timecard(1002, 502, day=date(2026, 11, 24)), end=date(2026, 11, 29)))
    assert result_of(reply, 1002)["status"] == "created" and reply["weekendBill"] == "2026-11-29"
    # Without a matching pay period end, the earliest open week
    reply = send(api, {"clientKey": CLIENT_KEY, "timecards": [timecard(1001, 501)]})
    assert result_of(reply, 1001)["weekendBill"] == "2026-11-22"


def test_hierarchy_level_without_master_data(api: ApiCall, agency: Agency, services: Any) -> None:
    from timerack_bridge.domain.entities import ServiceRep

    services.admin.put_rep(
        ServiceRep(rep_id="rep-1", name="Portal", principal="timerack-portal", current_hierarchy_node_id="system")
    )
    reply = send(api, batch(timecard(1001, 501)))
    assert (
        result_of(reply, 1001)["error"]
        == "You can not insert master table data into the system at this hierarchy level."
    )


def test_content_errors_stay_inside_their_assignment(api: ApiCall, agency: Agency) -> None:
    reply = send(
        api,
        batch(
            timecard(1001, 501, hours=25),
            timecard(1002, 502),
        ),
    )
    assert result_of(reply, 1001)["status"] == "error"
    assert "exceed 24 hours" in result_of(reply, 1001)["error"]
    assert result_of(reply, 1002)["status"] == "created"
    assert stored(api, 1001) == [] and len(stored(api, 1002)) == 1


def test_resend_replaces_and_deletes_dropped_pay_codes(api: ApiCall, agency: Agency, services: Any) -> None:
    first = send(api, batch(timecard(1001, 501, "REG", 8), timecard(1001, 501, "OT", 2)))
    assert result_of(first, 1001)["status"] == "created"
    second = send(api, batch(timecard(1001, 501, "REG", 7)))
    assert result_of(second, 1001)["status"] == "replaced"
    assert second["counts"] == {"assignments": 1, "created": 0, "replaced": 1, "errors": 0}
    assert "OT" in result_of(second, 1001)["warnings"][0]
    [card] = stored(api, 1001)
    assert (card["payCode"], card["totalHours"], card["sourceBatchId"]) == ("REG", 7.0, second["batchId"])
    # The replaced version stays as history
    versions = services.timecards.versions(1001, date(2026, 11, 22))
    assert [len(v["timecards"]) for v in versions] == [2, 1]


def test_same_batch_twice_equals_once(api: ApiCall, agency: Agency) -> None:
    body = batch(timecard(1001, 501, "REG", 8), timecard(1002, 502, "OT", 3))
    send(api, body)
    once = [{k: v for k, v in c.items() if k != "sourceBatchId"} for c in stored(api, 1001) + stored(api, 1002)]
    again = send(api, body)
    assert again["counts"]["replaced"] == 2
    twice = [{k: v for k, v in c.items() if k != "sourceBatchId"} for c in stored(api, 1001) + stored(api, 1002)]
    assert twice == once


def test_payroll_lock_keeps_the_unit_and_others_still_go_through(api: ApiCall, agency: Agency) -> None:
    send(api, batch(timecard(1001, 501, hours=8)))
    locked = api("POST", "/v1/weeks/2026-11-22/send-to-payroll", {"hierarchyNodeId": "branch"}, **ADMIN)
    assert locked.status == 200 and locked.json["lockedUnits"] == 1
    reply = send(api, batch(timecard(1001, 501, hours=4), timecard(1002, 502, hours=6)))
    assert result_of(reply, 1001)["error"] == (
        "The timecard for Assignment 1001 for the week ending 2026-11-22 "
        "has already been sent to payroll and cannot be replaced."
    )
    assert result_of(reply, 1002)["status"] == "created"
    [card] = stored(api, 1001)
    assert card["totalHours"] == 8.0 and card["payrollStatus"] == "sent"


def test_send_to_payroll_only_locks_below_its_node(api: ApiCall, agency: Agency) -> None:
    send(api, batch(timecard(1001, 501), timecard(1002, 502)))
    reply = api("POST", "/v1/weeks/2026-11-22/send-to-payroll", {"hierarchyNodeId": "sub"}, **ADMIN)
    assert reply.json["lockedUnits"] == 1
    assert stored(api, 1002)[0]["payrollStatus"] == "sent"
    assert stored(api, 1001)[0]["payrollStatus"] == "open"


def test_older_send_never_overwrites_a_newer_one(services: Any, agency: Agency) -> None:
    from datetime import UTC, datetime

    from timerack_bridge.api.auth import Caller, require_timerack_rep
    from timerack_bridge.domain.batch import TimecardIn
    from timerack_bridge.logic.intake import submit_batch

    access = require_timerack_rep(Caller("timerack-portal", frozenset()), services.admin)
    customer = services.admin.get_customer_by_client_key(CLIENT_KEY)
    newer = submit_batch(
        services,
        access,
        customer,
        [TimecardIn.model_validate(timecard(1001, 501, hours=9))],
        now=datetime(2026, 11, 23, 10, 0, tzinfo=UTC),
    )
    older = submit_batch(
        services,
        access,
        customer,
        [TimecardIn.model_validate(timecard(1001, 501, hours=5))],
        now=datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
    )
    assert newer.results[0].status == "created"
    assert older.results[0].status == "error" and "newer send" in (older.results[0].error or "")
    assert services.timecards.timecards(1001, date(2026, 11, 22))[0].total_hours == 9.0


def test_concurrent_resends_never_duplicate(services: Any, agency: Agency) -> None:
    from timerack_bridge.api.auth import Caller, require_timerack_rep
    from timerack_bridge.domain.batch import TimecardIn
    from timerack_bridge.logic.intake import submit_batch

    access = require_timerack_rep(Caller("timerack-portal", frozenset()), services.admin)
    customer = services.admin.get_customer_by_client_key(CLIENT_KEY)
    sends = [
        [
            TimecardIn.model_validate(timecard(1001, 501, "REG", float(n))),
            *([TimecardIn.model_validate(timecard(1001, 501, "OT", 1.0))] if n % 2 else []),
            TimecardIn.model_validate(timecard(1002, 502, "REG", float(n))),
        ]
        for n in range(1, 9)
    ]
    results: dict[int, Any] = {}
    barrier = threading.Barrier(len(sends))

    def run(n: int) -> None:
        barrier.wait()
        results[n] = submit_batch(services, access, customer, sends[n])

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(sends))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == len(sends)
    for assignment_id in (1001, 1002):
        cards = services.timecards.timecards(assignment_id, date(2026, 11, 22))
        pay_codes = [c.pay_code for c in cards]
        assert len(pay_codes) == len(set(pay_codes))  # no duplicate
        winners = {c.source_batch_id for c in cards}
        assert len(winners) == 1  # the unit is exactly one send
        [n] = [n for n, r in results.items() if r.batch_id in winners]
        sent = [tc for tc in sends[n] if tc.assignment_id == assignment_id]
        assert sorted(pay_codes) == sorted(tc.pay_code for tc in sent)
        assert {c.pay_code: c.total_hours for c in cards} == {tc.pay_code: tc.days[0].hours for tc in sent}


def test_interrupted_send_is_finished_by_a_resend(
    api: ApiCall, services: Any, agency: Agency, monkeypatch: pytest.MonkeyPatch
) -> None:
    from timerack_bridge.api.auth import Caller, require_timerack_rep
    from timerack_bridge.domain.batch import TimecardIn
    from timerack_bridge.logic import intake
    from timerack_bridge.logic.intake import submit_batch

    # One unit per transaction (a batch of over 100 actions in small), so the function can die between two
    monkeypatch.setattr(intake, "MAX_TRANSACTION_ACTIONS", 1)

    access = require_timerack_rep(Caller("timerack-portal", frozenset()), services.admin)
    customer = services.admin.get_customer_by_client_key(CLIENT_KEY)
    cards = [TimecardIn.model_validate(timecard(a, e)) for a, e in ((1001, 501), (1002, 502))]
    written: list[int] = []

    def die_after_first(assignment_id: int) -> None:
        if written:
            raise SystemExit("the function died")
        written.append(assignment_id)

    services.settings = services.settings.model_copy(update={"write_parallelism": 1})
    with pytest.raises(SystemExit):
        submit_batch(services, access, customer, cards, before_unit_write=die_after_first)
    assert sum(len(stored(api, a)) for a in (1001, 1002)) == 1
    reply = submit_batch(services, access, customer, cards)
    assert sorted(r.status for r in reply.results) == ["created", "replaced"]
    assert all(len(stored(api, a)) == 1 for a in (1001, 1002))
    history = api("GET", f"/v1/payroll-history?clientKey={CLIENT_KEY}").json["items"]
    assert [h["status"] for h in history] == ["completed", "processing"]


def test_idempotency_key_replays_the_first_response(api: ApiCall, agency: Agency) -> None:
    body = batch(timecard(1001, 501))
    first = send(api, body, headers={"Idempotency-Key": "abc-1"})
    replay = send(api, body, headers={"Idempotency-Key": "abc-1"})
    assert replay == first
    history = api("GET", f"/v1/payroll-history?clientKey={CLIENT_KEY}").json["items"]
    assert len(history) == 1
    other = api(
        "POST", "/v1/timecard-batches", batch(timecard(1001, 501, hours=3)), headers={"Idempotency-Key": "abc-1"}
    )
    assert other.status == 422 and "Idempotency-Key" in other.json["message"]
    assert stored(api, 1001)[0]["totalHours"] == 8.0


def test_dry_run_checks_without_writing(api: ApiCall, agency: Agency) -> None:
    reply = api("POST", "/v1/timecard-batches?dryRun=true", batch(timecard(1001, 501), timecard(999, 501)))
    assert reply.status == 200
    assert result_of(reply.json, 1001)["status"] == "created" and result_of(reply.json, 999)["status"] == "error"
    assert reply.json["dryRun"] is True
    assert stored(api, 1001) == []
    assert api("GET", f"/v1/payroll-history?clientKey={CLIENT_KEY}").json["items"] == []


def test_status_codes(api: ApiCall, agency: Agency, services: Any) -> None:
    body = batch(timecard(1001, 501))
    assert api("POST", "/v1/timecard-batches", body, principal=None).status == 401
    assert api("POST", "/v1/timecard-batches", body, principal="stranger").status == 403
    assert api("POST", "/v1/timecard-batches", batch(timecard(1001, 501), client_key="NOPE")).status == 404
    assert api("POST", "/v1/timecard-batches", {"timecards": []}).status == 422
    assert api("POST", "/v1/timecard-batches", raw="not json").status == 422
    assert (
        api("POST", "/v1/timecard-batches", {"clientKey": CLIENT_KEY, "timecards": [{"assignmentId": "x"}]}).status
        == 422
    )
    too_many = api("POST", "/v1/timecard-batches", batch(*[timecard(1001, 501)] * 20_001))
    assert too_many.status == 413 and "20000" in too_many.json["message"]
    huge = api("POST", "/v1/timecard-batches", raw='{"clientKey": "' + "A" * (10 * 1024 * 1024) + '"}')
    assert huge.status == 413 and "10485760" in huge.json["message"]
    assert stored(api, 1001) == []
    assert api("GET", f"/v1/payroll-history?clientKey={CLIENT_KEY}").json["items"] == []


def test_rep_outside_the_group_or_its_node_is_403(api: ApiCall, agency: Agency, services: Any) -> None:
    from timerack_bridge.domain.entities import SecurityGroup, ServiceRep

    services.admin.put_rep(
        ServiceRep(rep_id="rep-2", name="Outsider", principal="outsider", current_hierarchy_node_id="branch")
    )
    assert api("POST", "/v1/timecard-batches", batch(timecard(1001, 501)), principal="outsider").status == 403
    # A member whose current node is above the group's node fails too
    services.admin.put_group(
        SecurityGroup(name="Branch group", hierarchy_node_id="sub", permissions=["Timerack"], members=["rep-2"])
    )
    assert api("POST", "/v1/timecard-batches", batch(timecard(1001, 501)), principal="outsider").status == 403
    # A group without the Timerack permission grants nothing
    services.admin.put_group(
        SecurityGroup(name="No perms", hierarchy_node_id="system", permissions=[], members=["rep-2"])
    )
    assert api("GET", f"/v1/payroll-history?clientKey={CLIENT_KEY}", principal="outsider").status == 403
    assert stored(api, 1001) == []


def test_payroll_history_and_csv_report(api: ApiCall, agency: Agency) -> None:
    first = send(api, batch(timecard(1001, 501)))
    second = send(api, batch(timecard(1001, 501, hours=6), timecard(999, 501, "OT")))
    listed = api("GET", f"/v1/payroll-history?clientKey={CLIENT_KEY}").json["items"]
    assert [b["batchId"] for b in listed] == [second["batchId"], first["batchId"]]
    one = api("GET", f"/v1/payroll-history/{second['batchId']}").json
    assert one["results"] == second["results"]
    report = api("GET", f"/v1/payroll-history/{second['batchId']}/report.csv")
    assert report.status == 200 and report.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(report.text)))
    assert rows[0] == ["Assignment ID", "Employee ID", "Pay Code", "Weekend Bill", "Status", "Error Message"]
    assert rows[1] == ["1001", "501", "REG", "2026-11-22", "replaced", ""]
    assert rows[2] == [
        "999",
        "501",
        "OT",
        "",
        "error",
        "The Assignment with an Id of 999 could not be found or is not currently visible.",
    ]
    assert api("GET", "/v1/payroll-history/nope").status == 404


def test_another_clients_history_is_refused(api: ApiCall, agency: Agency, services: Any) -> None:
    from timerack_bridge.domain.entities import Customer

    services.admin.put_customer(
        Customer(customer_id=300, name="Far away", hierarchy_node_id="other", timerack_client_key="FAR-1")
    )
    # Hidden answers like absent (404 both), so a rep cannot learn which keys exist
    assert api("GET", "/v1/payroll-history?clientKey=FAR-1").status == 404
    assert api("GET", "/v1/payroll-history?clientKey=NOPE").status == 404


def test_csv_cells_are_neutralised() -> None:
    from timerack_bridge.domain.batch import AssignmentResult
    from timerack_bridge.domain.report import render_csv

    text = render_csv(
        [AssignmentResult(assignment_id=1, status="error", error='=HYPERLINK("x")', pay_codes=["+1", "@SUM"])]
    )
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1][5] == '\'=HYPERLINK("x")' and rows[1][2] == "'+1" and rows[2][2] == "'@SUM"


def test_payroll_email_settings(api: ApiCall, agency: Agency) -> None:
    assert api("GET", f"/v1/clients/{CLIENT_KEY}/payroll-email").json == {
        "recipients": [],
        "receiveErrorFile": False,
        "clientKey": CLIENT_KEY,
    }
    saved = api(
        "PUT", f"/v1/clients/{CLIENT_KEY}/payroll-email", {"recipients": ["pay@acme.example"], "receiveErrorFile": True}
    )
    assert saved.status == 200
    assert api("GET", f"/v1/clients/{CLIENT_KEY}/payroll-email").json["recipients"] == ["pay@acme.example"]
    bad = api(
        "PUT", f"/v1/clients/{CLIENT_KEY}/payroll-email", {"recipients": ["not an email"], "receiveErrorFile": True}
    )
    assert bad.status == 422
