"""A manual import never loses a row (issue 13, point 2) and reads dates and numbers strictly (point 3):
a Timerack Feed is imported whole or not at all, and every failing row is named with its reason."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from tests.conftest import Agency, ApiCall

HEADER = (
    "Assignment ID,Employee ID,Pay Code,Date,Hours,Punch In,Punch Out,"
    "Adjustment Code,Adjustment Amount,Adjustment Description\n"
)
GOOD = "3001,504,REG,2026-11-16,8,,,,,"
NOT_FOUND_1005 = "The Assignment with an Id of 1005 could not be found or is not currently visible."


@pytest.fixture
def manual_client(agency: Agency, services: Any) -> Agency:
    from timerack_bridge.domain.entities import Assignment, Customer

    services.admin.put_customer(
        Customer(
            customer_id=100,
            name="Acme",
            hierarchy_node_id="branch",
            timerack_client_key="ACME-1",
            timerack_mode="manual-import",
        )
    )
    for assignment_id, employee_id, customer_id, node in ((3001, 504, 100, "branch"), (3002, 505, 101, "sub")):
        services.admin.put_assignment(
            Assignment(
                assignment_id=assignment_id,
                employee_id=employee_id,
                customer_id=customer_id,
                hierarchy_node_id=node,
                status="Active",
                start_date=date(2026, 1, 5),
            )
        )
    return agency


def feed(api: ApiCall, *lines: str, dry_run: bool = False, weekend_bill: Any = "2026-11-22") -> Any:
    body = {
        "feedType": "Timerack Feed",
        "parentCustomerId": 100,
        "weekendBill": weekend_bill,
        "fileName": "timerack.csv",
        "content": HEADER + "".join(f"{line}\n" for line in lines),
    }
    return api("POST", "/v1/timecard-imports" + ("?dryRun=true" if dry_run else ""), body)


def stored(api: ApiCall, assignment_id: int) -> list[dict[str, Any]]:
    return api("GET", f"/v1/timecards?assignmentId={assignment_id}&weekendBill=2026-11-22").json["items"]


def history(api: ApiCall) -> list[dict[str, Any]]:
    return api("GET", "/v1/payroll-history?clientKey=ACME-1").json["items"]


def refused(api: ApiCall, *lines: str) -> list[tuple[int, str]]:
    """Import the lines, check the file is refused whole and the dry run says the same; the failing rows."""
    reply = feed(api, *lines)
    assert reply.status == 422, reply.text
    assert reply.json["imported"] is False and reply.json["batch"] is None
    check = feed(api, *lines, dry_run=True)
    assert (check.status, check.json["rowErrors"]) == (422, reply.json["rowErrors"])
    assert stored(api, 3001) == [] and stored(api, 3002) == [] and history(api) == []
    return [(e["row"], e["message"]) for e in reply.json["rowErrors"]]


def test_an_unclosed_quote_loses_no_hours_the_file_is_refused_naming_its_row(
    api: ApiCall, manual_client: Agency
) -> None:
    # Given a description that opens a quote and never closes it, then 17 hours of employee 505
    lines = (
        GOOD,
        '3001,504,,,,,,BONUS,25,"Perfect attendance',
        "3002,505,REG,2026-11-17,9,,,,,",
        "3002,505,REG,2026-11-18,8,,,,,",
    )
    # Then nothing is written and row 3 is named: the 17 hours never become a description
    [(row, message)] = refused(api, *lines)
    assert row == 3 and "Adjustment Description" in message and "never closed" in message


def test_rows_with_the_wrong_number_of_cells_or_a_nul_are_refused(api: ApiCall, manual_client: Agency) -> None:
    found = refused(
        api, GOOD, "3002,505,REG,2026-11-17,8,,,,,,", "3002,505,REG,2026-11-18,8", "3001,504,,,,,,B,1,a\x00"
    )
    assert [row for row, _ in found] == [3, 4, 5]
    assert "11 cells; the header has 10" in found[0][1] and "5 cells" in found[1][1] and "NUL" in found[2][1]


def test_a_bad_row_after_a_multi_line_description_is_named_by_its_spreadsheet_row(
    api: ApiCall, manual_client: Agency
) -> None:
    [(row, message)] = refused(api, '3001,504,,,,,,BONUS,25,"Perfect\nattendance"', "3001,504,REG,2026-11-16,x,,,,,")
    assert row == 3 and message.startswith("Hours") and "line 4 of the file" in message


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("3002,505,REG,2026-11-17,25,,,,,", "24 hours"),
        ("3002,505,REG,2026-11-17,-8,,,,,", "at least 0"),
        ("3002,505,REG,2026-11-24,8,,,,,", "outside the week"),
    ],
)
def test_one_bad_row_keeps_every_other_assignment_out_too(
    api: ApiCall, manual_client: Agency, line: str, reason: str
) -> None:
    # Given a good assignment and one row of another assignment with bad content
    [(row, message)] = refused(api, GOOD, line)
    # Then the good assignment is not written either, and the bad row is named
    assert row == 3 and reason in message


def test_every_row_the_pipeline_refuses_is_listed_with_the_articles_reason(api: ApiCall, manual_client: Agency) -> None:
    # Given a good assignment, one not found (two rows) and one whose status allows no timecards
    found = refused(
        api, GOOD, "1005,501,REG,2026-11-16,8,,,,,", "1003,503,REG,2026-11-16,8,,,,,", "1005,501,,,,,,BONUS,5,"
    )
    assert found == [
        (3, NOT_FOUND_1005),
        (4, "The Assignment with an Id of 1003 has a status that does not allow timecards to be created."),
        (5, NOT_FOUND_1005),
    ]


def test_reading_and_pipeline_errors_are_listed_together(api: ApiCall, manual_client: Agency) -> None:
    found = refused(api, GOOD, "1005,501,REG,2026-11-16,8,,,,,", "3001,504,REG,2026-11-17,eight,,,,,")
    assert [row for row, _ in found] == [3, 4] and found[0][1] == NOT_FOUND_1005


def test_an_employee_that_is_not_the_assignments_names_the_rows(api: ApiCall, manual_client: Agency) -> None:
    found = refused(api, GOOD, "3002,504,REG,2026-11-17,8,,,,,")
    assert found == [(3, "Assignment 3002: employee 504 is not the employee of assignment 3002")]


def test_a_locked_assignment_refuses_the_whole_file(api: ApiCall, manual_client: Agency, services: Any) -> None:
    # Given 3002's timecard was imported and its week sent to payroll at the sub-branch
    assert feed(api, "3002,505,REG,2026-11-17,8,,,,,").status == 200
    lock = {"hierarchyNodeId": "sub"}
    assert api("POST", "/v1/weeks/2026-11-22/send-to-payroll", lock, admin=True).json["lockedUnits"] == 1
    # When a file with a new assignment and a change to 3002 is imported
    reply = feed(api, GOOD, "3002,505,REG,2026-11-17,9,,,,,")
    # Then it is refused whole: 3001 is not written and 3002 keeps its 8 hours
    assert reply.status == 422 and reply.json["imported"] is False
    [error] = reply.json["rowErrors"]
    assert error["row"] == 3 and "has already been sent to payroll" in error["message"]
    assert stored(api, 3001) == [] and stored(api, 3002)[0]["totalHours"] == 8.0
    assert len(history(api)) == 1


def test_a_lock_between_the_check_and_the_write_is_reported_on_its_rows(
    api: ApiCall, manual_client: Agency, services: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from timerack_bridge.logic import intake

    # Given both assignments were imported once
    assert feed(api, GOOD, "3002,505,REG,2026-11-17,8,,,,,").status == 200
    real_submit = intake.submit_batch

    def lock_3002_while_writing(*args: Any, **kwargs: Any) -> Any:
        def before_write(assignment_id: int) -> None:
            if assignment_id == 3002:  # the week is sent to payroll at the sub-branch right now
                for header in services.timecards.week_unit_headers(date(2026, 11, 22)):
                    if header["hierarchy_node_id"] == "sub":
                        services.timecards.lock_unit(header)

        if not kwargs.get("dry_run"):
            kwargs["before_unit_write"] = before_write
        return real_submit(*args, **kwargs)

    monkeypatch.setattr(intake, "submit_batch", lock_3002_while_writing)
    # When the file is imported again with new hours and 3002 is locked after the check passed
    reply = feed(api, "3001,504,REG,2026-11-16,6,,,,,", "3002,505,REG,2026-11-17,9,,,,,")
    # Then the answer says so: 409, 3001 was written, 3002's row is named with the lock
    assert reply.status == 409, reply.text
    assert reply.json["imported"] is True
    assert reply.json["batch"]["counts"] == {"assignments": 2, "created": 0, "replaced": 1, "errors": 1}
    [error] = reply.json["rowErrors"]
    assert error["row"] == 3 and "has already been sent to payroll" in error["message"]
    assert stored(api, 3001)[0]["totalHours"] == 6.0 and stored(api, 3002)[0]["totalHours"] == 8.0


def test_an_id_in_other_digits_is_refused_not_read_as_3001(api: ApiCall, manual_client: Agency) -> None:
    [(row, message)] = refused(api, "\u0663\u0660\u0660\u0661,504,REG,2026-11-16,8,,,,,")
    assert row == 2 and message.startswith("Assignment ID")


@pytest.mark.parametrize(("value", "column"), [("11/16/2026", "Date"), ("nan", "Hours"), ("1e3", "Hours")])
def test_a_date_or_number_in_another_form_is_refused(
    api: ApiCall, manual_client: Agency, value: str, column: str
) -> None:
    cells = {"Date": f"3001,504,REG,{value},8,,,,,", "Hours": f"3001,504,REG,2026-11-16,{value},,,,,"}
    [(row, message)] = refused(api, cells[column])
    assert row == 2 and message.startswith(column)


def test_minus_zero_hours_are_stored_as_0(api: ApiCall, manual_client: Agency) -> None:
    assert feed(api, "3001,504,REG,2026-11-16,-0.0,,,,,").status == 200
    [card] = stored(api, 3001)
    assert str(card["days"][0]["hours"]) == "0.0" and str(card["totalHours"]) == "0.0"


@pytest.mark.parametrize("weekend_bill", [1795910400, "1795910400", "11/22/2026", "20261122"])
def test_the_weekend_bill_of_the_body_is_yyyy_mm_dd(api: ApiCall, manual_client: Agency, weekend_bill: Any) -> None:
    reply = feed(api, GOOD, weekend_bill=weekend_bill)
    assert reply.status == 422 and "weekendBill" in reply.text
    assert stored(api, 3001) == []


def test_a_good_file_still_imports_whole(api: ApiCall, manual_client: Agency) -> None:
    lines = (GOOD, "3001,504,,,,,,BONUS,-25.50,Correction", "3002,505,REG,2026-11-17,7.5,,,,,")
    check = feed(api, *lines, dry_run=True)
    assert check.status == 200 and check.json["rowErrors"] == [] and check.json["imported"] is False
    assert check.json["batch"]["counts"]["created"] == 2 and stored(api, 3001) == []
    reply = feed(api, *lines)
    assert reply.status == 200 and reply.json["imported"] is True and reply.json["rowErrors"] == []
    assert stored(api, 3001)[0]["adjustments"][0]["amount"] == -25.5 and stored(api, 3002)[0]["totalHours"] == 7.5
    assert len(history(api)) == 1


def test_the_cli_says_in_one_line_whether_the_file_was_imported(api: ApiCall, manual_client: Agency) -> None:
    from local.remote import import_summary

    bad = feed(api, GOOD, "1005,501,REG,2026-11-16,8,,,,,")
    assert import_summary(bad.status, bad.json) == (
        "Not imported, nothing written: 1 row(s) fail, listed in rowErrors with the reason"
    )
    check = feed(api, GOOD, dry_run=True)
    assert import_summary(check.status, check.json) == "Checked: the whole file can be imported (1 rows)"
    done = feed(api, GOOD)
    assert import_summary(done.status, done.json) == "Imported the whole file (1 rows)"
    connect = api("POST", "/v1/timecard-imports", {"feedType": "Timerack Feed"})
    assert import_summary(connect.status, connect.json).startswith("Refused (422): ")
