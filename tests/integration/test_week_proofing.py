"""Proofing a week: GET /v1/weeks/{weekendBill}/timecards (JSON, paginated) and timecards.csv."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import date
from typing import Any

import pytest

from tests.conftest import WEEKEND_BILL, Agency, ApiCall, batch, timecard

ADMIN = {"principal": "agency-admin", "admin": True}
WEEK = f"/v1/weeks/{WEEKEND_BILL.isoformat()}/timecards"
CSV_HEADER = [
    "Assignment ID",
    "Employee ID",
    "Employee Name",
    "Customer",
    "Pay Code",
    "Date",
    "Hours",
    "Adjustments",
    "Payroll Status",
    "Last Batch",
]


def _unit_elsewhere(services: Any) -> None:
    """Assignment 1006 (node "other", customer Acme) written straight to the store: no rep here sees it."""
    from timerack_bridge.domain.entities import Timecard
    from timerack_bridge.logic.ports import UnitWrite

    card = Timecard(
        timecard_id="tc-1006",
        assignment_id=1006,
        employee_id=502,
        customer_id=100,
        weekend_bill=WEEKEND_BILL,
        pay_code="REG",
        days=[{"date": date(2026, 11, 17), "hours": 5.0}],
        total_hours=5.0,
        adjustments=[],
        source_batch_id="batch-elsewhere",
    )
    unit = UnitWrite(
        assignment_id=1006,
        weekend_bill=WEEKEND_BILL,
        version="v1",
        batch_id="batch-elsewhere",
        customer_id=100,
        employee_id=502,
        hierarchy_node_id="other",
        timecards=[card],
        delete_pay_codes=[],
        expected_version=None,
    )
    assert services.timecards.write_unit(unit) == "written"


@pytest.fixture
def week(api: ApiCall, agency: Agency, services: Any) -> dict[str, str]:
    """Timecards of 1001 (branch, Acme: REG and OT with a bonus), 1002 (sub, Acme Plant 2), 1005 (branch,
    Globex) and 1006 (other, Acme); the batch ids by client."""
    bonus = [{"type": "employee", "code": "BONUS", "amount": 50.0, "description": "meal"}]
    acme = api(
        "POST",
        "/v1/timecard-batches",
        batch(
            timecard(1001, 501, "REG", 8.0),
            timecard(1001, 501, "OT", 2.5, adjustments=bonus),
            timecard(1002, 502, "REG", 6.0),
        ),
    )
    assert acme.status == 200 and acme.json["counts"]["errors"] == 0, acme.text
    globex = api("POST", "/v1/timecard-batches", batch(timecard(1005, 501, "REG", 4.0), client_key="GLOBEX-1"))
    assert globex.status == 200 and globex.json["counts"]["errors"] == 0, globex.text
    _unit_elsewhere(services)
    return {"acme": acme.json["batchId"], "globex": globex.json["batchId"]}


def cards_of(reply_json: dict[str, Any]) -> set[tuple[int, str]]:
    return {(c["assignmentId"], c["payCode"]) for c in reply_json["items"]}


def test_an_admin_proofs_the_week_at_or_below_a_node(api: ApiCall, week: dict[str, str]) -> None:
    reply = api("GET", f"{WEEK}?hierarchyNodeId=branch", **ADMIN)
    assert reply.status == 200, reply.text
    body = reply.json
    # 1006 sits at "other", beside the branch: not at or below it.
    assert cards_of(body) == {(1001, "REG"), (1001, "OT"), (1002, "REG"), (1005, "REG")}
    assert body["nextToken"] is None
    ot = next(c for c in body["items"] if c["payCode"] == "OT")
    assert ot["employeeName"] == "501, E"
    assert ot["customerName"] == "Acme"
    assert ot["hierarchyNodeId"] == "branch"
    assert ot["payrollStatus"] == "open"
    assert ot["sourceBatchId"] == week["acme"]
    assert ot["adjustments"][0]["code"] == "BONUS"
    plant = next(c for c in body["items"] if c["assignmentId"] == 1002)
    assert (plant["customerName"], plant["hierarchyNodeId"]) == ("Acme Plant 2", "sub")
    totals = {t["payCode"]: t for t in body["totals"]}
    assert totals["REG"] == {"payCode": "REG", "timecards": 3, "hours": 18.0, "adjustments": 0.0}
    assert totals["OT"] == {"payCode": "OT", "timecards": 1, "hours": 2.5, "adjustments": 50.0}
    # Never an SSN or a PIN.
    assert "2345" not in reply.text and "ssn" not in reply.text.lower()

    system = api("GET", f"{WEEK}?hierarchyNodeId=system", **ADMIN).json
    assert (1006, "REG") in cards_of(system) and len(system["items"]) == 5
    sub = api("GET", f"{WEEK}?hierarchyNodeId=sub", **ADMIN).json
    assert cards_of(sub) == {(1002, "REG")}


def test_filters_by_client_and_payroll_status(api: ApiCall, week: dict[str, str]) -> None:
    acme = api("GET", f"{WEEK}?hierarchyNodeId=system&clientKey=ACME-1", **ADMIN).json
    # The client is its Primary Customer and the customers below it (Acme Plant 2).
    assert cards_of(acme) == {(1001, "REG"), (1001, "OT"), (1002, "REG"), (1006, "REG")}
    globex = api("GET", f"{WEEK}?hierarchyNodeId=branch&clientKey=GLOBEX-1", **ADMIN).json
    assert cards_of(globex) == {(1005, "REG")}

    locked = api("POST", f"/v1/weeks/{WEEKEND_BILL.isoformat()}/send-to-payroll", {"hierarchyNodeId": "sub"}, **ADMIN)
    assert locked.status == 200, locked.text
    sent = api("GET", f"{WEEK}?hierarchyNodeId=branch&payrollStatus=sent", **ADMIN).json
    assert cards_of(sent) == {(1002, "REG")}
    assert sent["items"][0]["payrollStatus"] == "sent"
    still_open = api("GET", f"{WEEK}?hierarchyNodeId=branch&payrollStatus=open", **ADMIN).json
    assert cards_of(still_open) == {(1001, "REG"), (1001, "OT"), (1005, "REG")}


def test_pages_cover_the_selection_once(api: ApiCall, week: dict[str, str]) -> None:
    seen: list[tuple[int, str]] = []
    token: str | None = None
    pages = 0
    while True:
        path = f"{WEEK}?hierarchyNodeId=system&limit=1" + (f"&nextToken={token}" if token else "")
        reply = api("GET", path, **ADMIN)
        assert reply.status == 200, reply.text
        page = reply.json
        # A page ends at the unit that reaches the limit: a unit's pay codes are never split.
        assert len({c["assignmentId"] for c in page["items"]}) <= 1
        # The totals are those of the page.
        assert sum(t["timecards"] for t in page["totals"]) == len(page["items"])
        seen.extend((c["assignmentId"], c["payCode"]) for c in page["items"])
        pages += 1
        token = page["nextToken"]
        if token is None:
            break
        assert pages < 20
    assert Counter(seen) == Counter(
        {(1001, "REG"): 1, (1001, "OT"): 1, (1002, "REG"): 1, (1005, "REG"): 1, (1006, "REG"): 1}
    )


def test_the_csv_is_the_selection_in_the_proofing_columns(api: ApiCall, week: dict[str, str]) -> None:
    reply = api("GET", f"{WEEK}.csv?hierarchyNodeId=branch", **ADMIN)
    assert reply.status == 200, reply.text
    assert reply.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in reply.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(reply.text)))
    assert rows[0] == CSV_HEADER
    body = rows[1:]
    assert [(r[0], r[4]) for r in body] == [("1001", "OT"), ("1001", "REG"), ("1002", "REG"), ("1005", "REG")]
    ot = body[0]
    assert ot[1:4] == ["501", "501, E", "Acme"]
    assert ot[5:7] == ["2026-11-16", "2.5"]
    assert ot[7] == "BONUS 50.00 meal"
    assert ot[8:] == ["open", week["acme"]]
    assert body[3][3] == "Globex"


def test_csv_cells_a_spreadsheet_would_run_are_neutralised(api: ApiCall, week: dict[str, str], services: Any) -> None:
    from timerack_bridge.domain.entities import Customer

    services.admin.put_customer(
        Customer(customer_id=200, name="=HYPERLINK(1)", hierarchy_node_id="branch", timerack_client_key="GLOBEX-1")
    )
    reply = api("GET", f"{WEEK}.csv?hierarchyNodeId=branch&clientKey=GLOBEX-1", **ADMIN)
    rows = list(csv.reader(io.StringIO(reply.text)))
    assert rows[1][3] == "'=HYPERLINK(1)"


def test_who_may_proof_a_week(api: ApiCall, week: dict[str, str]) -> None:
    for path in (f"{WEEK}?hierarchyNodeId=branch", f"{WEEK}.csv?hierarchyNodeId=branch"):
        assert api("GET", path, **ADMIN).status == 200
        # The rep (at "branch", in the Timerack group) proofs their own node.
        assert api("GET", path).status == 200
        assert api("GET", path, principal="stranger").status == 403
        assert api("GET", path, principal=None).status == 401


def test_a_rep_proofs_only_at_or_below_their_own_node(api: ApiCall, week: dict[str, str], services: Any) -> None:
    from timerack_bridge.domain.entities import Customer

    assert cards_of(api("GET", f"{WEEK}?hierarchyNodeId=sub").json) == {(1002, "REG")}
    for node in ("system", "other"):
        assert api("GET", f"{WEEK}?hierarchyNodeId={node}").status == 403
        assert api("GET", f"{WEEK}.csv?hierarchyNodeId={node}").status == 403
    # A client the rep cannot see is answered as one that does not exist; an admin sees it.
    services.admin.put_customer(
        Customer(customer_id=300, name="Initech", hierarchy_node_id="other", timerack_client_key="INITECH-1")
    )
    hidden = api("GET", f"{WEEK}?hierarchyNodeId=branch&clientKey=INITECH-1")
    absent = api("GET", f"{WEEK}?hierarchyNodeId=branch&clientKey=NOPE-1")
    assert hidden.status == absent.status == 404
    assert hidden.json["message"].replace("INITECH", "NOPE") == absent.json["message"]
    assert api("GET", f"{WEEK}?hierarchyNodeId=branch&clientKey=INITECH-1", **ADMIN).json["items"] == []


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("", 422),  # the node is required
        ("hierarchyNodeId=nowhere", 422),
        ("hierarchyNodeId=branch&clientKey=NOPE-1", 404),
        ("hierarchyNodeId=branch&payrollStatus=paid", 422),
        ("hierarchyNodeId=branch&limit=0", 422),
        ("hierarchyNodeId=branch&nextToken=bm90LWEtdG9rZW4", 422),
        ("hierarchyNodeId=branch&nextToken=eyJzaGFyZCI6IDk5LCAiYWZ0ZXIiOiBudWxsfQ==", 422),
    ],
)
def test_what_proofing_refuses(api: ApiCall, week: dict[str, str], query: str, status: int) -> None:
    reply = api("GET", f"{WEEK}?{query}", **ADMIN)
    assert reply.status == status, reply.text


def test_a_day_that_ends_no_week_is_refused_unless_timecards_were_stored_for_it(api: ApiCall, agency: Agency) -> None:
    reply = api("GET", "/v1/weeks/2026-11-18/timecards?hierarchyNodeId=branch", **ADMIN)
    assert reply.status == 422, reply.text
    empty = api("GET", "/v1/weeks/2026-11-29/timecards?hierarchyNodeId=branch", **ADMIN)
    assert empty.status == 200 and empty.json["items"] == [] and empty.json["totals"] == []


class CountingClient:
    """A DynamoDB client that records each call's operation and what it asked for."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr) or name.startswith("_"):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, kwargs))
            return attr(*args, **kwargs)

        return call


