"""Weeks (issue 13, point 6): the nearest node's week decides each date, weekend bills fall on the
agency's week-ending day, and an import for a week that is not open says which weeks are."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from tests.conftest import Agency, ApiCall, batch, timecard

ADMIN = {"principal": "agency-admin", "admin": True}
WEDNESDAY = "2026-11-25"
HEADER = (
    "Assignment ID,Employee ID,Pay Code,Date,Hours,Punch In,Punch Out,"
    "Adjustment Code,Adjustment Amount,Adjustment Description\n"
)


@pytest.fixture
def manual_client(agency: Agency, services: Any) -> Agency:
    from timerack_bridge.domain.entities import Customer

    services.admin.put_customer(
        Customer(
            customer_id=100,
            name="Acme",
            hierarchy_node_id="branch",
            timerack_client_key="ACME-1",
            timerack_mode="manual-import",
        )
    )
    return agency


def import_feed(api: ApiCall, weekend_bill: str, *, dry_run: bool = False) -> Any:
    body = {
        "feedType": "Timerack Feed",
        "parentCustomerId": 100,
        "weekendBill": weekend_bill,
        "fileName": "timerack.csv",
        "content": HEADER + "1001,501,REG,2026-11-24,8,,,,,\n",
    }
    return api("POST", "/v1/timecard-imports" + ("?dryRun=true" if dry_run else ""), body)


def test_a_closed_week_on_the_assignments_node_beats_an_open_week_above_it(
    api: ApiCall, agency: Agency, services: Any
) -> None:
    from timerack_bridge.domain.entities import Week

    # Given the branch's week of Nov 22 is open, but the sub-branch closed it
    services.admin.put_week(Week(weekend_bill=agency.weekend_bill, hierarchy_node_id="sub", status="closed"))
    # When the sub-branch's assignment is sent for that week
    reply = api("POST", "/v1/timecard-batches", batch(timecard(1002, 502), timecard(1001, 501)))
    results = {r["assignmentId"]: r for r in reply.json["results"]}
    # Then it has no open week (the article's text), while the branch's assignment still goes in
    assert results[1002]["error"] == "There are currently no open weeks visible."
    assert results[1001]["status"] == "created"
    assert api("GET", "/v1/timecards?assignmentId=1002&weekendBill=2026-11-22").json["items"] == []


def test_the_nearest_nodes_week_decides_each_date_and_the_rest_still_counts(
    api: ApiCall, agency: Agency, services: Any
) -> None:
    from timerack_bridge.domain.entities import Week

    # Given the sub-branch closed Nov 22 but the branch also has Nov 29 open
    services.admin.put_week(Week(weekend_bill=agency.weekend_bill, hierarchy_node_id="sub", status="closed"))
    services.admin.put_week(Week(weekend_bill=date(2026, 11, 29), hierarchy_node_id="branch", status="open"))
    # Then the sub-branch's assignment goes to Nov 29 (its only open week), even for a Nov 22 pay period
    reply = api("POST", "/v1/timecard-batches", batch(timecard(1002, 502, day=date(2026, 11, 24))))
    assert reply.json["results"][0]["status"] == "created"
    assert reply.json["results"][0]["weekendBill"] == "2026-11-29"


def test_a_week_on_another_weekday_is_422_everywhere(api: ApiCall, manual_client: Agency, services: Any) -> None:
    expected = "2026-11-25 is a Wednesday; this agency's weeks end on a Sunday"
    put = api("PUT", f"/v1/weeks/{WEDNESDAY}", {"hierarchyNodeId": "branch", "status": "open"}, **ADMIN)
    assert put.status == 422 and expected in put.json["message"]
    assert services.admin.weeks_of_node("branch") == {date(2026, 11, 22): "open"}  # the Wednesday was not stored
    send = api("POST", f"/v1/weeks/{WEDNESDAY}/send-to-payroll", {"hierarchyNodeId": "branch"}, **ADMIN)
    assert send.status == 422 and expected in send.json["message"]
    read = api("GET", f"/v1/timecards?assignmentId=1001&weekendBill={WEDNESDAY}")
    assert read.status == 422 and expected in read.json["message"]
    imported = import_feed(api, WEDNESDAY)
    assert imported.status == 422 and expected in imported.json["message"]


def test_the_week_ending_day_is_the_agencys_setting(api: ApiCall, agency: Agency, services: Any) -> None:
    # Given an agency whose weeks end on Saturday
    services.settings = services.settings.model_copy(update={"week_ending_day": "Saturday"})
    body = {"hierarchyNodeId": "branch", "status": "open"}
    assert api("PUT", "/v1/weeks/2026-11-28", body, **ADMIN).status == 200
    sunday = api("PUT", "/v1/weeks/2026-11-29", body, **ADMIN)
    assert sunday.status == 422 and "end on a Saturday" in sunday.json["message"]


def test_a_week_stored_before_on_another_weekday_can_still_be_used_and_closed(
    api: ApiCall, agency: Agency, services: Any
) -> None:
    from timerack_bridge.domain.entities import Week

    # Given a Wednesday week opened before the check existed (and the Sunday week closed)
    services.admin.put_week(Week(weekend_bill=date(2026, 11, 25), hierarchy_node_id="branch", status="open"))
    services.admin.put_week(Week(weekend_bill=agency.weekend_bill, hierarchy_node_id="branch", status="closed"))
    # Then timecards still go to it and can be read and locked
    tuesday = date(2026, 11, 24)
    sent = api("POST", "/v1/timecard-batches", batch(timecard(1001, 501, day=tuesday), end=date(2026, 11, 25)))
    assert sent.json["results"][0]["weekendBill"] == WEDNESDAY
    assert len(api("GET", f"/v1/timecards?assignmentId=1001&weekendBill={WEDNESDAY}").json["items"]) == 1
    locked = api("POST", f"/v1/weeks/{WEDNESDAY}/send-to-payroll", {"hierarchyNodeId": "branch"}, **ADMIN)
    assert locked.status == 200 and locked.json["lockedUnits"] == 1
    # And the admin can still close it
    closed = api("PUT", f"/v1/weeks/{WEDNESDAY}", {"hierarchyNodeId": "branch", "status": "closed"}, **ADMIN)
    assert closed.status == 200


@pytest.mark.parametrize("dry_run", [False, True])
def test_an_import_for_a_week_that_is_not_open_says_which_weeks_are(
    api: ApiCall, manual_client: Agency, services: Any, dry_run: bool
) -> None:
    # Given only Nov 22 is open at Acme's node (branch)
    reply = import_feed(api, "2026-11-29", dry_run=dry_run)
    # Then the import is refused before the file is read, naming the open weeks
    assert reply.status == 409
    assert reply.json["message"] == (
        "There are currently no open weeks visible for the week ending 2026-11-29 at hierarchy node branch; "
        "open weeks: 2026-11-22."
    )
    assert services.timecards.timecards(1001, date(2026, 11, 29)) == []


def test_an_import_when_no_week_is_open_says_so(api: ApiCall, manual_client: Agency, services: Any) -> None:
    from timerack_bridge.domain.entities import Week

    services.admin.put_week(Week(weekend_bill=date(2026, 11, 22), hierarchy_node_id="branch", status="closed"))
    reply = import_feed(api, "2026-11-22")
    assert reply.status == 409
    assert reply.json["message"].endswith("at hierarchy node branch; open weeks: none.")
