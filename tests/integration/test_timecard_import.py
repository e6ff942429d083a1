"""Manual Timecard Import, Feed Type "Timerack Feed" (docs/contract.md)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import EVENTS, Agency, ApiCall

HEADER = (
    "Assignment ID,Employee ID,Pay Code,Date,Hours,Punch In,Punch Out,"
    "Adjustment Code,Adjustment Amount,Adjustment Description\n"
)


@pytest.fixture
def manual_client(agency: Agency, services: Any) -> Agency:
    from datetime import date

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
    # The sample feed's assignments (events/timerack-feed.csv)
    services.admin.put_assignment(
        Assignment(
            assignment_id=3001,
            employee_id=504,
            customer_id=100,
            hierarchy_node_id="branch",
            status="Active",
            start_date=date(2026, 1, 5),
        )
    )
    services.admin.put_assignment(
        Assignment(
            assignment_id=3002,
            employee_id=505,
            customer_id=101,
            hierarchy_node_id="sub",
            status="Active",
            start_date=date(2026, 1, 5),
        )
    )
    return agency


def feed(
    api: ApiCall, content: str, *, dry_run: bool = False, customer: int = 100, weekend_bill: str = "2026-11-22"
) -> Any:
    body = {
        "feedType": "Timerack Feed",
        "parentCustomerId": customer,
        "weekendBill": weekend_bill,
        "fileName": "timerack.csv",
        "content": content,
    }
    return api("POST", "/v1/timecard-imports" + ("?dryRun=true" if dry_run else ""), body)


def cards(api: ApiCall, assignment_id: int) -> list[dict[str, Any]]:
    return api("GET", f"/v1/timecards?assignmentId={assignment_id}&weekendBill=2026-11-22").json["items"]


def test_sample_feed_imports_and_hours_add_up(api: ApiCall, manual_client: Agency) -> None:
    reply = feed(api, (EVENTS / "timerack-feed.csv").read_text())
    assert reply.status == 200, reply.text
    out = reply.json
    assert out["imported"] is True and out["rowErrors"] == [] and out["rows"] == 6
    assert out["batch"]["source"] == "manual-import"
    assert out["batch"]["counts"] == {"assignments": 2, "created": 2, "replaced": 0, "errors": 0}
    by_code = {c["payCode"]: c for c in cards(api, 3001)}
    assert by_code["REG"]["totalHours"] == 16.0  # 8 hours + two punch pairs of 4 hours
    assert by_code["OT"]["totalHours"] == 3.5  # 2200 to 0130 crosses midnight
    assert by_code["REG"]["adjustments"] == [
        {"type": "employee", "code": "BONUS", "amount": 25.0, "description": "Perfect attendance"}
    ]
    assert cards(api, 3002)[0]["totalHours"] == 7.5
    history = api("GET", "/v1/payroll-history?clientKey=ACME-1").json["items"]
    assert [h["source"] for h in history] == ["manual-import"]


def test_every_kind_of_unreadable_row_is_reported_and_nothing_written(api: ApiCall, manual_client: Agency) -> None:
    content = (
        HEADER
        + "\n".join(
            [
                "1001,501,REG,2026-11-16,8,,,,,",  # row 2: fine
                ",501,REG,2026-11-16,8,,,,,",  # row 3: missing Assignment ID
                "1001,501,REG,2026-13-45,8,,,,,",  # row 4: bad date
                "1001,501,REG,2026-11-17,eight,,,,,",  # row 5: bad number
                "1001,501,REG,2026-11-18,,8am,1600,,,",  # row 6: punch not HHMM
                "1001,501,REG,2026-11-19,8,0800,1600,,,",  # row 7: hours and punches on one row
                "1001,501,,,,,,BONUS,lots,",  # row 8: bad adjustment amount
            ]
        )
        + "\n"
    )
    reply = feed(api, content)
    assert reply.status == 422
    errors = {e["row"]: e["message"] for e in reply.json["rowErrors"]}
    assert sorted(errors) == [3, 4, 5, 6, 7, 8]
    assert "Assignment ID is missing" in errors[3]
    assert "is not a date" in errors[4]
    assert "is not a plain decimal number" in errors[5]
    assert "military time" in errors[6]
    assert "both Hours and a punch" in errors[7]
    assert "Adjustment Amount" in errors[8]
    assert reply.json["imported"] is False
    assert cards(api, 1001) == []
    assert api("GET", "/v1/payroll-history?clientKey=ACME-1").json["items"] == []


def test_missing_column_is_reported_on_the_header_row(api: ApiCall, manual_client: Agency) -> None:
    reply = feed(api, "Assignment ID,Employee ID,Pay Code,Date,Hours\n1001,501,REG,2026-11-16,8\n")
    assert reply.status == 422
    assert reply.json["rowErrors"][0]["row"] == 1 and "Punch In" in reply.json["rowErrors"][0]["message"]


def test_dry_run_reports_and_writes_nothing(api: ApiCall, manual_client: Agency) -> None:
    content = HEADER + "1001,501,REG,2026-11-16,8,,,,,\n1002,502,REG,bad,8,,,,,\n"
    reply = feed(api, content, dry_run=True)
    # The same answer as the real import would give: 422, the failing rows, nothing written
    assert reply.status == 422
    assert [e["row"] for e in reply.json["rowErrors"]] == [3]
    assert reply.json["batch"] is None and reply.json["imported"] is False
    assert cards(api, 1001) == []
    good = feed(api, HEADER + "1001,501,REG,2026-11-16,8,,,,,\n", dry_run=True)
    assert good.status == 200 and good.json["batch"]["results"][0]["status"] == "created"
    assert good.json["imported"] is False and cards(api, 1001) == []


def test_connect_clients_are_refused(api: ApiCall, agency: Agency) -> None:
    reply = feed(api, (EVENTS / "timerack-feed.csv").read_text())
    assert reply.status == 409 and "Connect to TempWorks" in reply.json["message"]


def test_weekend_bill_must_be_an_open_week(api: ApiCall, manual_client: Agency) -> None:
    reply = feed(api, HEADER + "1001,501,REG,2026-11-24,8,,,,,\n", weekend_bill="2026-11-29")
    # Refused before the file is read, naming the weeks that are open at the customer's node
    assert reply.status == 409
    assert reply.json["message"].startswith("There are currently no open weeks visible for the week ending 2026-11-29")


def test_other_customers_assignments_are_not_found(api: ApiCall, manual_client: Agency) -> None:
    reply = feed(api, HEADER + "1005,501,REG,2026-11-16,8,,,,,\n")
    assert reply.status == 422 and reply.json["imported"] is False
    assert reply.json["rowErrors"] == [
        {"row": 2, "message": "The Assignment with an Id of 1005 could not be found or is not currently visible."}
    ]


def test_reimport_replaces_rather_than_duplicates(api: ApiCall, manual_client: Agency) -> None:
    content = (EVENTS / "timerack-feed.csv").read_text()
    assert feed(api, content).status == 200
    again = feed(api, content).json
    assert again["batch"]["counts"]["replaced"] == 2
    assert sorted(c["payCode"] for c in cards(api, 3001)) == ["OT", "REG"]


def test_a_file_of_5000_rows_goes_through(api: ApiCall, manual_client: Agency, services: Any) -> None:
    from datetime import date

    from timerack_bridge.domain.entities import Assignment

    for n in range(1, 715):
        services.admin.put_assignment(
            Assignment(
                assignment_id=10_000 + n,
                employee_id=501,
                customer_id=100,
                hierarchy_node_id="branch",
                status="Active",
                start_date=date(2026, 1, 1),
            )
        )
    lines = [f"{10_000 + n},501,REG,2026-11-{16 + d:02d},8,,,,," for n in range(1, 715) for d in range(7)][:4998]
    lines += ["10001,501,,,,,,BONUS,10,", "10002,501,,,,,,BONUS,10,"]
    reply = feed(api, HEADER + "\n".join(lines) + "\n")
    assert reply.status == 200, reply.text[:500]
    assert reply.json["rows"] == 5000 and reply.json["batch"]["counts"]["errors"] == 0
    assert reply.json["batch"]["counts"]["created"] == 714
