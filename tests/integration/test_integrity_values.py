"""Payroll integrity through the API: overlapping time is never paid twice, a date is a date, a number a number."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from tests.conftest import Agency, ApiCall, batch, timecard

WB = "2026-11-22"


def punched(assignment_id: int, employee_id: int, pay_code: str, *days: tuple[str, list[str]]) -> dict[str, Any]:
    """A timecard of punch pairs: ("2026-11-16", ["0800-1600", ...]) per day."""
    return {
        "assignmentId": assignment_id,
        "employeeId": employee_id,
        "payCode": pay_code,
        "days": [
            {"date": day, "punches": [{"in": pair[:4], "out": pair[5:]} for pair in pairs]} for day, pairs in days
        ],
    }


def stored(api: ApiCall, assignment_id: int) -> list[dict[str, Any]]:
    reply = api("GET", f"/v1/timecards?assignmentId={assignment_id}&weekendBill={WB}")
    assert reply.status == 200, reply.text
    return reply.json["items"]


def results_by_assignment(reply: Any) -> dict[int, dict[str, Any]]:
    assert reply.status == 200, reply.text
    return {r["assignmentId"]: r for r in reply.json["results"]}


# ---------------------------------------------------------------- 1. time that overlaps is not paid twice


@pytest.mark.parametrize(
    ("cards", "date_named", "punches_named"),
    [
        (
            [punched(1001, 501, "REG", ("2026-11-16", ["0800-1600", "0800-1600", "0800-1600"]))],
            "2026-11-16",
            ("REG 0800-1600", "REG 0800-1600"),
        ),
        (
            [
                punched(1001, 501, "REG", ("2026-11-16", ["0800-1600"])),
                punched(1001, 501, "OT", ("2026-11-16", ["0800-1600"])),
            ],
            "2026-11-16",
            ("REG 0800-1600", "OT 0800-1600"),
        ),
        (
            [
                punched(1001, 501, "REG", ("2026-11-16", ["0800-1600"])),
                punched(1001, 501, "OT", ("2026-11-16", ["0900-1700"])),
            ],
            "2026-11-16",
            ("REG 0800-1600", "OT 0900-1700"),
        ),
        (
            [punched(1001, 501, "REG", ("2026-11-16", ["2200-0600"]), ("2026-11-17", ["0500-1300"]))],
            "2026-11-17",
            ("REG 2200-0600 (punched in 2026-11-16)", "REG 0500-1300"),
        ),
    ],
)
def test_overlapping_punches_make_the_assignment_an_error_and_nothing_of_it_is_written(
    api: ApiCall, agency: Agency, cards: list[dict[str, Any]], date_named: str, punches_named: tuple[str, str]
) -> None:
    # Given a batch with overlapping punches on assignment 1001 and a good timecard on 1002
    body = batch(*cards, timecard(1002, 502))
    # When it is sent
    results = results_by_assignment(api("POST", "/v1/timecard-batches", body))
    # Then 1001 is an error naming the date and both punches, and none of its time is stored
    error = results[1001]["error"]
    assert results[1001]["status"] == "error" and "overlap" in error
    assert f"on {date_named}" in error and f"{punches_named[0]} and {punches_named[1]}" in error
    assert results[1001]["timecardIds"] == []
    assert stored(api, 1001) == []
    # ... and the rest of the batch goes through
    assert results[1002]["status"] == "created"
    assert [c["totalHours"] for c in stored(api, 1002)] == [8.0]


def test_overlapping_punches_do_not_replace_what_was_stored(api: ApiCall, agency: Agency) -> None:
    # Given 1001 stored with 8 hours
    assert api("POST", "/v1/timecard-batches", batch(timecard(1001, 501))).status == 200
    # When a re-send repeats one punch pair
    again = punched(1001, 501, "REG", ("2026-11-16", ["0800-1600", "0800-1600"]))
    results = results_by_assignment(api("POST", "/v1/timecard-batches", batch(again)))
    # Then it is refused and the stored 8 hours stay
    assert results[1001]["status"] == "error"
    assert [c["totalHours"] for c in stored(api, 1001)] == [8.0]


def test_punches_that_only_touch_are_paid_once_each(api: ApiCall, agency: Agency) -> None:
    # Given 0800-1200 then 1200-1600 on REG, and an overnight shift ending as the next day's REG starts
    body = batch(
        punched(1001, 501, "REG", ("2026-11-16", ["0800-1200", "1200-1600"])),
        punched(1001, 501, "OT", ("2026-11-17", ["2200-0600"])),
        punched(1001, 501, "DT", ("2026-11-18", ["0600-0800"])),
    )
    results = results_by_assignment(api("POST", "/v1/timecard-batches", body))
    # Then all of it is stored
    assert results[1001]["status"] == "created" and results[1001]["warnings"] == []
    assert {c["payCode"]: c["totalHours"] for c in stored(api, 1001)} == {"REG": 8.0, "OT": 8.0, "DT": 2.0}


def test_a_day_over_24_hours_across_pay_codes_is_written_with_a_warning(
    api: ApiCall, agency: Agency, monkeypatch: pytest.MonkeyPatch, services: Any
) -> None:
    # Given a tenant with holiday pay, 16 hours of REG punches and 10 HOL hours on one day
    monkeypatch.setattr(services, "settings", services.settings.model_copy(update={"pay_codes": ("REG", "HOL")}))
    body = batch(
        punched(1001, 501, "REG", ("2026-11-19", ["0600-2200"])),
        timecard(1001, 501, pay_code="HOL", hours=10.0, day=date(2026, 11, 19)),
    )
    reply = api("POST", "/v1/timecard-batches", body)
    results = results_by_assignment(reply)
    # Then the timecards are written and the result warns about that day
    assert results[1001]["status"] == "created" and results[1001]["error"] is None
    [warning] = results[1001]["warnings"]
    assert "2026-11-19" in warning and "26 hours" in warning
    assert {c["payCode"]: c["totalHours"] for c in stored(api, 1001)} == {"REG": 16.0, "HOL": 10.0}
    # ... and Payroll History keeps the warning
    history = api("GET", f"/v1/payroll-history/{reply.json['batchId']}")
    assert history.status == 200, history.text
    assert warning in json.dumps(history.json)


def test_a_manual_import_with_a_repeated_punch_is_refused_whole(api: ApiCall, agency: Agency, services: Any) -> None:
    from timerack_bridge.domain.entities import Customer

    # Given a manual-import client and a feed that repeats one punch pair on one day
    services.admin.put_customer(
        Customer(
            customer_id=100,
            name="Acme",
            hierarchy_node_id="branch",
            timerack_client_key="ACME-1",
            timerack_mode="manual-import",
        )
    )
    content = (
        "Assignment ID,Employee ID,Pay Code,Date,Hours,Punch In,Punch Out,"
        "Adjustment Code,Adjustment Amount,Adjustment Description\n"
        "1001,501,REG,2026-11-16,,0800,1600,,,\n"
        "1001,501,REG,2026-11-16,,0800,1600,,,\n"
    )
    body = {
        "feedType": "Timerack Feed",
        "parentCustomerId": 100,
        "weekendBill": WB,
        "fileName": "timerack.csv",
        "content": content,
    }
    reply = api("POST", "/v1/timecard-imports", body)
    # Then the file is refused whole, both rows naming the overlap on that day, and nothing is stored
    assert reply.status == 422, reply.text
    assert [e["row"] for e in reply.json["rowErrors"]] == [2, 3]
    assert all(
        "overlap on 2026-11-16" in e["message"] and "REG 0800-1600 and REG 0800-1600" in e["message"]
        for e in reply.json["rowErrors"]
    )
    assert reply.json["imported"] is False and stored(api, 1001) == []


# ---------------------------------------------------------------- 3. a date is a date, a number is a number

BAD_DATES = ["20261116", "2026-W47-1", "2026-320", "2026-11-16T00:00", " 2026-11-16", "\u0662\u0660\u0662\u0666-11-16"]


@pytest.mark.parametrize("written", BAD_DATES)
def test_a_day_date_not_written_yyyy_mm_dd_is_that_assignments_error(
    api: ApiCall, agency: Agency, written: str
) -> None:
    # Given a day whose date Python 3.11 would read anyway, next to a good assignment
    bad = timecard(1001, 501)
    bad["days"].append({"date": written, "hours": 4.0})
    results = results_by_assignment(api("POST", "/v1/timecard-batches", batch(bad, timecard(1002, 502))))
    # Then 1001 is an error naming the field, without repeating the value, and is not stored
    error = results[1001]["error"]
    assert results[1001]["status"] == "error" and "days[1].date" in error and "YYYY-MM-DD" in error
    assert written.strip() not in error
    assert stored(api, 1001) == []
    assert results[1002]["status"] == "created"


def test_a_day_date_sent_as_a_number_is_a_422_naming_the_field(api: ApiCall, agency: Agency) -> None:
    bad = timecard(1001, 501)
    bad["days"] = [{"date": 1763251200, "hours": 8.0}]
    reply = api("POST", "/v1/timecard-batches", batch(timecard(1002, 502), bad))
    assert reply.status == 422
    assert reply.json["message"].startswith("timecards[1].days[0].date: ")
    assert "1763251200" not in reply.text
    assert stored(api, 1002) == []


@pytest.mark.parametrize("written", [*BAD_DATES, "2026-11-22\n", "1763769600"])
def test_a_pay_period_date_not_written_yyyy_mm_dd_is_a_422(api: ApiCall, agency: Agency, written: str) -> None:
    body = batch(timecard(1001, 501))
    body["payPeriod"]["end"] = written
    reply = api("POST", "/v1/timecard-batches", body)
    assert reply.status == 422
    assert reply.json["message"] == "payPeriod.end: a date is written YYYY-MM-DD"
    assert stored(api, 1001) == []


@pytest.mark.parametrize("written", ["20261122", "2026-W47-7", "1763769600", "2026-326", "2026-11-22T00:00"])
def test_a_weekend_bill_query_not_written_yyyy_mm_dd_is_a_422(api: ApiCall, agency: Agency, written: str) -> None:
    reply = api("GET", f"/v1/timecards?assignmentId=1001&weekendBill={written}")
    assert reply.status == 422
    assert reply.json["message"] == "weekendBill: a date is written YYYY-MM-DD"
    assert written not in reply.text


@pytest.mark.parametrize("written", ["20261122", "2026-W47-7", "1763769600"])
def test_a_weekend_bill_in_the_path_not_written_yyyy_mm_dd_is_a_422(
    api: ApiCall, agency: Agency, services: Any, written: str
) -> None:
    # Given 1001 stored for the week
    assert api("POST", "/v1/timecard-batches", batch(timecard(1001, 501))).status == 200
    # When the week is sent to payroll, or put, with its date in another form
    send = api("POST", f"/v1/weeks/{written}/send-to-payroll", {"hierarchyNodeId": "branch"}, admin=True)
    put = api("PUT", f"/v1/weeks/{written}", {"hierarchyNodeId": "branch", "status": "closed"}, admin=True)
    # Then both are a 422 naming the path field, and nothing was locked or closed
    for reply in (send, put):
        assert reply.status == 422
        assert reply.json["message"] == "weekendBill: a date is written YYYY-MM-DD"
        assert written not in reply.text
    again = api("POST", "/v1/timecard-batches", batch(timecard(1001, 501, hours=6.0)))
    assert again.json["results"][0]["status"] == "replaced"


def test_minus_zero_hours_are_stored_as_zero(api: ApiCall, agency: Agency) -> None:
    body = batch(timecard(1001, 501, hours=-0.0))
    assert '"hours": -0.0' in json.dumps(body)
    results = results_by_assignment(api("POST", "/v1/timecard-batches", body))
    assert results[1001]["status"] == "created"
    reply = api("GET", f"/v1/timecards?assignmentId=1001&weekendBill={WB}")
    assert "-0.0" not in reply.text
    assert reply.json["items"][0]["days"][0]["hours"] == 0


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
def test_hours_that_are_not_finite_are_a_422(api: ApiCall, agency: Agency, number: str) -> None:
    raw = json.dumps(batch(timecard(1001, 501, hours=8.0))).replace("8.0", number)
    reply = api("POST", "/v1/timecard-batches", raw=raw)
    assert reply.status == 422
    assert reply.json["message"].startswith("timecards[0].days[0].hours: ")
    assert stored(api, 1001) == []


def test_a_422_names_the_field_as_sent_and_never_repeats_the_value(api: ApiCall, agency: Agency) -> None:
    # Given an employee id sent as text that looks like an SSN
    body = batch(timecard(1001, 501), timecard(1002, "123-45-6789"))  # type: ignore[arg-type]
    reply = api("POST", "/v1/timecard-batches", body)
    # Then the 422 names timecards[1].employeeId, and the value is nowhere in the reply
    assert reply.status == 422
    assert reply.json["message"] == "timecards[1].employeeId: Input should be a valid integer"
    assert "123-45-6789" not in reply.text and "employee_id" not in reply.text
    assert [d["field"] for d in reply.json["detail"]] == ["timecards[1].employeeId"]


def test_a_validation_error_inside_a_route_names_camel_case_fields(api: ApiCall, agency: Agency) -> None:
    from pydantic import ValidationError

    from timerack_bridge.api.app import handle_model_error
    from timerack_bridge.domain.entities import Assignment

    # Given a model built inside a route from bad values (python names, as a route would)
    with pytest.raises(ValidationError) as raised:
        Assignment(
            assignment_id=0,
            employee_id=501,
            customer_id=100,
            hierarchy_node_id="branch",
            status="Active",
            start_date="123-45-6789",
        )
    # When the resolver turns it into a reply
    reply = handle_model_error(raised.value)
    body = json.loads(reply.body)
    # Then its fields are the JSON names, and the value is not repeated
    assert reply.status_code == 422
    assert {d["field"] for d in body["detail"]} == {"assignmentId", "startDate"}
    assert "assignmentId: " in body["message"] and "startDate: a date is written YYYY-MM-DD" in body["message"]
    assert "assignment_id" not in reply.body and "123-45-6789" not in reply.body


@pytest.mark.parametrize("written", ["1_001", "1001.0", "+1001", "%201001", "1001%0A", "%D9%A1%D9%A0%D9%A0%D9%A1"])
def test_an_assignment_id_query_is_plain_digits(api: ApiCall, agency: Agency, written: str) -> None:
    # Given 1001 stored for the week
    assert api("POST", "/v1/timecard-batches", batch(timecard(1001, 501))).status == 200
    # When it is asked for with an id int() would read anyway
    reply = api("GET", f"/v1/timecards?assignmentId={written}&weekendBill={WB}")
    # Then it is a 422 naming the field, not another spelling of 1001
    assert reply.status == 422, reply.text
    assert reply.json["message"] == "assignmentId: an id is written with the digits 0-9"
    assert len(api("GET", f"/v1/timecards?assignmentId=1001&weekendBill={WB}").json["items"]) == 1


@pytest.mark.parametrize("written", ["1_001", "1001.0", "+1001", "%D9%A1%D9%A0%D9%A0%D9%A1"])
def test_an_id_in_an_admin_path_is_plain_digits(api: ApiCall, agency: Agency, written: str) -> None:
    # Given employee 501 exists
    assert api("GET", "/v1/employees/501", admin=True).status == 200
    # When an admin asks for it with a spelling int() would read anyway
    reply = api("GET", f"/v1/employees/{written}", admin=True)
    # Then it is a 422 naming the field, not another spelling of an id
    assert reply.status == 422, reply.text
    assert reply.json["message"] == "employeeId: an id is written with the digits 0-9"


def test_the_overlap_error_reads_as_the_articles_errors_do(api: ApiCall, agency: Agency) -> None:
    # Given the same punch pair sent twice on one day
    body = batch(punched(1001, 501, "REG", ("2026-11-16", ["0800-1600", "0800-1600"])))
    # When it is sent
    results = results_by_assignment(api("POST", "/v1/timecard-batches", body))
    # Then the error is one sentence about the timecard of that assignment, as the article's are
    assert results[1001]["error"] == (
        "The timecard for Assignment 1001 has punches that overlap on 2026-11-16: "
        "REG 0800-1600 and REG 0800-1600. The same time cannot be paid twice."
    )
