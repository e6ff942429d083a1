"""Export runs for TempWorks: every run recorded with each client's outcome; admins see all, reps their clients."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from tests.conftest import load_event
from tests.integration.test_export import FakeContext, RecordingDestination
from timerack_bridge.domain.entities import Assignment, Customer, Employee

# The agency's shared PIN (birth day 07 + SSN 2345): never in a reply, nor any PIN or SSN field.
SECRETS = ("72345", '"pin"', '"ssn')


@pytest.fixture
def destination(agency: Any, services: Any) -> RecordingDestination:
    """The agency plus a client in the other branch (hidden from the rep) whose employee has no PIN."""
    admin = services.admin
    admin.put_customer(
        Customer(customer_id=400, name="Hidden", hierarchy_node_id="other", timerack_client_key="HIDDEN-1")
    )
    admin.put_employee(Employee(employee_id=505, first_name="No", last_name="Pin", hierarchy_node_id="other"))
    admin.put_assignment(
        Assignment(
            assignment_id=4001,
            employee_id=505,
            customer_id=400,
            hierarchy_node_id="other",
            status="Active",
            start_date=date(2026, 1, 5),
        )
    )
    recording = RecordingDestination(failing={"GLOBEX-1"})
    services.destination = recording
    return recording


def _no_secret(text: str) -> None:
    assert not any(secret in text.lower() for secret in SECRETS), text


def test_an_admin_starts_a_run_and_reads_it_back_with_each_clients_outcome(api: Any, destination: Any) -> None:
    # When an admin runs "Update From TempWorks" (before: reps only)
    started = api("POST", "/v1/exports", {}, admin=True, principal="admin-app")
    assert started.status == 200, started.text
    run_id = started.json["runId"]
    assert [(c["clientKey"], c["status"]) for c in started.json["clients"]] == [
        ("ACME-1", "exported"),
        ("GLOBEX-1", "failed"),
        ("HIDDEN-1", "exported"),
    ]
    # Then the run is listed, with its trigger and counts
    listed = api("GET", "/v1/exports", admin=True, principal="admin-app")
    assert listed.status == 200, listed.text
    (summary,) = listed.json["items"]
    assert summary["runId"] == run_id and summary["trigger"] == "update-from-tempworks"
    assert summary["startedAt"] and summary["finishedAt"]
    assert summary["counts"] == {"exported": 2, "failed": 1, "skippedLocked": 0, "skippedNotPrimary": 0}
    # And each client's outcome, with its problems by employee id and the failure's reason
    shown = api("GET", f"/v1/exports/{run_id}", admin=True, principal="admin-app")
    assert shown.status == 200, shown.text
    outcomes = {c["clientKey"]: c for c in shown.json["clients"]}
    assert [c["customerId"] for c in shown.json["clients"]] == [100, 200, 400]
    assert [(p["type"], p["employeeIds"]) for p in outcomes["ACME-1"]["problems"]] == [("pin-collision", [501, 502])]
    assert [(p["type"], p["employeeId"]) for p in outcomes["HIDDEN-1"]["problems"]] == [("missing-pin", 505)]
    assert "HTTP 400" in outcomes["GLOBEX-1"]["error"]
    assert shown.json["counts"] == summary["counts"]
    for reply in (started, listed, shown):
        _no_secret(reply.text)


def test_a_rep_sees_the_runs_restricted_to_their_clients(api: Any, destination: Any) -> None:
    run_id = api("POST", "/v1/exports", {}, admin=True, principal="admin-app").json["runId"]
    # The rep's node (branch) does not reach the other branch's client: not shown, not counted
    (summary,) = api("GET", "/v1/exports").json["items"]
    assert summary["counts"] == {"exported": 1, "failed": 1, "skippedLocked": 0, "skippedNotPrimary": 0}
    shown = api("GET", f"/v1/exports/{run_id}")
    assert shown.status == 200, shown.text
    assert [c["clientKey"] for c in shown.json["clients"]] == ["ACME-1", "GLOBEX-1"]
    assert shown.json["counts"]["exported"] == 1
    # A rep's own run answers with its runId too, and is recorded
    own = api("POST", "/v1/exports", {"clientKey": "ACME-1"})
    assert own.status == 200 and own.json["runId"] != run_id
    assert [r["runId"] for r in api("GET", "/v1/exports").json["items"]] == [own.json["runId"], run_id]


def test_who_may_read_runs_and_an_unknown_run(api: Any, destination: Any) -> None:
    run_id = api("POST", "/v1/exports", {}, admin=True, principal="admin-app").json["runId"]
    for path in ("/v1/exports", f"/v1/exports/{run_id}"):
        assert api("GET", path, principal="stranger").status == 403
        assert api("GET", path, principal=None).status == 401
    assert api("GET", "/v1/exports/0123456789abcdef0123456789abcdef", admin=True, principal="admin-app").status == 404
    assert api("GET", "/v1/exports/0123456789abcdef0123456789abcdef").status == 404
    assert api("GET", "/v1/exports/not a run").status in (404, 422)
    assert api("GET", "/v1/exports?nextToken=bogus", admin=True, principal="admin-app").status == 422
    assert api("GET", f"/v1/exports/{run_id}?nextToken=bogus", admin=True, principal="admin-app").status == 422
    assert api("POST", "/v1/exports", {}, principal="stranger").status == 403


def test_runs_and_outcomes_page_with_limit_and_next_token(api: Any, destination: Any) -> None:
    admin = {"admin": True, "principal": "admin-app"}
    runs = [api("POST", "/v1/exports", {}, **admin).json["runId"] for _ in range(3)]
    first = api("GET", "/v1/exports?limit=2", **admin).json
    assert [r["runId"] for r in first["items"]] == runs[::-1][:2] and first["nextToken"]
    second = api("GET", f"/v1/exports?limit=2&nextToken={first['nextToken']}", **admin).json
    assert [r["runId"] for r in second["items"]] == runs[:1] and second.get("nextToken") is None
    # A run's outcomes in pages too; a rep's pages hold only their clients
    seen, token = [], None
    while True:
        query = "limit=1" + (f"&nextToken={token}" if token else "")
        page = api("GET", f"/v1/exports/{runs[0]}?{query}").json
        seen += [c["clientKey"] for c in page["clients"]]
        token = page.get("nextToken")
        if not token:
            break
    assert seen == ["ACME-1", "GLOBEX-1"]
    assert api("GET", "/v1/exports?limit=0", **admin).status == 422


def test_the_hourly_run_is_recorded(api: Any, destination: Any, services: Any) -> None:
    from functions.export import handler as export_handler

    adapters = export_handler.ExportAdapters(services.admin, RecordingDestination())
    result = export_handler.lambda_handler(load_event("export-scheduled.json"), FakeContext(), adapters=adapters)
    (summary,) = api("GET", "/v1/exports", admin=True, principal="admin-app").json["items"]
    assert summary["runId"] == result["runId"] and summary["trigger"] == "hourly"
    assert summary["counts"]["exported"] == 3
    shown = api("GET", f"/v1/exports/{result['runId']}", admin=True, principal="admin-app")
    assert [c["status"] for c in shown.json["clients"]] == ["exported"] * 3
    _no_secret(shown.text)


def test_outcomes_are_written_25_to_a_call_and_unprocessed_ones_retried(services: Any) -> None:
    from datetime import UTC, datetime

    from timerack_bridge.adapters.dynamodb.export_runs import ExportRunStore
    from timerack_bridge.domain.export_models import ClientOutcome, ExportRun

    class Throttling:
        """The table's client, whose first BatchWriteItem leaves its last item unprocessed."""

        def __init__(self, client: Any) -> None:
            self.client, self.writes = client, []

        def __getattr__(self, name: str) -> Any:
            return getattr(self.client, name)

        def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
            (requests,) = RequestItems.values()
            self.writes.append(len(requests))
            if len(self.writes) == 1:
                self.client.batch_write_item(RequestItems={"main": requests[:-1]})
                return {"UnprocessedItems": {"main": requests[-1:]}}
            return self.client.batch_write_item(RequestItems=RequestItems)

    client = Throttling(services.dynamodb)
    store = ExportRunStore(client, "main")
    outcomes = [ClientOutcome(client_key=f"C-{n}", customer_id=n, status="exported") for n in range(1, 61)]
    run = ExportRun(started_at=datetime.now(UTC), destination="outbox", clients=outcomes, trigger="hourly")
    store.start(run)
    store.add_outcomes(run.run_id, outcomes)
    store.finish(run)
    assert client.writes == [25, 1, 25, 10]
    page, token = store.run_outcomes(run.run_id, limit=100, next_token=None)
    assert [o.customer_id for o in page] == list(range(1, 61)) and token is None
    record = store.get_run(run.run_id)
    assert record is not None and record.summary().counts.exported == 60


