"""Change-driven updates: an admin's save that changes what Timerack is sent queues the clients it touches.

Through the real handler on moto (DynamoDB and SQS): each PUT below is what TempWorks sends; what the
user notices is the messages on the export queue's priority lane (one per client) and the runs
"GET /v1/exports" lists (trigger "change").
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest

from tests.conftest import ApiCall
from tests.integration.test_export_runs import (
    ADMIN,
    RecordingDestination,
    _receive,
    _record,
    _sqs,
    _url,
    delayed_messages,
    queued_messages,
    run_workers,
    waiting_messages,
)
from timerack_bridge.domain.entities import Assignment, Customer, Employee

PIN = "482913"
SSN = "321-54-9876"


@pytest.fixture
def changes(agency: Any, services: Any) -> Any:
    """The agency, plus employee 601 assigned at client GLOBEX-1 (200) only; changes queued without delay."""
    admin = services.admin
    admin.put_employee(
        Employee(
            employee_id=601,
            first_name="Pat",
            last_name="Six",
            birth_date=date(1985, 3, 9),
            ssn_last4="6789",
            hierarchy_node_id="branch",
        )
    )
    admin.put_assignment(
        Assignment(
            assignment_id=6001,
            employee_id=601,
            customer_id=200,
            hierarchy_node_id="branch",
            status="Active",
            start_date=date(2026, 1, 5),
            job_title="Picker",
        )
    )
    # The debounce window is 10 s by default: these tests read the messages at once.
    services.settings = services.settings.model_copy(update={"export_change_delay_seconds": 0})
    return agency


EMPLOYEE_601 = {"firstName": "Pat", "lastName": "Six", "birthDate": "1985-03-09", "hierarchyNodeId": "branch"}
ASSIGNMENT_6001 = {
    "employeeId": 601,
    "customerId": 200,
    "hierarchyNodeId": "branch",
    "status": "Active",
    "startDate": "2026-01-05",
    "jobTitle": "Picker",
}
GLOBEX = {"name": "Globex", "hierarchyNodeId": "branch", "timerackClientKey": "GLOBEX-1"}
ACME_PLANT_2 = {"name": "Acme Plant 2", "parentCustomerId": 100, "hierarchyNodeId": "branch"}


def put(api: ApiCall, path: str, body: dict[str, Any]) -> Any:
    reply = api("PUT", path, body, **ADMIN)
    assert reply.status == 200, reply.text
    return reply


def queued_clients(services: Any) -> list[int]:
    """The customer ids of the change messages on the priority lane (none may be on the bulk lane)."""
    assert queued_messages(services, "bulk") == []
    messages = queued_messages(services, "priority")
    assert all(m["trigger"] == "change" and m["change"] is True for m in messages), messages
    return sorted(m["customerId"] for m in messages)


def change_runs(api: ApiCall) -> list[dict[str, Any]]:
    runs = api("GET", "/v1/exports?limit=200", **ADMIN).json["items"]
    return [run for run in runs if run["trigger"] == "change"]


# ---------------------------------------------------------------- employees


def test_a_pin_override_queues_each_client_of_the_employee_once_as_a_run_of_its_own(
    api: ApiCall, agency: Any, services: Any
) -> None:
    services.settings = services.settings.model_copy(update={"export_change_delay_seconds": 0})
    # Given employee 501, assigned at Acme (100) and at Globex (200)
    body = {"firstName": "E", "lastName": "501", "birthDate": "1990-04-07", "hierarchyNodeId": "branch"}
    # When an admin gives them a PIN override
    reply = put(api, "/v1/employees/501", {**body, "pinOverride": PIN})
    # Then each client is queued once, as a one-client run of its own that shows it queued
    assert PIN not in reply.text
    assert queued_clients(services) == [100, 200]
    runs = change_runs(api)
    assert len(runs) == 2
    assert all(run["state"] == "running" and run["counts"]["queued"] == 1 for run in runs)
    shown = api("GET", f"/v1/exports/{runs[0]['runId']}", **ADMIN).json
    (client,) = shown["clients"]
    assert client["status"] == "queued" and client["attempts"] == 0 and client["clientKey"] in ("ACME-1", "GLOBEX-1")
    # And the rep of the clients' branch sees those runs too
    assert {run["runId"] for run in api("GET", "/v1/exports").json["items"]} == {run["runId"] for run in runs}


@pytest.mark.parametrize(
    "change",
    [
        {"pinOverride": PIN},
        {"ssn": SSN},
        {"birthDate": "1985-03-10"},
        {"firstName": "Patricia"},
        {"lastName": "Sixth"},
    ],
    ids=["pin-override", "ssn", "birth-date", "first-name", "last-name"],
)
def test_each_employee_field_the_export_sends_queues_the_employees_client(
    api: ApiCall, changes: Any, services: Any, change: dict[str, Any]
) -> None:
    put(api, "/v1/employees/601", {**EMPLOYEE_601, **change})
    assert queued_clients(services) == [200]
    assert len(change_runs(api)) == 1


def test_an_employee_save_that_changes_nothing_sent_queues_nothing(api: ApiCall, changes: Any, services: Any) -> None:
    # The same record again, and a move to another node (the node is not sent to Timerack)
    put(api, "/v1/employees/601", EMPLOYEE_601)
    put(api, "/v1/employees/601", {**EMPLOYEE_601, "hierarchyNodeId": "sub"})
    # An employee whose only assignment is cancelled is in no client's export
    put(api, "/v1/employees/504", {"firstName": "E", "lastName": "Renamed", "hierarchyNodeId": "branch"})
    assert queued_clients(services) == []
    assert change_runs(api) == []


def test_a_burst_of_500_pin_overrides_sends_the_client_once_and_a_later_save_again(
    api: ApiCall, changes: Any, services: Any
) -> None:
    # When an admin saves 500 PIN overrides of one employee in a burst
    for n in range(500):
        put(api, "/v1/employees/601", {**EMPLOYEE_601, "pinOverride": f"{700000 + n}"})
    # Then the client is queued once, not 500 times
    assert waiting_messages(services, "priority") == 1 and waiting_messages(services, "bulk") == 0
    assert len(change_runs(api)) == 1
    # And the worker sends it once, with the last PIN saved
    timerack = RecordingDestination()
    run_workers(services, timerack)
    (sent,) = timerack.sent
    assert sent.client_key == "GLOBEX-1"
    assert [e.pin for e in sent.employees if e.employee_id == 601] == ["700499"]
    # And a save after the worker took the update queues the client again
    put(api, "/v1/employees/601", {**EMPLOYEE_601, "pinOverride": PIN})
    assert queued_clients(services) == [200]
    assert len(change_runs(api)) == 2


def work_priority_lane(services: Any, destination: Any) -> int:
    """The priority lane's workers take every message waiting, one per invocation; how many they took.
    A client queued once more by a worker is queued without delay (these tests read the messages at once)."""
    from functions.export_worker.handler import WorkerAdapters, handle_records
    from timerack_bridge.adapters.dynamodb.export_lease import ExportLock

    adapters = WorkerAdapters(
        admin_store=services.admin,
        destination=destination,
        queue=services.export_queue,
        runs=services.export_runs,
        leases=ExportLock(services.dynamodb, services.settings.table_name),
        pending=services.pending_exports,
        max_receives=5,
        change_delay_seconds=0,
    )
    taken = 0
    for message in _receive(services, "priority"):
        reply = handle_records({"Records": [_record(services, "priority", message)]}, adapters)
        if not reply["batchItemFailures"]:
            _sqs().delete_message(QueueUrl=_url(services, "priority"), ReceiptHandle=message["ReceiptHandle"])
        taken += 1
    return taken


def test_changes_saved_while_the_client_is_exported_go_out_once_after_it(
    api: ApiCall, changes: Any, services: Any
) -> None:
    put(api, "/v1/employees/601", {**EMPLOYEE_601, "pinOverride": "700000"})
    queued_while_sending: list[int] = []

    class SavesDuringTheSend(RecordingDestination):
        def send(self, payload: Any) -> None:
            if not self.sent:
                # While the worker sends the client, the admin goes on saving PIN overrides
                for n in range(1, 40):
                    put(api, "/v1/employees/601", {**EMPLOYEE_601, "pinOverride": f"{700000 + n}"})
                lane = "priority"
                queued_while_sending.append(waiting_messages(services, lane) + delayed_messages(services, lane))
            super().send(payload)

    timerack = SavesDuringTheSend()
    assert work_priority_lane(services, timerack) == 1
    # Then nothing was queued while the client was being sent; once sent, it is queued once more
    assert queued_while_sending == [0]
    assert waiting_messages(services, "priority") == 1 and len(change_runs(api)) == 2
    # And that update sends the last PIN saved: the client was sent twice for the whole burst
    assert work_priority_lane(services, timerack) == 1
    pins = [e.pin for payload in timerack.sent for e in payload.employees if e.employee_id == 601]
    assert pins == ["700000", "700039"]
    assert waiting_messages(services, "priority") == 0 and delayed_messages(services, "priority") == 0
    # And with nothing saved during that one, the marker is gone: the next save queues the client again
    put(api, "/v1/employees/601", {**EMPLOYEE_601, "pinOverride": PIN})
    assert queued_clients(services) == [200]


def test_the_worker_reads_the_client_with_a_consistent_read(api: ApiCall, changes: Any, services: Any) -> None:
    put(api, "/v1/customers/200", {**GLOBEX, "timerackClientKey": "GLOBEX-2"})
    with dynamodb_reads(services) as reads:
        work_priority_lane(services, RecordingDestination())
    customer_reads = [params for params in reads if params["Key"]["pk"]["S"] == "CUSTOMER#200"]
    assert customer_reads and all(params.get("ConsistentRead") is True for params in customer_reads)


def test_a_change_waits_the_debounce_window_on_the_queue(api: ApiCall, changes: Any, services: Any) -> None:
    services.settings = services.settings.model_copy(update={"export_change_delay_seconds": 10})
    put(api, "/v1/employees/601", {**EMPLOYEE_601, "pinOverride": PIN})
    # The message is on the priority lane, delayed: the saves of the next seconds go with it
    assert delayed_messages(services, "priority") == 1
    assert queued_messages(services, "priority") == []


# ---------------------------------------------------------------- assignments


@pytest.mark.parametrize(
    ("change", "clients"),
    [
        ({"status": "Cancelled"}, [200]),
        ({"startDate": "2026-02-02"}, [200]),
        ({"endDate": "2026-12-31"}, [200]),
        ({"jobTitle": "Forklift driver"}, [200]),
        ({"employeeId": 501}, [200]),
        # Moved to Acme's child customer: Globex loses it, Acme gains it
        ({"customerId": 101}, [100, 200]),
    ],
    ids=["status", "start-date", "end-date", "job-title", "employee", "customer-move"],
)
def test_each_assignment_field_the_export_sends_queues_its_clients(
    api: ApiCall, changes: Any, services: Any, change: dict[str, Any], clients: list[int]
) -> None:
    put(api, "/v1/assignments/6001", {**ASSIGNMENT_6001, **change})
    assert queued_clients(services) == clients


def test_a_new_assignment_queues_its_client_when_the_export_sends_it(api: ApiCall, changes: Any, services: Any) -> None:
    # A cancelled one is not sent: nothing to update
    put(api, "/v1/assignments/6002", {**ASSIGNMENT_6001, "status": "Cancelled"})
    assert queued_clients(services) == []
    put(api, "/v1/assignments/6003", {**ASSIGNMENT_6001, "customerId": 101})
    assert queued_clients(services) == [100]


def test_an_assignment_save_that_changes_nothing_sent_queues_nothing(api: ApiCall, changes: Any, services: Any) -> None:
    put(api, "/v1/assignments/6001", ASSIGNMENT_6001)
    put(api, "/v1/assignments/6001", {**ASSIGNMENT_6001, "hierarchyNodeId": "sub"})
    # Out of the export before and after (Cancelled, then Deleted/Mistakenly Entered)
    put(
        api,
        "/v1/assignments/1004",
        {
            "employeeId": 504,
            "customerId": 100,
            "hierarchyNodeId": "branch",
            "status": "Deleted/Mistakenly Entered",
            "startDate": "2026-01-05",
        },
    )
    assert queued_clients(services) == []


# ---------------------------------------------------------------- customers


def test_a_client_key_change_queues_the_client(api: ApiCall, changes: Any, services: Any) -> None:
    put(api, "/v1/customers/200", {**GLOBEX, "timerackClientKey": "GLOBEX-2"})
    assert queued_clients(services) == [200]
    (run,) = change_runs(api)
    (client,) = api("GET", f"/v1/exports/{run['runId']}", **ADMIN).json["clients"]
    assert client["clientKey"] == "GLOBEX-2"


def test_a_new_client_is_queued(api: ApiCall, changes: Any, services: Any) -> None:
    put(api, "/v1/customers/300", {"name": "Initech", "hierarchyNodeId": "branch", "timerackClientKey": "INITECH-1"})
    assert queued_clients(services) == [300]


def test_a_customer_moved_to_another_parent_queues_the_old_and_the_new_client(
    api: ApiCall, changes: Any, services: Any
) -> None:
    put(api, "/v1/customers/101", {**ACME_PLANT_2, "parentCustomerId": 200})
    assert queued_clients(services) == [100, 200]


def test_a_grandchild_customer_moved_queues_the_clients_at_the_top_of_each_tree(
    api: ApiCall, changes: Any, services: Any
) -> None:
    services.admin.put_customer(
        Customer(customer_id=102, name="Acme Dock", parent_customer_id=101, hierarchy_node_id="branch")
    )
    put(api, "/v1/customers/102", {"name": "Acme Dock", "parentCustomerId": 200, "hierarchyNodeId": "branch"})
    assert queued_clients(services) == [100, 200]


def test_a_customer_save_that_changes_nothing_sent_queues_nothing(api: ApiCall, changes: Any, services: Any) -> None:
    put(api, "/v1/customers/200", GLOBEX)
    put(api, "/v1/customers/200", {**GLOBEX, "timerackMode": "manual-import", "hierarchyNodeId": "sub"})
    # A child customer's name is not sent (the client's is); a new child customer has no assignments yet
    put(api, "/v1/customers/101", {**ACME_PLANT_2, "name": "Acme Plant Two"})
    put(api, "/v1/customers/103", {"name": "Acme Annex", "parentCustomerId": 100, "hierarchyNodeId": "branch"})
    # A key taken away: no client any more, nothing to send it
    put(api, "/v1/customers/200", {**GLOBEX, "timerackClientKey": None})
    assert queued_clients(services) == []


def test_a_client_renamed_is_queued(api: ApiCall, changes: Any, services: Any) -> None:
    put(api, "/v1/customers/200", {**GLOBEX, "name": "Globex Corporation"})
    assert queued_clients(services) == [200]


# ---------------------------------------------------------------- how the clients are found, and failures


@contextmanager
def dynamodb_operations(services: Any) -> Iterator[list[str]]:
    """The name of every DynamoDB call made inside the block."""
    names: list[str] = []

    def record(model: Any, **_: Any) -> None:
        names.append(model.name)

    events = services.dynamodb.meta.events
    events.register("before-call.dynamodb", record)
    try:
        yield names
    finally:
        events.unregister("before-call.dynamodb", record)


@contextmanager
def dynamodb_reads(services: Any) -> Iterator[list[dict[str, Any]]]:
    """The parameters of every GetItem made inside the block."""
    reads: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        reads.append(dict(params))

    events = services.dynamodb.meta.events
    events.register("before-parameter-build.dynamodb.GetItem", record)
    try:
        yield reads
    finally:
        events.unregister("before-parameter-build.dynamodb.GetItem", record)


def test_the_clients_a_change_affects_are_found_without_a_scan(api: ApiCall, changes: Any, services: Any) -> None:
    with dynamodb_operations(services) as operations:
        put(api, "/v1/employees/501", {**EMPLOYEE_601, "firstName": "E", "lastName": "501", "pinOverride": PIN})
        put(api, "/v1/assignments/6001", {**ASSIGNMENT_6001, "customerId": 101})
        put(api, "/v1/customers/101", {**ACME_PLANT_2, "parentCustomerId": 200})
    assert queued_clients(services) == [100, 200]
    assert "Query" in operations
    assert "Scan" not in operations


class BrokenQueue:
    """An export queue that cannot be reached, or that refuses every message."""

    def __init__(self, *, refuse: bool) -> None:
        self.refuse = refuse

    def send(self, messages: Any, *, lane: str, delay_seconds: int = 0) -> list[Any]:
        if self.refuse:
            return list(messages)
        raise ConnectionError("the export queue could not be reached")

    def retry_later(self, delivery: Any, seconds: int) -> None:
        raise AssertionError("the API never hands a message back")


@pytest.mark.parametrize("refuse", [False, True], ids=["unreachable", "refused"])
def test_a_queue_failure_does_not_fail_the_save(
    api_for: Any,
    changes: Any,
    services: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    refuse: bool,
) -> None:
    from timerack_bridge.api.deps import Services

    broken = Services(settings=services.settings, dynamodb=services.dynamodb, export_queue=BrokenQueue(refuse=refuse))
    call = api_for(broken)
    # When the queue fails as an admin saves a PIN override and an SSN
    reply = call("PUT", "/v1/employees/601", {**EMPLOYEE_601, "pinOverride": PIN, "ssn": SSN}, **ADMIN)
    # Then the save still succeeds: the employee is stored, the hourly run sends it
    assert reply.status == 200, reply.text
    assert call("GET", "/v1/employees/601", **ADMIN).json["hasPinOverride"] is True
    # And the failure is logged and counted, never with the PIN or the SSN
    output = capsys.readouterr()
    logged = output.out + output.err + "".join(str(record.__dict__) for record in caplog.records)
    assert "not queued" in logged and "exportChangesNotQueued" in logged
    assert PIN not in logged and "9876" not in logged
    # And the run of the change says its client could not be queued
    (run,) = change_runs(api_for(services))
    (client,) = api_for(services)("GET", f"/v1/exports/{run['runId']}", **ADMIN).json["clients"]
    assert client["status"] == "failed" and client["error"].startswith("could not be queued")
    # And the client is free to be queued by the next save
    put(api_for(services), "/v1/employees/601", {**EMPLOYEE_601, "pinOverride": "135790"})
    assert queued_clients(services) == [200]


def test_a_failure_to_find_the_clients_is_logged_by_its_type_only(
    changes: Any, services: Any, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    from timerack_bridge.logic.export_changes import employee_saved

    class Failing:
        def __getattr__(self, name: str) -> Any:
            raise RuntimeError(f"employee 601 PIN {PIN} SSN {SSN}")

    class Broken:
        admin = Failing()
        settings = services.settings

    employee = Employee(employee_id=601, first_name="Pat", last_name="Six", hierarchy_node_id="branch")
    assert employee_saved(Broken(), None, employee.model_copy(update={"pin_override": PIN})) == []  # type: ignore[arg-type]
    output = capsys.readouterr()
    logged = output.out + output.err + "".join(str(record.__dict__) for record in caplog.records)
    assert "RuntimeError" in logged and "could not be read" in logged
    assert PIN not in logged and "9876" not in logged
