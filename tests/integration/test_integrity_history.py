"""Issue 13, point 4: Payroll History, payroll-email settings and the export lease follow the customer.

A Timerack Client Key is a label of a Primary Customer: changing it keeps the customer's data, and the
next holder of the old key sees none of it. A key (or batch) a rep cannot see answers exactly like one
that does not exist. Data stored before the change (under the key string) still works.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import WEEKEND_BILL, Agency, ApiCall, batch, timecard
from timerack_bridge.domain.batch import AssignmentResult, BatchCounts, BatchResult
from timerack_bridge.domain.entities import Customer, SecurityGroup, ServiceRep

FAR = "far-portal"
ACME_CUSTOMER = {
    "name": "Acme",
    "parentCustomerId": None,
    "hierarchyNodeId": "branch",
    "timerackMode": "connect",
}


@pytest.fixture
def far(services: Any, agency: Agency) -> str:
    """A rep of the "other" branch and its customer 300, which has no client key yet."""
    admin = services.admin
    admin.put_customer(Customer(customer_id=300, name="Far away", hierarchy_node_id="other"))
    admin.put_rep(ServiceRep(rep_id="rep-far", name="Far rep", principal=FAR, current_hierarchy_node_id="other"))
    admin.put_group(
        SecurityGroup(
            name="Timerack",
            hierarchy_node_id="system",
            permissions=["Timerack"],
            members=["rep-1", "rep-far"],
        )
    )
    return FAR


def send_with_error(api: ApiCall, client_key: str = "ACME-1") -> str:
    reply = api("POST", "/v1/timecard-batches", batch(timecard(1001, 501), timecard(999, 501), client_key=client_key))
    assert reply.status == 200, reply.text
    return reply.json["batchId"]


def set_recipients(api: ApiCall, client_key: str, *recipients: str, **as_rep: Any) -> None:
    body = {"recipients": list(recipients), "receiveErrorFile": True}
    assert api("PUT", f"/v1/clients/{client_key}/payroll-email", body, **as_rep).status == 200


def change_key(api: ApiCall, customer_id: int, new_key: str | None, **fields: Any) -> None:
    body = {**ACME_CUSTOMER, **fields, "timerackClientKey": new_key}
    reply = api("PUT", f"/v1/customers/{customer_id}", body, admin=True)
    assert reply.status == 200, reply.text


def give_key_to_far_customer(api: ApiCall, key: str) -> None:
    change_key(api, 300, key, name="Far away", hierarchyNodeId="other")


def history_ids(api: ApiCall, client_key: str, principal: str | None = None) -> list[str]:
    kwargs = {"principal": principal} if principal else {}
    reply = api("GET", f"/v1/payroll-history?clientKey={client_key}", **kwargs)
    assert reply.status == 200, reply.text
    return [b["batchId"] for b in reply.json["items"]]


def test_a_changed_key_keeps_history_and_settings_and_the_old_key_is_not_found(api: ApiCall, agency: Agency) -> None:
    # Given Acme's history and recipients under ACME-1
    sent = send_with_error(api)
    set_recipients(api, "ACME-1", "pay@acme.example")
    # When the admin changes Acme's key to ACME-2
    change_key(api, 100, "ACME-2")
    # Then Acme's history and settings are reached under ACME-2
    assert history_ids(api, "ACME-2") == [sent]
    settings = api("GET", "/v1/clients/ACME-2/payroll-email").json
    assert settings == {"clientKey": "ACME-2", "recipients": ["pay@acme.example"], "receiveErrorFile": True}
    # And the old key answers 404 everywhere
    assert api("GET", "/v1/payroll-history?clientKey=ACME-1").status == 404
    assert api("GET", "/v1/clients/ACME-1/payroll-email").status == 404
    assert api("PUT", "/v1/clients/ACME-1/payroll-email", {"recipients": []}).status == 404
    assert api("POST", "/v1/exports", {"clientKey": "ACME-1"}).status == 404
    # And the batch itself is still Acme's
    assert api("GET", f"/v1/payroll-history/{sent}").json["clientKey"] == "ACME-1"


def test_the_old_key_given_to_another_branch_shows_nothing_of_the_first_customer(
    api: ApiCall, agency: Agency, far: str
) -> None:
    # Given Acme's batch and recipients under ACME-1, then Acme moves to ACME-2
    sent = send_with_error(api)
    set_recipients(api, "ACME-1", "pay@acme.example")
    change_key(api, 100, "ACME-2")
    # When ACME-1 is given to the far customer (another branch)
    give_key_to_far_customer(api, "ACME-1")
    # Then its rep sees an empty history and default settings under ACME-1
    assert history_ids(api, "ACME-1", far) == []
    settings = api("GET", "/v1/clients/ACME-1/payroll-email", principal=far).json
    assert settings == {"clientKey": "ACME-1", "recipients": [], "receiveErrorFile": False}
    # And cannot open Acme's batch or its report
    assert api("GET", f"/v1/payroll-history/{sent}", principal=far).status == 404
    assert api("GET", f"/v1/payroll-history/{sent}/report.csv", principal=far).status == 404
    # While Acme's own rep still does, through the customer the batch belongs to
    assert api("GET", f"/v1/payroll-history/{sent}").status == 200
    assert api("GET", f"/v1/payroll-history/{sent}/report.csv").status == 200
    # And the far customer's own settings and batches are its own
    set_recipients(api, "ACME-1", "far@far.example", principal=far)
    assert api("GET", "/v1/clients/ACME-2/payroll-email").json["recipients"] == ["pay@acme.example"]


def _same_answer(hidden: Any, absent: Any, hidden_id: str, absent_id: str) -> None:
    assert hidden.status == absent.status == 404, (hidden.text, absent.text)
    assert hidden.json["message"].replace(hidden_id, "X") == absent.json["message"].replace(absent_id, "X")


def test_a_hidden_key_or_batch_answers_like_an_absent_one(api: ApiCall, agency: Agency, far: str) -> None:
    # Given a client FAR-1 at the "other" branch, with one batch, that rep-1 cannot see
    give_key_to_far_customer(api, "FAR-1")
    reply = api("POST", "/v1/timecard-batches", batch(timecard(1006, 502), client_key="FAR-1"), principal=far)
    assert reply.status == 200, reply.text
    far_batch = reply.json["batchId"]
    # When rep-1 asks about FAR-1 and about NOPE-1 (no such key), then every route answers the same
    for method, path, body in (
        ("GET", "/v1/payroll-history?clientKey={}", None),
        ("GET", "/v1/clients/{}/payroll-email", None),
        ("PUT", "/v1/clients/{}/payroll-email", {"recipients": ["x@evil.example"]}),
        ("POST", "/v1/exports", {"clientKey": "{}"}),
        ("POST", "/v1/timecard-batches", batch(timecard(1006, 502), client_key="{}")),
    ):

        def ask(key: str, method: str = method, path: str = path, body: Any = body) -> Any:
            filled = None if body is None else _fill(body, key)
            return api(method, path.format(key), filled)

        _same_answer(ask("FAR-1"), ask("NOPE-1"), "FAR-1", "NOPE-1")
    # And a batch of the hidden client answers like a batch that does not exist
    for suffix in ("", "/report.csv"):
        hidden = api("GET", f"/v1/payroll-history/{far_batch}{suffix}")
        absent = api("GET", f"/v1/payroll-history/20260101T000000-000000000000{suffix}")
        _same_answer(hidden, absent, far_batch, "20260101T000000-000000000000")
    # And the import's customer: hidden customer 300 like absent customer 999
    import_body = {"feedType": "Timerack Feed", "weekendBill": WEEKEND_BILL.isoformat(), "fileName": "f.csv"}
    hidden = api("POST", "/v1/timecard-imports", {**import_body, "parentCustomerId": 300, "content": ""})
    absent = api("POST", "/v1/timecard-imports", {**import_body, "parentCustomerId": 999, "content": ""})
    _same_answer(hidden, absent, "300", "999")


def _fill(body: Any, key: str) -> Any:
    if isinstance(body, dict):
        return {k: _fill(v, key) for k, v in body.items()}
    if isinstance(body, list):
        return [_fill(v, key) for v in body]
    return body.format(key) if isinstance(body, str) and "{}" in body else body


# ---------------------------------------------------------------- data stored before the fix


def _legacy_batch(services: Any, batch_id: str, client_key: str = "ACME-1") -> None:
    """A batch record as the code before the fix wrote it: indexed by the key string, no customer id."""
    from timerack_bridge.adapters.dynamodb.payroll_history import _compress_results

    result = AssignmentResult(assignment_id=999, status="error", error="not found", employee_id=501)
    legacy = BatchResult(
        batch_id=batch_id,
        client_key=client_key,
        submitted_at=datetime(2026, 1, 5, tzinfo=UTC),
        counts=BatchCounts(assignments=1, created=0, replaced=0, errors=1),
        results=[result],
    )
    services.admin.put(
        {
            "pk": f"BATCH#{batch_id}",
            "sk": "BATCH",
            "gsi1pk": f"HISTORY#{client_key}",
            "gsi1sk": f"{legacy.submitted_at.isoformat()}#{batch_id}",
            "batch_id": batch_id,
            "client_key": client_key,
            "submitted_at": legacy.submitted_at.isoformat(),
            "counts": legacy.counts.model_dump(mode="json"),
            "source": "timerack",
            "status": "completed",
            "hasErrors": True,
            "results_gz": _compress_results(legacy.results),
        }
    )


def _legacy_settings(services: Any, client_key: str, *recipients: str) -> None:
    services.admin.put(
        {
            "pk": f"CLIENTKEY#{client_key}",
            "sk": "PAYROLLEMAIL",
            "client_key": client_key,
            "recipients": list(recipients),
            "receive_error_file": True,
        }
    )


def test_data_stored_before_the_fix_follows_the_customer_holding_its_key(
    api: ApiCall, services: Any, agency: Agency, far: str
) -> None:
    # Given a legacy batch and legacy settings under ACME-1, and a new batch
    _legacy_batch(services, "20260105T000000-legacy000001")
    _legacy_settings(services, "ACME-1", "old@acme.example")
    new = send_with_error(api)
    # Then Acme (which holds ACME-1) sees both batches, newest first, and its settings
    assert history_ids(api, "ACME-1") == [new, "20260105T000000-legacy000001"]
    assert api("GET", "/v1/clients/ACME-1/payroll-email").json["recipients"] == ["old@acme.example"]
    # When Acme's key changes and ACME-1 goes to the far customer
    change_key(api, 100, "ACME-2")
    give_key_to_far_customer(api, "ACME-1")
    # Then the legacy data is still Acme's, under its new key
    assert history_ids(api, "ACME-2") == [new, "20260105T000000-legacy000001"]
    assert api("GET", "/v1/clients/ACME-2/payroll-email").json["recipients"] == ["old@acme.example"]
    assert api("GET", "/v1/payroll-history/20260105T000000-legacy000001").status == 200
    # And the far customer's rep sees none of it
    assert history_ids(api, "ACME-1", far) == []
    assert api("GET", "/v1/clients/ACME-1/payroll-email", principal=far).json["recipients"] == []
    assert api("GET", "/v1/payroll-history/20260105T000000-legacy000001", principal=far).status == 404


def test_history_pages_run_from_new_batches_into_legacy_ones(api: ApiCall, services: Any, agency: Agency) -> None:
    # Given two legacy batches and two new ones
    _legacy_batch(services, "20260105T000000-legacy000001")
    _legacy_batch(services, "20260106T000000-legacy000002")
    services.admin.put(  # the second legacy one is a day newer
        {**services.admin.get("BATCH#20260106T000000-legacy000002", "BATCH"), "gsi1sk": "2026-01-06#x"}
    )
    newer = [send_with_error(api), send_with_error(api)]
    # When the rep pages through three at a time
    first = api("GET", "/v1/payroll-history?clientKey=ACME-1&limit=3").json
    second = api("GET", f"/v1/payroll-history?clientKey=ACME-1&limit=3&nextToken={first['nextToken']}").json
    # Then every batch shows once, newest first
    listed = [b["batchId"] for b in first["items"] + second["items"]]
    assert listed == [newer[1], newer[0], "20260106T000000-legacy000002", "20260105T000000-legacy000001"]
    assert second.get("nextToken") is None


# ---------------------------------------------------------------- the export


class Recording:
    name = "recording"
    longest_send_seconds = 1.0

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, payload: Any) -> None:
        self.sent.append(payload)


class NoPending:
    def claim(self, customer_id: int) -> bool:
        return True

    def release(self, customer_id: int) -> None:
        pass


def queued_messages(services: Any, lane: str) -> list[Any]:
    """Every message on the lane, received once (the test's worker), as deliveries."""
    from timerack_bridge.adapters.export_queue import delivery_of

    queue = services.export_queue
    url = queue.urls.of(lane)
    found = []
    while True:
        got = queue.client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])
        if not got.get("Messages"):
            return found
        for message in got["Messages"]:
            record = {**message, "body": message["Body"], "receiptHandle": message["ReceiptHandle"]}
            found.append(delivery_of({**record, "attributes": message["Attributes"], "eventSourceARN": url}))


