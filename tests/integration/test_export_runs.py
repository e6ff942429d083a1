"""Export runs for TempWorks: "Update From TempWorks" queues the clients and answers 202 at once; every run
is recorded with each client's outcome as the export workers send it; admins see all, reps their clients.

Through the real handler on moto (DynamoDB and SQS). The export workers are driven here the way the
SQS event source drives them: the messages on the queue, one record per invocation.
"""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from tests.conftest import ApiCall
from timerack_bridge.adapters.destinations import ExportDestination
from timerack_bridge.domain.entities import Assignment, Customer, Employee
from timerack_bridge.domain.export_models import ExportPayload, RunTrigger
from timerack_bridge.logic.ports import DestinationError

if TYPE_CHECKING:
    from timerack_bridge.domain.export_models import DispatchRequest

ADMIN = {"admin": True, "principal": "admin-app"}
# The agency's shared PIN (birth day 07 + SSN 2345): never in a reply, nor any PIN or SSN field.
SECRETS = ("72345", '"pin"', '"ssn')
NOTHING = {"queued": 0, "exported": 0, "failed": 0, "skippedLocked": 0, "skippedNotPrimary": 0, "skippedNotClient": 0}


# ---------------------------------------------------------------- the export queue on moto


def _sqs() -> Any:
    return boto3.client("sqs", region_name="us-east-1")


def _url(services: Any, lane: str) -> str:
    settings = services.settings
    return str(settings.export_queue_url if lane == "bulk" else settings.export_priority_queue_url)


def _receive(services: Any, lane: str) -> list[dict[str, Any]]:
    """Every message the lane hands out now, each hidden for an hour once received."""
    received: list[dict[str, Any]] = []
    while True:
        reply = _sqs().receive_message(
            QueueUrl=_url(services, lane), MaxNumberOfMessages=10, VisibilityTimeout=3600, AttributeNames=["All"]
        )
        if not reply.get("Messages"):
            return received
        received += reply["Messages"]


def queued_messages(services: Any, lane: str) -> list[dict[str, Any]]:
    """The bodies of the messages waiting on a lane, taken off it: a later call sees only newer ones."""
    return [json.loads(message["Body"]) for message in _receive(services, lane)]


def _count(services: Any, lane: str, attribute: str) -> int:
    attributes = _sqs().get_queue_attributes(QueueUrl=_url(services, lane), AttributeNames=[attribute])
    return int(attributes["Attributes"][attribute])


def waiting_messages(services: Any, lane: str) -> int:
    """How many messages a lane would hand out now (left on it)."""
    return _count(services, lane, "ApproximateNumberOfMessages")


def delayed_messages(services: Any, lane: str) -> int:
    """How many messages a lane holds back for their delay."""
    return _count(services, lane, "ApproximateNumberOfMessagesDelayed")


def _record(services: Any, lane: str, message: dict[str, Any]) -> dict[str, Any]:
    """A received message as the SQS event source hands it to the worker."""
    arn = _sqs().get_queue_attributes(QueueUrl=_url(services, lane), AttributeNames=["QueueArn"])["Attributes"]
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": arn["QueueArn"],
        "awsRegion": "us-east-1",
    }


def run_workers(services: Any, destination: ExportDestination, *, max_receives: int = 5) -> None:
    """The export workers take every message waiting on both lanes, one per invocation."""
    from functions.export_worker.handler import WorkerAdapters, handle_records
    from timerack_bridge.adapters.dynamodb.export_lease import ExportLock

    adapters = WorkerAdapters(
        admin_store=services.admin,
        destination=destination,
        queue=services.export_queue,
        runs=services.export_runs,
        leases=ExportLock(services.dynamodb, services.settings.table_name),
        pending=services.pending_exports,
        max_receives=max_receives,
    )
    for lane in ("bulk", "priority"):
        for message in _receive(services, lane):
            reply = handle_records({"Records": [_record(services, lane, message)]}, adapters)
            if not reply["batchItemFailures"]:  # the event source deletes what the worker handled
                _sqs().delete_message(QueueUrl=_url(services, lane), ReceiptHandle=message["ReceiptHandle"])


class RecordingDestination(ExportDestination):
    """Timerack standing in: records what it is sent; refuses the clients named `failing`."""

    name = "recording"

    def __init__(self, failing: set[str] | None = None) -> None:
        self.sent: list[ExportPayload] = []
        self.failing = failing or set()

    def send(self, payload: ExportPayload) -> None:
        if payload.client_key in self.failing:
            raise DestinationError(f"Timerack refused the export of client {payload.client_key}: HTTP 400")
        self.sent.append(payload)


