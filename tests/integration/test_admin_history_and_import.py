"""Issue 15, points 3 and 5: TempWorks admins read every client's Payroll History and run the manual import.

An admin (scope timerack/admin) needs no service rep: Payroll History of every client, filtered by client key
(or, without one, every client's batches newest first) and by a submitted-at range; and the manual Timecard
Import with the same checks and answers as a rep's (whole or nothing, 422/409/200, dry run).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Agency, ApiCall
from timerack_bridge.domain.batch import BatchCounts, BatchResult
from timerack_bridge.domain.entities import Assignment, Customer, HierarchyNode, Week

ADMIN = "agency-admin"  # a TempWorks admin: not a service rep
HEADER = (
    "Assignment ID,Employee ID,Pay Code,Date,Hours,Punch In,Punch Out,"
    "Adjustment Code,Adjustment Amount,Adjustment Description\n"
)
GOOD_ROW = "3001,504,REG,2026-11-16,8,,,,,\n"


def as_admin(api: ApiCall, method: str, path: str, body: Any = None) -> Any:
    return api(method, path, body, principal=ADMIN, admin=True)


def keep_batch(services: Any, batch_id: str, customer_id: int, client_key: str, at: datetime) -> None:
    """A completed batch submitted at a known time, as the pipeline keeps it."""
    counts = BatchCounts(assignments=0, created=0, replaced=0, errors=0)
    batch = BatchResult(
        batch_id=batch_id, client_key=client_key, customer_id=customer_id, submitted_at=at, counts=counts, results=[]
    )
    services.batches.put_batch(batch)


@pytest.fixture
def histories(services: Any, agency: Agency) -> Agency:
    """Batches of three clients: ACME-1 and GLOBEX-1 (rep-1 sees them) and FAR-1 at the "other" branch."""
    services.admin.put_customer(
        Customer(customer_id=300, name="Far away", hierarchy_node_id="other", timerack_client_key="FAR-1")
    )
    for batch_id, customer_id, key, day, hour in (
        ("b-acme-1", 100, "ACME-1", 16, 9),
        ("b-globex-1", 200, "GLOBEX-1", 17, 10),
        ("b-far-1", 300, "FAR-1", 18, 11),
        ("b-acme-2", 100, "ACME-1", 19, 12),
        ("b-far-2", 300, "FAR-1", 20, 23),
    ):
        keep_batch(services, batch_id, customer_id, key, datetime(2026, 11, day, hour, tzinfo=UTC))
    return agency


def ids(reply: Any) -> list[str]:
    assert reply.status == 200, reply.text
    return [b["batchId"] for b in reply.json["items"]]


# ---------------------------------------------------------------- Payroll History: who may read


def test_an_admin_reads_any_clients_history_its_batches_and_reports(api: ApiCall, histories: Agency) -> None:
    # An admin is no service rep, yet reads a client rep-1 cannot see
    assert ids(as_admin(api, "GET", "/v1/payroll-history?clientKey=FAR-1")) == ["b-far-2", "b-far-1"]
    assert ids(as_admin(api, "GET", "/v1/payroll-history?clientKey=ACME-1")) == ["b-acme-2", "b-acme-1"]
    one = as_admin(api, "GET", "/v1/payroll-history/b-far-1")
    assert one.status == 200 and one.json["clientKey"] == "FAR-1" and one.json["customerId"] == 300
    report = as_admin(api, "GET", "/v1/payroll-history/b-far-1/report.csv")
    assert report.status == 200 and report.headers["Content-Type"].startswith("text/csv")
    # While the rep keeps today's answers: their clients only, 404 for the others
    assert ids(api("GET", "/v1/payroll-history?clientKey=ACME-1")) == ["b-acme-2", "b-acme-1"]
    assert api("GET", "/v1/payroll-history?clientKey=FAR-1").status == 404
    assert api("GET", "/v1/payroll-history/b-far-1").status == 404
    assert api("GET", "/v1/payroll-history/b-far-1/report.csv").status == 404


def test_an_admin_without_a_client_key_reads_every_clients_batches_newest_first(
    api: ApiCall, histories: Agency
) -> None:
    every = ["b-far-2", "b-acme-2", "b-far-1", "b-globex-1", "b-acme-1"]
    assert ids(as_admin(api, "GET", "/v1/payroll-history")) == every
    # Page by page with nextToken
    seen: list[str] = []
    token = None
    while True:
        path = "/v1/payroll-history?limit=2" + (f"&nextToken={token}" if token else "")
        reply = as_admin(api, "GET", path)
        seen += ids(reply)
        token = reply.json.get("nextToken")
        if not token:
            break
    assert seen == every


def test_who_may_read_payroll_history(api: ApiCall, histories: Agency) -> None:
    # A rep must name a client (only an admin lists across clients)
    reply = api("GET", "/v1/payroll-history")
    assert reply.status == 422 and "clientKey" in reply.json["message"]
    # A caller who is neither an admin nor a rep: 403; no token: 401
    for path in ("/v1/payroll-history?clientKey=ACME-1", "/v1/payroll-history", "/v1/payroll-history/b-acme-1"):
        assert api("GET", path, principal="outsider").status == 403
        assert api("GET", path, principal=None).status == 401
    # An admin asking for a key no customer has, or a batch that does not exist: 404
    assert as_admin(api, "GET", "/v1/payroll-history?clientKey=NOPE-1").status == 404
    assert as_admin(api, "GET", "/v1/payroll-history/b-nope").status == 404
    assert as_admin(api, "GET", "/v1/payroll-history/b-nope/report.csv").status == 404


def test_an_admin_reads_a_customers_legacy_batches_by_its_client_key(
    api: ApiCall, services: Any, histories: Agency
) -> None:
    # A batch kept under the key string before batches carried their customer
    legacy = BatchResult(
        batch_id="b-old",
        client_key="ACME-1",
        submitted_at=datetime(2026, 1, 5, tzinfo=UTC),
        counts=BatchCounts(assignments=0, created=0, replaced=0, errors=0),
        results=[],
    )
    services.batches.put_batch(legacy)
    # Then the admin reads it with the customer's own batches, and opens it
    assert ids(as_admin(api, "GET", "/v1/payroll-history?clientKey=ACME-1")) == ["b-acme-2", "b-acme-1", "b-old"]
    assert as_admin(api, "GET", "/v1/payroll-history/b-old").json["clientKey"] == "ACME-1"


# ---------------------------------------------------------------- Payroll History: submitted-at range


def test_a_submitted_at_range_filters_an_admins_listing(api: ApiCall, histories: Agency) -> None:
    # Dates: both ends whole days (the last day included)
    assert ids(as_admin(api, "GET", "/v1/payroll-history?submittedFrom=2026-11-17&submittedTo=2026-11-19")) == [
        "b-acme-2",
        "b-far-1",
        "b-globex-1",
    ]
    # Date-times, inclusive, with an offset read as the instant it names
    path = "/v1/payroll-history?submittedFrom=2026-11-18T11:00:00Z&submittedTo=2026-11-20T18:00:00-05:00"
    assert ids(as_admin(api, "GET", path)) == ["b-far-2", "b-acme-2", "b-far-1"]
    # Only one end
    assert ids(as_admin(api, "GET", "/v1/payroll-history?submittedFrom=2026-11-19")) == ["b-far-2", "b-acme-2"]
    assert ids(as_admin(api, "GET", "/v1/payroll-history?submittedTo=2026-11-16")) == ["b-acme-1"]
    # With a client key, and paginated
    path = "/v1/payroll-history?clientKey=FAR-1&submittedFrom=2026-11-18&submittedTo=2026-11-20&limit=1"
    first = as_admin(api, "GET", path)
    assert ids(first) == ["b-far-2"]
    second = as_admin(api, "GET", path + f"&nextToken={first.json['nextToken']}")
    assert ids(second) == ["b-far-1"]
    # (then the customer's legacy partition, under FAR-1, which holds nothing in the range)
    third = as_admin(api, "GET", path + f"&nextToken={second.json['nextToken']}")
    assert ids(third) == [] and not third.json.get("nextToken")


def test_a_rep_filters_their_clients_history_by_submitted_at(api: ApiCall, histories: Agency) -> None:
    assert ids(api("GET", "/v1/payroll-history?clientKey=ACME-1&submittedFrom=2026-11-17")) == ["b-acme-2"]
    assert ids(api("GET", "/v1/payroll-history?clientKey=ACME-1&submittedTo=2026-11-18T00:00:00Z")) == ["b-acme-1"]
    assert ids(api("GET", "/v1/payroll-history?clientKey=ACME-1&submittedFrom=2026-12-01")) == []
    # The range does not open a client the rep cannot see
    assert api("GET", "/v1/payroll-history?clientKey=FAR-1&submittedFrom=2026-11-01").status == 404


@pytest.mark.parametrize(
    "query",
    [
        "submittedFrom=2026-11-20&submittedTo=2026-11-19",
        "submittedFrom=2026-13-01",
        "submittedTo=yesterday",
        "submittedFrom=1700000000",
        "submittedFrom=2026-11-20T25:00:00Z",
    ],
)
def test_a_bad_submitted_at_range_is_422(api: ApiCall, histories: Agency, query: str) -> None:
    reply = as_admin(api, "GET", f"/v1/payroll-history?{query}")
    assert reply.status == 422, reply.text
    assert "submitted" in reply.json["message"]


def test_a_next_token_serves_only_the_listing_and_range_it_came_from(api: ApiCall, histories: Agency) -> None:
    first = as_admin(api, "GET", "/v1/payroll-history?limit=1")
    token = first.json["nextToken"]
    # Outside the range asked now: refused, not a 5xx
    reply = as_admin(api, "GET", f"/v1/payroll-history?limit=1&submittedTo=2026-11-17&nextToken={token}")
    assert reply.status == 422, reply.text
    # A client's token in the listing of every client, and the reverse: refused
    client_token = as_admin(api, "GET", "/v1/payroll-history?clientKey=ACME-1&limit=1").json["nextToken"]
    assert as_admin(api, "GET", f"/v1/payroll-history?nextToken={client_token}").status == 422
    assert as_admin(api, "GET", f"/v1/payroll-history?clientKey=ACME-1&nextToken={token}").status == 422
    assert as_admin(api, "GET", "/v1/payroll-history?nextToken=bm9wZQ==").status == 422


# ---------------------------------------------------------------- the manual import, run by an admin


@pytest.fixture
def manual_clients(services: Any, agency: Agency) -> Agency:
    """INITECH (manual import) at the branch, FARCO (manual import) at the "other" branch rep-1 cannot see."""
    admin = services.admin
    admin.put_customer(
        Customer(
            customer_id=100,
            name="Acme",
            hierarchy_node_id="branch",
            timerack_client_key="ACME-1",
            timerack_mode="manual-import",
        )
    )
    admin.put_customer(
        Customer(
            customer_id=300,
            name="Farco",
            hierarchy_node_id="other",
            timerack_client_key="FAR-1",
            timerack_mode="manual-import",
        )
    )
    admin.put_customer(
        Customer(
            customer_id=400,
            name="Head office client",
            hierarchy_node_id="system",
            timerack_client_key="HQ-1",
            timerack_mode="manual-import",
        )
    )
    for assignment_id, employee_id, customer_id, node, status in (
        (3001, 504, 100, "branch", "Active"),
        (3002, 504, 100, "branch", "Cancelled"),
        (3301, 501, 300, "other", "Active"),
        (3401, 502, 400, "system", "Active"),
    ):
        admin.put_assignment(
            Assignment(
                assignment_id=assignment_id,
                employee_id=employee_id,
                customer_id=customer_id,
                hierarchy_node_id=node,
                status=status,
                start_date=date(2026, 1, 5),
            )
        )
    admin.put_week(Week(weekend_bill=agency.weekend_bill, hierarchy_node_id="other", status="open"))
    admin.put_week(Week(weekend_bill=agency.weekend_bill, hierarchy_node_id="system", status="open"))
    return agency


def admin_import(api: ApiCall, content: str, *, customer: int = 100, dry_run: bool = False, **who: Any) -> Any:
    body = {
        "feedType": "Timerack Feed",
        "parentCustomerId": customer,
        "weekendBill": "2026-11-22",
        "fileName": "timerack.csv",
        "content": content,
    }
    caller = who or {"principal": ADMIN, "admin": True}
    return api("POST", "/v1/timecard-imports" + ("?dryRun=true" if dry_run else ""), body, **caller)


def stored(api: ApiCall, assignment_id: int) -> list[dict[str, Any]]:
    reply = api("GET", f"/v1/timecards?assignmentId={assignment_id}&weekendBill=2026-11-22", admin=True)
    assert reply.status == 200, reply.text
    items: list[dict[str, Any]] = reply.json["items"]
    return items


def test_an_admin_imports_a_file_whole_and_it_shows_in_payroll_history(api: ApiCall, manual_clients: Agency) -> None:
    # A dry run first: the same answer, nothing written
    checked = admin_import(api, HEADER + GOOD_ROW, dry_run=True)
    assert checked.status == 200, checked.text
    assert checked.json["imported"] is False and checked.json["batch"]["status"] == "dry-run"
    assert stored(api, 3001) == []
    # Then the import
    reply = admin_import(api, HEADER + GOOD_ROW)
    assert reply.status == 200, reply.text
    assert reply.json["imported"] is True and reply.json["rowErrors"] == []
    assert reply.json["batch"]["source"] == "manual-import"
    assert [c["payCode"] for c in stored(api, 3001)] == ["REG"]
    # The batch is the client's Payroll History, for the admin and the client's rep alike
    batch_id = reply.json["batch"]["batchId"]
    assert ids(as_admin(api, "GET", "/v1/payroll-history?clientKey=ACME-1")) == [batch_id]
    assert ids(api("GET", "/v1/payroll-history?clientKey=ACME-1")) == [batch_id]


def test_an_admin_imports_for_a_client_no_rep_of_theirs_sees(api: ApiCall, manual_clients: Agency) -> None:
    reply = admin_import(api, HEADER + "3301,501,REG,2026-11-16,8,,,,,\n", customer=300)
    assert reply.status == 200, reply.text
    assert reply.json["imported"] is True
    # The rep of the branch still cannot import there: 404 as today
    assert admin_import(api, HEADER + "3301,501,REG,2026-11-16,8,,,,,\n", customer=300, admin=False).status == 404


def test_an_admins_import_keeps_the_articles_checks(api: ApiCall, manual_clients: Agency) -> None:
    # Status: a cancelled assignment fails its row, and nothing of the file is written
    reply = admin_import(api, HEADER + GOOD_ROW + "3002,504,REG,2026-11-17,8,,,,,\n")
    assert reply.status == 422, reply.text
    assert [e["row"] for e in reply.json["rowErrors"]] == [3] and reply.json["imported"] is False
    assert stored(api, 3001) == []
    # Hierarchy level: the customer's node (System) does not allow master data
    reply = admin_import(api, HEADER + "3401,502,REG,2026-11-16,8,,,,,\n", customer=400)
    assert reply.status == 422, reply.text
    assert "hierarchy level" in reply.json["rowErrors"][0]["message"]
    # Visibility: an assignment of another customer is not found for this customer's file
    reply = admin_import(api, HEADER + "3301,501,REG,2026-11-16,8,,,,,\n")
    assert reply.status == 422 and "3301" in reply.json["rowErrors"][0]["message"]
    # A day outside the week fails its row
    reply = admin_import(api, HEADER + GOOD_ROW.replace("2026-11-16", "2026-11-23"))
    assert reply.status == 422 and reply.json["rowErrors"][0]["row"] == 2
    # A customer that does not exist: 404
    assert admin_import(api, HEADER + GOOD_ROW, customer=999).status == 404


def test_an_admins_import_of_a_week_not_open_is_409(api: ApiCall, manual_clients: Agency) -> None:
    body = {
        "feedType": "Timerack Feed",
        "parentCustomerId": 100,
        "weekendBill": "2026-11-29",
        "fileName": "timerack.csv",
        "content": HEADER + GOOD_ROW,
    }
    reply = api("POST", "/v1/timecard-imports", body, principal=ADMIN, admin=True)
    assert reply.status == 409, reply.text


def test_who_may_run_the_import(api: ApiCall, manual_clients: Agency) -> None:
    assert admin_import(api, HEADER + GOOD_ROW, principal="outsider").status == 403
    assert admin_import(api, HEADER + GOOD_ROW, principal=None).status == 401
    assert stored(api, 3001) == []


def test_an_admin_sees_a_customer_under_another_root(services: Any, api: ApiCall, agency: Agency) -> None:
    """A customer under a second root node: the admin sees it, and the week rule still holds there."""
    services.admin.put_node(HierarchyNode(node_id="lonely", name="Lonely", allows_master_data=True))
    services.admin.put_customer(
        Customer(
            customer_id=500,
            name="Lonely",
            hierarchy_node_id="lonely",
            timerack_client_key="L-1",
            timerack_mode="manual-import",
        )
    )
    reply = admin_import(api, HEADER + GOOD_ROW, customer=500)
    assert reply.status == 409  # no open week at its node
    assert "open" in reply.json["message"]


# ---------------------------------------------------------------- the CLI's import with an admin token


def test_the_cli_import_takes_an_admin_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from local import cli, remote
    from local.tokens import signing_key, verify_token

    monkeypatch.setenv("TIMERACK_STATE_DIR", str(tmp_path))
    key = signing_key(tmp_path)
    seen: dict[str, Any] = {}

    def fake_for_caller(api_url: str | None, token: str | None, principal: str, *, admin: bool = False) -> Any:
        seen["token"] = token or remote._local_token(principal, admin=admin)
        raise SystemExit(0)

    monkeypatch.setattr(remote.ApiClient, "for_caller", staticmethod(fake_for_caller))
    path = tmp_path / "feed.csv"
    path.write_text(HEADER + GOOD_ROW)
    args = cli.parser().parse_args(["import", str(path), "--parent-customer", "100", "--weekend-bill", "2026-11-22"])
    with pytest.raises(SystemExit):
        cli.cmd_import(cli.parser().parse_args([*_argv(path), "--admin"]))
    claims = verify_token(key, seen["token"])
    assert "timerack/admin" in claims["scope"] and claims["sub"] == "agency-admin"
    # Without --admin: the portal's rep token, as before
    with pytest.raises(SystemExit):
        cli.cmd_import(args)
    claims = verify_token(key, seen["token"])
    assert "timerack/admin" not in claims["scope"] and claims["sub"] == "timerack-portal"


def _argv(path: Path) -> list[str]:
    return ["import", str(path), "--parent-customer", "100", "--weekend-bill", "2026-11-22"]