def work(services: Any, lane: str, leases: Any = None) -> tuple[Recording, list[Any]]:
    """The export worker on every message of the lane: what it sent, and each client's outcome."""
    from timerack_bridge.adapters.dynamodb.export_lease import ExportLock
    from timerack_bridge.logic.export_worker import handle_delivery

    destination, outcomes = Recording(), []
    for delivery in queued_messages(services, lane):
        outcomes.append(
            handle_delivery(
                delivery,
                source=services.admin,
                destination=destination,
                leases=leases or ExportLock(services.admin.client, services.admin.table_name),
                runs=services.export_runs,
                queue=services.export_queue,
                pending=NoPending(),
                max_receives=5,
            )
        )
    return destination, outcomes


def test_a_child_customer_that_still_holds_a_key_is_not_exported_as_a_client(services: Any, agency: Agency) -> None:
    from timerack_bridge.logic.export_dispatch import dispatch

    # Given child customer 101 holding a key from before the fix (written as the old code allowed)
    child = Customer(customer_id=101, name="Acme Plant 2", parent_customer_id=100, hierarchy_node_id="branch")
    item = {
        "pk": "CUSTOMER#101",
        "sk": "CUSTOMER",
        **child.model_dump(mode="json"),
        "timerack_client_key": "PLANT-2",
        "gsi1pk": "CLIENTS",
        "gsi1sk": "PLANT-2",
        "gsi2pk": "UNDER#100",
        "gsi2sk": "CUSTOMER#000000000101",
    }
    services.admin.put(item)
    services.admin.put({"pk": "CLIENTKEY#PLANT-2", "sk": "CLAIM", "owner": "101"})
    # When every client is exported, and PLANT-2 alone
    queue, runs = services.export_queue, services.export_runs
    every = dispatch(services.admin, queue, runs, trigger="hourly", destination="recording")
    alone = dispatch(services.admin, queue, runs, trigger="invoke", destination="recording", client_key="PLANT-2")
    destination, _ = work(services, "bulk")
    # Then only the Primary Customers are sent; the child is reported skipped with its reason, in both runs
    assert sorted(p.client_key for p in destination.sent) == ["ACME-1", "GLOBEX-1"]
    assert not queued_messages(services, "priority")
    for run in (every, alone):
        outcomes, _ = runs.run_outcomes(run.run_id, limit=10, next_token=None)
        skipped = [o for o in outcomes if o.customer_id == 101]
        assert len(skipped) == 1
        assert skipped[0].status == "skipped-not-primary" and "child customer" in (skipped[0].error or "")


def test_the_export_lease_belongs_to_the_customer_not_the_key(services: Any, agency: Agency, api: ApiCall) -> None:
    from timerack_bridge.adapters.dynamodb.export_lease import ExportLock
    from timerack_bridge.logic.export_dispatch import dispatch

    # Given another export holding Acme's lease
    lock = ExportLock(services.admin.client, services.admin.table_name)
    assert lock.acquire(100) is not None
    # When Acme's key changes and someone exports it under the new key
    change_key(api, 100, "ACME-2")
    queued_messages(services, "priority")  # the change's own update: not this test's
    dispatch(
        services.admin,
        services.export_queue,
        services.export_runs,
        trigger="invoke",
        destination="recording",
        client_key="ACME-2",
    )
    destination, outcomes = work(services, "priority", leases=lock)
    # Then the held lease still covers it: nothing is sent while the other export runs
    assert destination.sent == []
    assert [o.status for o in outcomes] == ["skipped-locked"]