def test_proofing_queries_the_week_and_reads_only_what_it_returns(
    api_for: Any, services: Any, week: dict[str, str]
) -> None:
    from timerack_bridge.api import deps

    counting = CountingClient(services.dynamodb)
    api = api_for(deps.Services(settings=services.settings, dynamodb=counting))
    reply = api("GET", f"{WEEK}?hierarchyNodeId=sub", **ADMIN)
    assert reply.status == 200 and cards_of(reply.json) == {(1002, "REG")}
    operations = Counter(name for name, _ in counting.calls)
    assert "scan" not in operations
    week_queries = [kw for name, kw in counting.calls if name == "query" and kw.get("IndexName") == "gsi1"]
    assert week_queries and all(
        kw["ExpressionAttributeValues"][":pk"]["S"].startswith("WEEKUNITS#2026-11-22#") for kw in week_queries
    )
    # The current timecards read are those returned: one key, 1002's REG, in bulk with the names.
    timecard_keys = [
        k
        for name, kw in counting.calls
        if name == "batch_get_item"
        for k in kw["RequestItems"]["main"]["Keys"]
        if k["sk"]["S"].startswith("TC#")
    ]
    assert [k["pk"]["S"] for k in timecard_keys] == ["ASSIGNMENT#1002"]
    assert operations["get_item"] == 0 or all(
        not kw["Key"]["pk"]["S"].startswith(("EMPLOYEE#", "CUSTOMER#"))
        for name, kw in counting.calls
        if name == "get_item"
    )
