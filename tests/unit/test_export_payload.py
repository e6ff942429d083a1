"""The export's pure rules: the window, the PINs in the payload, the problems, the CSV template."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from timerack_bridge.domain.entities import Assignment, Customer, Employee
from timerack_bridge.domain.export_payload import (
    IMPORT_TEMPLATE_COLUMNS,
    build_client_export,
    import_template_csv,
    in_export_window,
)
from timerack_bridge.domain.pin import ssn_last_four
from timerack_bridge.domain.types import AssignmentStatus

TODAY = date(2026, 11, 16)
NOW = datetime(2026, 11, 16, 14, 0, tzinfo=UTC)
ACME = Customer(customer_id=100, name="Acme", hierarchy_node_id="branch", timerack_client_key="ACME-1")


def employee(
    employee_id: int,
    birth: date | None = date(1990, 4, 7),
    ssn: str | None = None,
    override: str | None = None,
) -> Employee:
    return Employee(
        employee_id=employee_id,
        first_name="First",
        last_name=f"Last{employee_id}",
        birth_date=birth,
        ssn_last4=ssn_last_four(ssn) if ssn else None,
        hierarchy_node_id="branch",
        pin_override=override,
    )


def assignment(
    assignment_id: int,
    employee_id: int,
    *,
    status: AssignmentStatus = AssignmentStatus.ACTIVE,
    start: date = date(2026, 1, 5),
    end: date | None = None,
    customer_id: int = 100,
) -> Assignment:
    return Assignment(
        assignment_id=assignment_id,
        employee_id=employee_id,
        customer_id=customer_id,
        hierarchy_node_id="branch",
        status=status,
        start_date=start,
        end_date=end,
        job_title="Operator",
    )


def export(assignments: list[Assignment], employees: list[Employee]):
    return build_client_export(ACME, assignments, {e.employee_id: e for e in employees}, today=TODAY, generated_at=NOW)


def pins(payload) -> dict[int, str]:
    return {e.employee_id: e.pin for e in payload.employees}


def test_both_pin_examples_of_the_article_land_in_the_payload() -> None:
    # Given April 7 + 111-11-2345 and December 12 + 123-45-6789
    april = employee(7, date(1990, 4, 7), "111-11-2345")
    december = employee(9, date(1985, 12, 12), "123-45-6789")
    # When the client is exported
    payload = export([assignment(1001, 7), assignment(1002, 9)], [april, december])
    # Then the PINs are the article's, and the JSON carries them as camelCase fields
    assert pins(payload) == {7: "72345", 9: "126789"}
    document = json.loads(payload.to_json())
    assert {e["employeeId"]: e["pin"] for e in document["employees"]} == {7: "72345", 9: "126789"}
    assert set(document) == {
        "clientKey",
        "customerId",
        "customerName",
        "generatedAt",
        "employees",
        "assignments",
        "problems",
    }
    assert document["assignments"][0] == {
        "assignmentId": 1001,
        "employeeId": 7,
        "customerId": 100,
        "status": "Active",
        "startDate": "2026-01-05",
        "endDate": None,
        "jobTitle": "Operator",
    }
    assert document["problems"] == []


def test_override_wins_over_the_default_pin() -> None:
    payload = export([assignment(1001, 7)], [employee(7, date(1990, 4, 7), "111-11-2345", override="904417")])
    assert pins(payload) == {7: "904417"}


def test_override_alone_is_a_usable_pin() -> None:
    payload = export([assignment(1001, 7)], [employee(7, birth=None, override="904417")])
    assert pins(payload) == {7: "904417"} and payload.problems == []


@pytest.mark.parametrize(
    ("start", "end", "included"),
    [
        (TODAY + timedelta(days=14), None, True),  # starts on the last day of the look-ahead
        (TODAY + timedelta(days=15), None, False),  # starts one day too late
        (date(2026, 1, 5), TODAY - timedelta(days=14), True),  # ended exactly 14 days ago
        (date(2026, 1, 5), TODAY - timedelta(days=15), False),  # ended one day too early
        (date(2020, 1, 6), None, True),  # no end date: current however old
        (TODAY, TODAY, True),
    ],
)
def test_window_edges_are_inclusive(start: date, end: date | None, included: bool) -> None:
    current = assignment(1001, 7, start=start, end=end)
    assert in_export_window(current, TODAY) is included
    payload = export([current], [employee(7, ssn="111-11-2345")])
    assert [a.assignment_id for a in payload.assignments] == ([1001] if included else [])
    assert [e.employee_id for e in payload.employees] == ([7] if included else [])


@pytest.mark.parametrize(
    ("status", "included"),
    [
        (AssignmentStatus.ACTIVE, True),
        (AssignmentStatus.COMPLETE, True),
        (AssignmentStatus.DELETED, False),
        (AssignmentStatus.CANCELLED, False),
    ],
)
def test_only_statuses_that_allow_timecards_are_sent(status: AssignmentStatus, included: bool) -> None:
    payload = export([assignment(1001, 7, status=status)], [employee(7, ssn="111-11-2345")])
    assert [a.assignment_id for a in payload.assignments] == ([1001] if included else [])


def test_employee_without_usable_pin_is_reported_and_not_sent() -> None:
    # Given one employee with no SSN and no override, one with no birth date, and one fine
    payload = export(
        [assignment(1001, 7), assignment(1002, 8), assignment(1003, 9), assignment(1004, 7)],
        [employee(7, ssn=None), employee(8, birth=None, ssn="222-22-3456"), employee(9, ssn="111-11-2345")],
    )
    # Then 7 and 8 are problems by id, and neither they nor their assignments are sent
    assert [(p.type, p.employee_id) for p in payload.problems] == [("missing-pin", 7), ("missing-pin", 8)]
    assert "no SSN" in payload.problems[0].message and "birth date" in payload.problems[1].message
    assert [e.employee_id for e in payload.employees] == [9]
    assert [a.assignment_id for a in payload.assignments] == [1003]
    assert json.loads(payload.to_json())["problems"][0] == {
        "type": "missing-pin",
        "employeeId": 7,
        "message": payload.problems[0].message,
    }


def test_pin_collision_reports_every_employee_and_sends_none_of_them() -> None:
    # Given 7 and 8 share a default PIN, and 10's override equals 11's default
    payload = export(
        [assignment(1001 + i, employee_id) for i, employee_id in enumerate((7, 8, 9, 10, 11))],
        [
            employee(7, date(1990, 4, 7), "111-11-2345"),
            employee(8, date(2001, 6, 7), "999-99-2345"),
            employee(9, date(1985, 12, 12), "123-45-6789"),
            employee(10, override="152468"),
            employee(11, date(1979, 3, 15), "555-55-2468"),
        ],
    )
    collisions = [p for p in payload.problems if p.type == "pin-collision"]
    assert [p.employee_ids for p in collisions] == [[7, 8], [10, 11]]
    assert [e.employee_id for e in payload.employees] == [9]
    assert [a.employee_id for a in payload.assignments] == [9]
    # And no problem spells out the PIN it is about
    problems_json = json.dumps(json.loads(payload.to_json())["problems"])
    for secret in ("72345", "2345", "152468", "2468"):
        assert secret not in problems_json
    assert json.loads(payload.to_json())["problems"][0]["employeeIds"] == [7, 8]


def test_an_employee_with_two_assignments_is_sent_once() -> None:
    payload = export([assignment(1001, 7), assignment(1002, 7, customer_id=101)], [employee(7, ssn="111-11-2345")])
    assert [e.employee_id for e in payload.employees] == [7]
    assert [(a.assignment_id, a.customer_id) for a in payload.assignments] == [(1001, 100), (1002, 101)]


def test_assignment_of_an_unknown_employee_is_a_problem() -> None:
    payload = export([assignment(1001, 7), assignment(1002, 8)], [employee(8, ssn="111-11-2345")])
    assert [(p.type, p.employee_id) for p in payload.problems] == [("missing-employee", 7)]
    assert "1001" in payload.problems[0].message
    assert [a.assignment_id for a in payload.assignments] == [1002]


def test_import_template_csv_has_client_then_employee_then_assignment_columns() -> None:
    payload = export(
        [assignment(1001, 7, end=date(2026, 12, 31)), assignment(1002, 9, customer_id=101)],
        [employee(7, date(1990, 4, 7), "111-11-2345"), employee(9, date(1985, 12, 12), "123-45-6789")],
    )
    rows = list(csv.DictReader(io.StringIO(import_template_csv(payload))))
    assert tuple(rows[0]) == IMPORT_TEMPLATE_COLUMNS
    assert IMPORT_TEMPLATE_COLUMNS[:3] == ("Client ID", "Client Name", "Timerack Client Key")
    assert rows[0] == {
        "Client ID": "100",
        "Client Name": "Acme",
        "Timerack Client Key": "ACME-1",
        "Employee ID": "7",
        "First Name": "First",
        "Last Name": "Last7",
        "PIN": "72345",
        "Assignment ID": "1001",
        "Customer ID": "100",
        "Job Title": "Operator",
        "Assignment Status": "Active",
        "Start Date": "2026-01-05",
        "End Date": "2026-12-31",
    }
    assert rows[1]["PIN"] == "126789" and rows[1]["Customer ID"] == "101" and rows[1]["End Date"] == ""


def test_employee_repr_never_shows_the_pin() -> None:
    payload = export([assignment(1001, 7)], [employee(7, date(1990, 4, 7), "111-11-2345")])
    assert "72345" not in repr(payload) and "72345" not in str(payload.employees)


employees_strategy = st.lists(
    st.builds(
        lambda day, last4, override: (day, last4, override),
        st.integers(1, 28) | st.none(),
        st.sampled_from(["2345", "6789", "0001"]) | st.none(),
        st.sampled_from(["123456", "612345", "726789"]) | st.none(),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(employees_strategy)
def test_sent_pins_are_unique_and_every_employee_is_sent_or_reported(people) -> None:
    staff = [
        Employee(
            employee_id=i + 1,
            first_name="F",
            last_name="L",
            hierarchy_node_id="n",
            birth_date=date(1990, 1, day) if day else None,
            ssn_last4=last4,
            pin_override=override,
        )
        for i, (day, last4, override) in enumerate(people)
    ]
    payload = export([assignment(1000 + e.employee_id, e.employee_id) for e in staff], staff)
    sent = [e.employee_id for e in payload.employees]
    reported = {p.employee_id for p in payload.problems if p.type != "pin-collision"} | {
        i for p in payload.problems if p.type == "pin-collision" for i in p.employee_ids
    }
    assert len({e.pin for e in payload.employees}) == len(sent)
    assert set(sent).isdisjoint(reported) and set(sent) | reported == {e.employee_id for e in staff}
    assert {a.employee_id for a in payload.assignments} == set(sent)


def test_import_template_csv_neutralises_formulas() -> None:
    import csv
    import io
    from datetime import date, datetime

    from timerack_bridge.domain.entities import Assignment, Customer, Employee
    from timerack_bridge.domain.export_payload import build_client_export, import_template_csv

    customer = Customer(customer_id=1, name="=cmd|' /C calc'!A0", hierarchy_node_id="n", timerack_client_key="K")
    employee = Employee(
        employee_id=7,
        first_name="@SUM(A1)",
        last_name="+Doe",
        birth_date=date(1990, 4, 7),
        ssn_last4="2345",
        hierarchy_node_id="n",
    )
    assignment = Assignment(
        assignment_id=9,
        employee_id=7,
        customer_id=1,
        hierarchy_node_id="n",
        status="Active",
        start_date=date(2026, 11, 1),
        job_title="-Lead",
    )
    payload = build_client_export(
        customer, [assignment], {7: employee}, today=date(2026, 11, 20), generated_at=datetime(2026, 11, 20, 12, 0)
    )
    [row] = list(csv.reader(io.StringIO(import_template_csv(payload))))[1:]
    assert "'=cmd|' /C calc'!A0" in row and "'@SUM(A1)" in row and "'+Doe" in row and "'-Lead" in row
    assert "72345" in row  # the PIN itself is digits and stays as it is
