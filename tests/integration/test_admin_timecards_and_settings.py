"""TempWorks admins read a unit's timecards and a client's payroll-email settings, as reps of the client do."""

from __future__ import annotations

from typing import Any

from tests.conftest import WEEKEND_BILL, batch, timecard

ADMIN = {"admin": True, "principal": "admin-app"}  # an admin token with no service rep behind it


def test_an_admin_reads_the_timecards_of_any_assignment(api: Any, agency: Any) -> None:
    # Given 1001 sent by the portal's rep
    assert api("POST", "/v1/timecard-batches", batch(timecard(1001, 501))).status == 200
    path = f"/v1/timecards?assignmentId=1001&weekendBill={WEEKEND_BILL.isoformat()}"
    # When an admin (no service rep) asks for it
    reply = api("GET", path, **ADMIN)
    # Then the admin sees it, as the rep does
    assert reply.status == 200, reply.text
    assert [c["totalHours"] for c in reply.json["items"]] == [8.0]
    # And an assignment of another branch is the admin's to see too, while the rep gets 404
    other = f"/v1/timecards?assignmentId=1006&weekendBill={WEEKEND_BILL.isoformat()}"
    assert api("GET", other, **ADMIN).status == 200
    assert api("GET", other).status == 404
    # And the callers that may not: a stranger 403, no token 401
    assert api("GET", path, principal="stranger").status == 403
    assert api("GET", path, principal=None).status == 401


def test_an_admin_reads_and_sets_a_clients_payroll_email(api: Any, agency: Any) -> None:
    path = "/v1/clients/ACME-1/payroll-email"
    settings = {"recipients": ["payroll@acme.example"], "receiveErrorFile": True}
    # When an admin sets the client's settings
    put = api("PUT", path, settings, **ADMIN)
    assert put.status == 200, put.text
    # Then the admin and the client's rep read them back
    assert api("GET", path, **ADMIN).json["recipients"] == ["payroll@acme.example"]
    assert api("GET", path).json["receiveErrorFile"] is True
    # And an unknown key is 404 for the admin too; a stranger is 403
    assert api("GET", "/v1/clients/NOPE-1/payroll-email", **ADMIN).status == 404
    assert api("GET", path, principal="stranger").status == 403