# ---------------------------------------------------------------- the API, its dispatcher at hand


class DispatchNow:
    """The API's `DispatchStarter` for these tests: the dispatcher's own code runs the handed-over run at once,
    inside the request, instead of in the dispatcher function (tests/integration/test_export_dispatch_async.py
    tests the handover itself: the async invoke, the 202 before any client is queued)."""

    def __init__(self, services: Any) -> None:
        self.services = services

    def start(self, request: DispatchRequest) -> None:
        from timerack_bridge.logic.export_dispatch import continue_dispatch

        services = self.services
        continue_dispatch(services.admin, services.export_queue, services.export_runs, request)


@pytest.fixture
def api(api_for: Any, services: Any) -> ApiCall:
    """The API on the test's services, a run of many clients dispatched before the reply (DispatchNow)."""
    from timerack_bridge.api import deps

    return api_for(
        deps.Services(
            services.settings,
            dynamodb=services.dynamodb,
            export_queue=services.export_queue,
            dispatch_starter=DispatchNow(services),
        )
    )


# ---------------------------------------------------------------- the agency


@pytest.fixture
def clients(agency: Any, services: Any) -> list[str]:
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
    return ["ACME-1", "GLOBEX-1", "HIDDEN-1"]


def _no_secret(text: str) -> None:
    assert not any(secret in text.lower() for secret in SECRETS), text


# ---------------------------------------------------------------- POST /v1/exports: 202, the clients queued


def test_an_admin_queues_every_client_and_is_answered_202_with_the_run_at_once(
    api: Any, clients: list[str], services: Any
) -> None:
    # When an admin runs "Update From TempWorks"
    started = api("POST", "/v1/exports", {}, **ADMIN)
    # Then the answer is 202 at once, with the run: its id, and its state (its clients are being queued)
    assert started.status == 202, started.text
    run_id = started.json["runId"]
    assert started.json["state"] == "queuing" and started.json["trigger"] == "update-from-tempworks"
    assert started.json["counts"] == NOTHING
    # And each client is one message on the bulk lane of the export queue
    messages = queued_messages(services, "bulk")
    assert sorted(m["customerId"] for m in messages) == [100, 200, 400]
    assert {(m["runId"], m["trigger"]) for m in messages} == {(run_id, "update-from-tempworks")}
    assert queued_messages(services, "priority") == []
    # And the run shows each client queued, not tried yet
    shown = api("GET", f"/v1/exports/{run_id}", **ADMIN)
    assert shown.status == 200, shown.text
    assert shown.json["state"] == "running" and shown.json.get("finishedAt") is None
    assert [(c["clientKey"], c["status"], c["attempts"]) for c in shown.json["clients"]] == [
        ("ACME-1", "queued", 0),
        ("GLOBEX-1", "queued", 0),
        ("HIDDEN-1", "queued", 0),
    ]
    for reply in (started, shown):
        _no_secret(reply.text)


def test_the_run_shows_each_client_as_the_workers_export_it(api: Any, clients: list[str], services: Any) -> None:
    run_id = api("POST", "/v1/exports", {}, **ADMIN).json["runId"]
    # When the workers take the clients, and Timerack refuses Globex (its last attempt)
    run_workers(services, RecordingDestination(failing={"GLOBEX-1"}), max_receives=1)
    # Then the run is finished, with each client's outcome, its problems by employee id and the reason
    listed = api("GET", "/v1/exports", **ADMIN)
    (summary,) = listed.json["items"]
    assert summary["runId"] == run_id and summary["state"] == "finished" and summary["finishedAt"]
    assert summary["counts"] == {**NOTHING, "exported": 2, "failed": 1}
    shown = api("GET", f"/v1/exports/{run_id}", **ADMIN)
    outcomes = {c["clientKey"]: c for c in shown.json["clients"]}
    assert [c["customerId"] for c in shown.json["clients"]] == [100, 200, 400]
    assert {key: (c["status"], c["attempts"]) for key, c in outcomes.items()} == {
        "ACME-1": ("exported", 1),
        "GLOBEX-1": ("failed", 1),
        "HIDDEN-1": ("exported", 1),
    }
    assert [(p["type"], p["employeeIds"]) for p in outcomes["ACME-1"]["problems"]] == [("pin-collision", [501, 502])]
    assert [(p["type"], p["employeeId"]) for p in outcomes["HIDDEN-1"]["problems"]] == [("missing-pin", 505)]
    assert "HTTP 400" in outcomes["GLOBEX-1"]["error"]
    assert shown.json["counts"] == summary["counts"]
    for reply in (listed, shown):
        _no_secret(reply.text)