def test_a_rep_learns_nothing_of_a_run_of_another_branchs_clients(api: Any, destination: Any) -> None:
    # Given a run of only the other branch's client, and one of the rep's own
    hidden = api("POST", "/v1/exports", {"clientKey": "HIDDEN-1"}, admin=True, principal="admin-app").json["runId"]
    seen = api("POST", "/v1/exports", {"clientKey": "ACME-1"}, admin=True, principal="admin-app").json["runId"]
    # Then the rep's list holds only their run, and the other is 404 as an unknown run is
    assert [r["runId"] for r in api("GET", "/v1/exports").json["items"]] == [seen]
    unknown = api("GET", "/v1/exports/0123456789abcdef0123456789abcdef")
    hidden_reply = api("GET", f"/v1/exports/{hidden}")
    assert hidden_reply.status == unknown.status == 404
    assert hidden_reply.json["message"] == unknown.json["message"].replace("0123456789abcdef0123456789abcdef", hidden)
    # ... while an admin sees both
    assert [r["runId"] for r in api("GET", "/v1/exports", admin=True, principal="admin-app").json["items"]] == [
        seen,
        hidden,
    ]


def test_the_export_routes_refuse_who_may_not_read_them(api: Any, destination: Any) -> None:
    run_id = api("POST", "/v1/exports", {}, admin=True, principal="admin-app").json["runId"]
    for path in ("/v1/exports", f"/v1/exports/{run_id}"):
        # an admin principal without the admin scope is not a rep either
        assert api("GET", path, principal="admin-app").status == 403
    for limit in (0, 201):
        assert api("GET", f"/v1/exports?limit={limit}", admin=True, principal="admin-app").status == 422