def test_a_rep_queues_only_the_clients_they_see(api: Any, clients: list[str], services: Any) -> None:
    # A rep's run of every client: the rep's branch holds Acme and Globex, not the other branch's client
    started = api("POST", "/v1/exports", {})
    assert started.status == 202, started.text
    assert api("GET", f"/v1/exports/{started.json['runId']}").json["counts"]["queued"] == 2
    assert sorted(m["customerId"] for m in queued_messages(services, "bulk")) == [100, 200]
    # A rep's run of one client goes on the priority lane, ahead of any run of every client
    own = api("POST", "/v1/exports", {"clientKey": "ACME-1"})
    assert own.status == 202 and own.json["counts"]["queued"] == 1 and own.json["runId"] != started.json["runId"]
    assert [(m["customerId"], m["runId"]) for m in queued_messages(services, "priority")] == [(100, own.json["runId"])]
    assert [r["runId"] for r in api("GET", "/v1/exports").json["items"]] == [own.json["runId"], started.json["runId"]]


def test_an_unknown_or_invisible_client_is_404_and_nothing_is_queued(
    api: Any, clients: list[str], services: Any
) -> None:
    hidden, unknown = (
        api("POST", "/v1/exports", {"clientKey": "HIDDEN-1"}),
        api("POST", "/v1/exports", {"clientKey": "NOPE-1"}),
    )
    assert hidden.status == unknown.status == 404
    assert hidden.json["message"] == unknown.json["message"].replace("NOPE-1", "HIDDEN-1")
    assert api("POST", "/v1/exports", {"clientKey": "NOPE-1"}, **ADMIN).status == 404
    assert queued_messages(services, "bulk") == queued_messages(services, "priority") == []
    assert api("GET", "/v1/exports", **ADMIN).json["items"] == []


def test_a_rep_sees_the_runs_restricted_to_their_clients(api: Any, clients: list[str], services: Any) -> None:
    run_id = api("POST", "/v1/exports", {}, **ADMIN).json["runId"]
    run_workers(services, RecordingDestination(failing={"GLOBEX-1"}), max_receives=1)
    # The rep's node (branch) does not reach the other branch's client: not shown, not counted
    (summary,) = api("GET", "/v1/exports").json["items"]
    assert summary["counts"] == {**NOTHING, "exported": 1, "failed": 1}
    shown = api("GET", f"/v1/exports/{run_id}")
    assert shown.status == 200, shown.text
    assert [c["clientKey"] for c in shown.json["clients"]] == ["ACME-1", "GLOBEX-1"]
    assert shown.json["counts"]["exported"] == 1


def test_who_may_read_runs_and_an_unknown_run(api: Any, clients: list[str]) -> None:
    run_id = api("POST", "/v1/exports", {}, **ADMIN).json["runId"]
    for path in ("/v1/exports", f"/v1/exports/{run_id}"):
        assert api("GET", path, principal="stranger").status == 403
        assert api("GET", path, principal=None).status == 401
    assert api("GET", "/v1/exports/0123456789abcdef0123456789abcdef", **ADMIN).status == 404
    assert api("GET", "/v1/exports/0123456789abcdef0123456789abcdef").status == 404
    assert api("GET", "/v1/exports/not a run").status in (404, 422)
    assert api("GET", "/v1/exports?nextToken=bogus", **ADMIN).status == 422
    assert api("GET", f"/v1/exports/{run_id}?nextToken=bogus", **ADMIN).status == 422
    assert api("POST", "/v1/exports", {}, principal="stranger").status == 403


def test_runs_and_outcomes_page_with_limit_and_next_token(api: Any, clients: list[str]) -> None:
    runs = [api("POST", "/v1/exports", {}, **ADMIN).json["runId"] for _ in range(3)]
    first = api("GET", "/v1/exports?limit=2", **ADMIN).json
    assert [r["runId"] for r in first["items"]] == runs[::-1][:2] and first["nextToken"]
    second = api("GET", f"/v1/exports?limit=2&nextToken={first['nextToken']}", **ADMIN).json
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
    assert api("GET", "/v1/exports?limit=0", **ADMIN).status == 422


def test_the_hourly_run_is_listed_with_its_clients(api: Any, clients: list[str], services: Any) -> None:
    from timerack_bridge.logic.export_dispatch import dispatch

    summary = dispatch(
        services.admin, services.export_queue, services.export_runs, trigger="hourly", destination="outbox"
    )
    run_workers(services, RecordingDestination())
    (listed,) = api("GET", "/v1/exports", **ADMIN).json["items"]
    assert listed["runId"] == summary.run_id and listed["trigger"] == "hourly" and listed["state"] == "finished"
    assert listed["counts"] == {**NOTHING, "exported": 3}
    shown = api("GET", f"/v1/exports/{summary.run_id}", **ADMIN)
    assert [c["status"] for c in shown.json["clients"]] == ["exported"] * 3
    _no_secret(shown.text)


def test_a_rep_learns_nothing_of_a_run_of_another_branchs_clients(api: Any, clients: list[str]) -> None:
    # Given a run of only the other branch's client, and one of the rep's own
    hidden = api("POST", "/v1/exports", {"clientKey": "HIDDEN-1"}, **ADMIN).json["runId"]
    seen = api("POST", "/v1/exports", {"clientKey": "ACME-1"}, **ADMIN).json["runId"]
    # Then the rep's list holds only their run, and the other is 404 as an unknown run is
    assert [r["runId"] for r in api("GET", "/v1/exports").json["items"]] == [seen]
    unknown = api("GET", "/v1/exports/0123456789abcdef0123456789abcdef")
    hidden_reply = api("GET", f"/v1/exports/{hidden}")
    assert hidden_reply.status == unknown.status == 404
    assert hidden_reply.json["message"] == unknown.json["message"].replace("0123456789abcdef0123456789abcdef", hidden)
    # ... while an admin sees both
    assert [r["runId"] for r in api("GET", "/v1/exports", **ADMIN).json["items"]] == [seen, hidden]


def test_the_export_routes_refuse_who_may_not_read_them(api: Any, clients: list[str]) -> None:
    run_id = api("POST", "/v1/exports", {}, **ADMIN).json["runId"]
    for path in ("/v1/exports", f"/v1/exports/{run_id}"):
        # an admin principal without the admin scope is not a rep either
        assert api("GET", path, principal="admin-app").status == 403
    for limit in (0, 201):
        assert api("GET", f"/v1/exports?limit={limit}", **ADMIN).status == 422


# ---------------------------------------------------------------- GET /v1/exports?trigger=


def test_runs_are_listed_by_trigger_the_hourly_ones_not_buried_by_changes(
    api: ApiCall, clients: list[str], services: Any
) -> None:
    from timerack_bridge.logic.export_dispatch import dispatch

    def run(trigger: RunTrigger, client_key: str | None = None) -> str:
        queue, runs = services.export_queue, services.export_runs
        summary = dispatch(services.admin, queue, runs, trigger=trigger, destination="outbox", client_key=client_key)
        return summary.run_id

    # Given two hourly runs, each followed by saved changes (one run each), and a manual update
    first_hourly = run("hourly")
    changes = [run("change", "ACME-1") for _ in range(4)]
    second_hourly = run("hourly")
    changes += [run("change", "GLOBEX-1") for _ in range(3)]
    manual = api("POST", "/v1/exports", {"clientKey": "ACME-1"}, **ADMIN).json["runId"]
    # Then the hourly runs are listed alone, newest first, a page full however many changes came between
    hourly = api("GET", "/v1/exports?trigger=hourly&limit=2", **ADMIN).json
    assert [r["runId"] for r in hourly["items"]] == [second_hourly, first_hourly]
    assert {r["trigger"] for r in hourly["items"]} == {"hourly"}
    # And page by page, nothing skipped, nothing twice
    for trigger, expected in (("hourly", [second_hourly, first_hourly]), ("change", changes[::-1])):
        seen, token = [], None
        while True:
            page = api(
                "GET", f"/v1/exports?trigger={trigger}&limit=3" + (f"&nextToken={token}" if token else ""), **ADMIN
            )
            assert page.status == 200, page.text
            seen += [r["runId"] for r in page.json["items"]]
            token = page.json.get("nextToken")
            if not token:
                break
        assert seen == expected, trigger
    listed = api("GET", "/v1/exports?trigger=update-from-tempworks", **ADMIN).json["items"]
    assert [r["runId"] for r in listed] == [manual]
    # A rep's list by trigger: the runs that touched their clients
    assert [r["runId"] for r in api("GET", "/v1/exports?trigger=hourly").json["items"]] == [second_hourly, first_hourly]
    # An unknown trigger is refused, naming the field
    refused = api("GET", "/v1/exports?trigger=weekly", **ADMIN)
    assert refused.status == 422 and "trigger" in refused.text
