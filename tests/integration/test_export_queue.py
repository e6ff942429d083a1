"""The export through its queue, on moto: the dispatcher queues one message per client, workers send them.

The queues are moto's SQS with their dead-letter queues (`create_export_queues`, as the stack makes
them); `Line` (tests/integration/test_export.py) hands each received message to the worker as Lambda's
event source does, and makes a message the worker hands back visible at once, recording what it asked.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration import test_export as shared
from tests.integration.test_export import TODAY, Line, RecordingDestination, recorded_calls
from timerack_bridge.adapters.dynamodb.admin import AdminStore
from timerack_bridge.adapters.dynamodb.export_runs import ExportRunStore
from timerack_bridge.domain.entities import Customer
from timerack_bridge.domain.export_models import ClientOutcome, ExportMessage, ExportPayload, ExportRun
from timerack_bridge.exceptions import NotFoundError
from timerack_bridge.logic.ports import Lane

MANY = 250

# The export line's fixtures (tests/integration/test_export.py); pytest finds them by their names here.
dynamodb, store, clients = shared.dynamodb, shared.store, shared.clients
worker_env, line, dispatcher = shared.worker_env, shared.line, shared.dispatcher


def put_client(store: AdminStore, customer: Customer) -> None:
    """A customer with a key, written as one item (a key's claim is not what these tests are about)."""
    item = {
        "pk": f"CUSTOMER#{customer.customer_id}",
        "sk": "CUSTOMER",
        **customer.model_dump(mode="json"),
        "gsi1pk": "CLIENTS",
        "gsi1sk": customer.timerack_client_key,
        "gsi2pk": "UNDER#0" if customer.parent_customer_id is None else f"UNDER#{customer.parent_customer_id}",
        "gsi2sk": f"CUSTOMER#{customer.customer_id:012d}",
    }
    store.put(item)
    store.put({"pk": f"CLIENTKEY#{customer.timerack_client_key}", "sk": "CLAIM", "owner": str(customer.customer_id)})


@pytest.fixture
def many_clients(store: AdminStore) -> list[int]:
    ids = [10_000 + n for n in range(MANY)]
    for n, customer_id in enumerate(ids):
        node = "branch" if n % 2 else "other"
        put_client(
            store,
            Customer(customer_id=customer_id, name=f"C{n}", hierarchy_node_id=node, timerack_client_key=f"C-{n:04d}"),
        )
    return ids


class Spy:
    """The dispatcher's source, queue and run store, with what each was asked, in order."""

    def __init__(self, line: Line) -> None:
        self.line, self.events, self.yielded = line, list[tuple[Any, ...]](), 0
        self.refuse: set[int] = set()

    # the source
    def iter_clients(self) -> Iterator[Customer]:
        for customer in self.line.store.iter_clients():
            self.yielded += 1
            yield customer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.line.store, name)

    # the queue
    def send(self, messages: Sequence[ExportMessage], *, lane: Lane, delay_seconds: int = 0) -> list[ExportMessage]:
        self.events.append(("send", len(messages), lane, self.yielded))
        refused = [m for m in messages if m.customer_id in self.refuse]
        queued = self.line.queue.send([m for m in messages if m not in refused], lane=lane)
        return queued + refused

    def retry_later(self, delivery: Any, seconds: int) -> None:
        raise AssertionError("the dispatcher never hands a message back")


class SpyRuns(ExportRunStore):
    def __init__(self, line: Line, events: list[tuple[Any, ...]]) -> None:
        super().__init__(line.dynamodb, "main")
        self.events = events

    def add_outcomes(self, run_id: str, outcomes: Sequence[ClientOutcome]) -> None:
        self.events.append(("add", len(outcomes), {o.status for o in outcomes}))
        super().add_outcomes(run_id, outcomes)

    def dispatched(self, run_id: str) -> None:
        self.events.append(("dispatched",))
        super().dispatched(run_id)


def spied_dispatch(line: Line, spy: Spy, **kwargs: Any) -> Any:
    from timerack_bridge.logic.export_dispatch import dispatch

    runs = SpyRuns(line, spy.events)
    kwargs.setdefault("trigger", "hourly")
    kwargs.setdefault("as_of", TODAY)
    return dispatch(spy, spy, runs, destination="recording", **kwargs)


def waiting(line: Line, lane: str = "bulk") -> int:
    url = getattr(line.urls, lane)
    attributes = line.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


# ------------------------------------------------------------------ the dispatcher


def test_every_client_is_queued_page_by_page_one_message_each(line: Line, many_clients: list[int]) -> None:
    spy = Spy(line)
    # When the hourly run dispatches 250 clients
    summary = spied_dispatch(line, spy)
    # Then their outcomes are recorded (queued) before their messages go, 100 clients at a time,
    # each hundred sent as soon as it is read: the clients are never all held at once
    assert spy.events == [
        ("add", 100, {"queued"}),
        ("send", 100, "bulk", 100),
        ("add", 100, {"queued"}),
        ("send", 100, "bulk", 200),
        ("add", 50, {"queued"}),
        ("send", 50, "bulk", 250),
        ("dispatched",),
    ]
    # And one message per client is on the bulk lane, ten to a SendMessageBatch
    sent = line.sqs.sent(line.urls.bulk)
    assert sorted(m.customer_id for m in sent) == many_clients
    assert {(m.run_id, m.trigger, m.as_of, m.change) for m in sent} == {(summary.run_id, "hourly", TODAY, False)}
    assert line.sqs.batches == [10] * 25 and waiting(line) == MANY
    # And the run says so: every client queued, the run running
    assert (summary.state, summary.counts.queued, summary.trigger) == ("running", MANY, "hourly")
    recorded = line.outcomes(summary.run_id)
    assert len(recorded) == MANY and {o.status for o in recorded.values()} == {"queued"}
    assert line.summary(summary.run_id).counts == summary.counts


def test_the_dispatcher_costs_far_less_than_one_dynamodb_call_per_client(line: Line, many_clients: list[int]) -> None:
    with recorded_calls(line.dynamodb) as calls:
        summary = line.dispatch()
    assert summary.counts.queued == MANY
    # The clients' Query pages, the run's Put, 25 outcomes to a BatchWriteItem and one count update per
    # hundred clients, the run marked dispatched: no call per client
    names = [name for name, _ in calls]
    assert set(names) <= {"Query", "PutItem", "BatchWriteItem", "UpdateItem"}
    assert len(names) / MANY < 0.1, names


def test_a_child_customer_holding_a_key_is_skipped_not_primary(line: Line, clients: list[str]) -> None:
    # Given child customer 101 holding a key from before that was refused (written as the old code allowed)
    put_client(
        line.store,
        Customer(
            customer_id=101,
            name="Acme Plant 2",
            parent_customer_id=100,
            hierarchy_node_id="branch",
            timerack_client_key="PLANT-2",
        ),
    )
    # When every client is dispatched, and PLANT-2 alone
    every = line.dispatch()
    alone = line.dispatch(client_key="PLANT-2", trigger="invoke")
    # Then the child is not queued; its outcome says why
    assert sorted(m.customer_id for m in line.sqs.sent(line.urls.bulk)) == [100, 200, 300]
    assert line.sqs.sent(line.urls.priority) == []
    for run in (every, alone):
        skipped = line.outcomes(run.run_id)["PLANT-2"]
        assert skipped.status == "skipped-not-primary" and "child customer" in (skipped.error or "")
    assert (every.counts.queued, every.counts.skipped_not_primary) == (3, 1)
    # A run with nothing queued is finished as soon as it is dispatched
    assert (alone.state, alone.counts.queued) == ("finished", 0) and alone.finished_at is not None


def test_an_unknown_client_key_is_refused_before_a_run_is_recorded(line: Line, clients: list[str]) -> None:
    with pytest.raises(NotFoundError, match="NOPE-1"):
        line.dispatch(client_key="NOPE-1", trigger="invoke")
    assert line.runs.list_runs(limit=10, next_token=None) == ([], None)
    assert line.sqs.sent(line.urls.priority) == [] and line.sqs.sent(line.urls.bulk) == []


def test_a_reps_run_queues_the_clients_they_see(line: Line, clients: list[str]) -> None:
    summary = line.dispatch(trigger="update-from-tempworks", include=lambda c: c.hierarchy_node_id == "branch")
    assert sorted(line.outcomes(summary.run_id)) == ["ACME-1", "INITECH-1"]
    assert sorted(m.customer_id for m in line.sqs.sent(line.urls.bulk)) == [100, 300]


def test_a_client_the_queue_refuses_is_recorded_failed(line: Line, clients: list[str]) -> None:
    spy = Spy(line)
    spy.refuse = {200}
    summary = spied_dispatch(line, spy)
    outcome = line.outcomes(summary.run_id)["GLOBEX-1"]
    assert outcome.status == "failed" and (outcome.error or "").startswith("could not be queued")
    assert (summary.counts.queued, summary.counts.failed) == (2, 1)
    assert line.summary(summary.run_id).counts == summary.counts


def test_a_queue_that_cannot_be_reached_fails_the_dispatch_and_its_clients(line: Line, clients: list[str]) -> None:
    spy = Spy(line)

    def unreachable(*args: Any, **kwargs: Any) -> list[ExportMessage]:
        raise ClientError({"Error": {"Code": "AWS.SimpleQueueService.NonExistentQueue"}}, "SendMessageBatch")

    spy.send = unreachable  # type: ignore[method-assign]
    with pytest.raises(ClientError):
        spied_dispatch(line, spy)
    ((record,), _) = line.runs.list_runs(limit=10, next_token=None)
    summary = record.summary()
    # The run is not left "queuing": its clients are failed, with the reason
    assert (summary.state, summary.counts.failed, summary.counts.queued) == ("finished", 3, 0)
    outcome = line.outcomes(summary.run_id)["ACME-1"]
    assert outcome.status == "failed" and "NonExistentQueue" in (outcome.error or "")


# ------------------------------------------------------------------ the workers


def test_the_workers_export_each_client_and_the_run_finishes(line: Line, clients: list[str]) -> None:
    summary = line.dispatch()
    assert line.summary(summary.run_id).state == "running"
    # When the workers take the messages
    assert line.drain() == 3
    # Then every client is exported once, on its first attempt, and the run is finished
    assert sorted(p.client_key for p in line.destination.sent) == clients
    outcomes = line.outcomes(summary.run_id)
    assert {(o.status, o.attempts) for o in outcomes.values()} == {("exported", 1)}
    assert (outcomes["ACME-1"].employees, outcomes["ACME-1"].assignments) == (3, 3)
    done = line.summary(summary.run_id)
    assert (done.state, done.counts.exported, done.counts.queued) == ("finished", 3, 0)
    assert done.finished_at is not None and done.finished_at >= done.started_at
    # And no lease is left behind
    assert line.store.get("EXPORTLOCK", "CUSTOMER#100") is None


def test_a_failing_client_is_retried_with_backoff_then_dead_lettered(line: Line, clients: list[str]) -> None:
    line.destination.failing = {"GLOBEX-1"}
    summary = line.dispatch()
    # When the workers take the messages until none is left (each retry made visible at once)
    seen: list[tuple[str, int, str | None]] = []
    states = set()
    while line.work() is not None:
        globex = line.outcomes(summary.run_id)["GLOBEX-1"]
        if globex.attempts and (globex.status, globex.attempts, globex.error) not in seen:
            seen.append((globex.status, globex.attempts, globex.error))
        states.add(line.summary(summary.run_id).state)
    # Then GLOBEX-1 was tried five times, each handed back with a growing delay, each attempt recorded
    refused = "Timerack did not accept the export of client GLOBEX-1: HTTP 503"
    assert seen == [
        ("queued", 1, f"attempt 1 of 5 failed: {refused}; tried again in 30 s"),
        ("queued", 2, f"attempt 2 of 5 failed: {refused}; tried again in 60 s"),
        ("queued", 3, f"attempt 3 of 5 failed: {refused}; tried again in 120 s"),
        ("queued", 4, f"attempt 4 of 5 failed: {refused}; tried again in 240 s"),
        ("failed", 5, f"{refused}; moved to the dead-letter queue after 5 attempts"),
    ]
    assert line.sqs.asked == [30, 60, 120, 240, 0]
    # And the message really is in the dead-letter queue, the others were exported
    assert [(m.customer_id, m.run_id) for m in line.dead_letters()] == [(200, summary.run_id)]
    assert waiting(line) == 0
    assert sorted(p.client_key for p in line.destination.sent) == ["ACME-1", "INITECH-1"]
    done = line.summary(summary.run_id)
    assert (done.state, done.counts.exported, done.counts.failed, done.counts.queued) == ("finished", 2, 1, 0)
    assert "running" in states


def test_the_backoff_doubles_up_to_fifteen_minutes(line: Line, clients: list[str]) -> None:
    from timerack_bridge.adapters.dynamodb.export_lease import ExportLock
    from timerack_bridge.logic.export_worker import RetryLater, handle_delivery
    from timerack_bridge.logic.ports import Delivery

    asked: list[int] = []

    class Queue:
        def send(self, messages: Any, *, lane: Any, delay_seconds: int = 0) -> list[ExportMessage]:
            raise AssertionError("a worker queues nothing")

        def retry_later(self, delivery: Delivery, seconds: int) -> None:
            asked.append(seconds)

    line.destination.failing = {"ACME-1"}
    run = line.dispatch(client_key="ACME-1")
    message = ExportMessage(run_id=run.run_id, customer_id=100, trigger="invoke", as_of=TODAY)
    # When a queue that allows ten receives hands the message out ten times
    for receive_count in range(1, 11):
        with pytest.raises(RetryLater):
            handle_delivery(
                Delivery(message, receive_count, "receipt", line.urls.priority),
                source=line.store,
                destination=line.destination,
                leases=ExportLock(line.dynamodb, "main"),
                runs=line.runs,
                queue=Queue(),
                pending=line.pending,
                max_receives=10,
            )
    # Then the waits double up to SQS's longest delay, and the last attempt goes to the dead-letter queue
    assert asked == [30, 60, 120, 240, 480, 900, 900, 900, 900, 0]
    final = line.outcomes(run.run_id)["ACME-1"]
    assert (final.status, final.attempts) == ("failed", 10)
    assert (final.error or "").endswith("; moved to the dead-letter queue after 10 attempts")


def test_two_workers_on_one_client_one_sends_the_other_skips_or_retries_later(line: Line, clients: list[str]) -> None:
    manual = line.dispatch(client_key="ACME-1", trigger="invoke")
    inner: dict[str, Any] = {}

    class Busy(RecordingDestination):
        def send(self, payload: ExportPayload) -> None:
            if payload.client_key == "ACME-1" and not inner:
                # While ACME-1 is being sent, the hourly tick queues every client and a second worker
                # takes ACME-1's hourly message; then a PIN override is saved and a third takes that
                inner["hourly"] = line.dispatch()
                inner["hourly reply"] = line.work("bulk")
                inner["change"] = line.queue_change(100, "ACME-1")
                inner["change reply"] = line.work("priority")
            super().send(payload)

    busy = Busy()
    assert line.work("priority", busy) == {"batchItemFailures": []}
    assert [p.client_key for p in busy.sent] == ["ACME-1"] and line.destination.sent == []
    assert line.outcomes(manual.run_id)["ACME-1"].status == "exported"
    # Then the hourly message is done with: the client was being sent that very moment
    assert inner["hourly reply"] == {"batchItemFailures": []}
    hourly = line.outcomes(inner["hourly"].run_id)["ACME-1"]
    assert (hourly.status, hourly.error) == ("skipped-locked", "another export of this client was running")
    # And the change is tried again 30 s later (it may hold data the running send does not)
    assert len(inner["change reply"]["batchItemFailures"]) == 1 and line.sqs.asked == [30]
    change = line.outcomes(inner["change"])["ACME-1"]
    assert (change.status, change.error) == (
        "queued",
        "another export of this client was running; tried again in 30 s",
    )
    # When the workers go on
    line.drain("bulk")
    line.drain("priority")
    # Then the change is sent when next received: its first attempt (waiting for the lease was none)
    assert [p.client_key for p in line.destination.sent] == ["GLOBEX-1", "INITECH-1", "ACME-1"]
    change = line.outcomes(inner["change"])["ACME-1"]
    assert (change.status, change.attempts, change.error) == ("exported", 1, None)
    counts = line.summary(inner["hourly"].run_id).counts
    assert (counts.exported, counts.skipped_locked, counts.queued) == (2, 1, 0)
    assert {line.summary(r).state for r in (manual.run_id, inner["hourly"].run_id, inner["change"])} == {"finished"}
    # The pending update was begun at each delivery of the change, before its data was read, and ended
    # once it was sent
    assert line.pending.log == [("claim", 100), ("begin", 100), ("begin", 100), ("end", 100)]


def test_a_second_hourly_run_while_the_first_drains_never_sends_a_client_twice_at_once(
    line: Line, clients: list[str]
) -> None:
    # Given two hourly runs queued before any worker ran (the first still draining at the next tick)
    first, second = line.dispatch(), line.dispatch()
    sending: set[str] = set()
    overlaps: list[str] = []
    others: list[bool] = []

    class Watching(RecordingDestination):
        def send(self, payload: ExportPayload) -> None:
            key = payload.client_key
            if key in sending:
                overlaps.append(key)
            sending.add(key)
            try:
                if not others:
                    # While the first worker sends, another worker takes every other message
                    others.append(True)
                    line.drain("bulk", self)
                super().send(payload)
            finally:
                sending.discard(key)

    watching = Watching()
    assert line.work("bulk", watching) == {"batchItemFailures": []}
    assert line.drain() == 0
    # Then no client was ever sent twice at once; the second run left the client in flight to the first
    assert overlaps == []
    assert {o.status for o in line.outcomes(first.run_id).values()} == {"exported"}
    assert {k: o.status for k, o in line.outcomes(second.run_id).items()} == {
        "ACME-1": "skipped-locked",
        "GLOBEX-1": "exported",
        "INITECH-1": "exported",
    }
    assert sorted(p.client_key for p in watching.sent) == ["ACME-1", "GLOBEX-1", "GLOBEX-1", "INITECH-1", "INITECH-1"]
    assert {line.summary(r.run_id).state for r in (first, second)} == {"finished"}


def test_a_change_saved_while_its_client_is_sent_queues_the_client_once_more_after(
    line: Line, clients: list[str]
) -> None:
    reads: list[tuple[str, int]] = line.pending.log
    line.dispatch(client_key="GLOBEX-1", trigger="invoke")

    class Logged(AdminStore):
        def get_customer(self, customer_id: int, *, consistent: bool = False) -> Customer | None:
            reads.append(("read", customer_id))
            return super().get_customer(customer_id, consistent=consistent)

    class ClaimDuringSend(RecordingDestination):
        def send(self, payload: ExportPayload) -> None:
            # A change of ACME-1 saved while a client is sent: it queues another update once the marker is free
            reads.append(("claimed again", int(line.pending.claim(100))))
            super().send(payload)

    line.store = Logged(line.dynamodb, "main")
    change = line.queue_change(100, "ACME-1")
    assert line.work("priority", ClaimDuringSend()) == {"batchItemFailures": []}  # the invoke of GLOBEX-1
    assert line.work("priority", ClaimDuringSend()) == {"batchItemFailures": []}  # the change of ACME-1
    assert line.outcomes(change)["ACME-1"].status == "exported"
    # An hourly or direct message leaves the markers alone; a change begins its client's update before it
    # reads the client, and the changes saved while it sends (not queued then) queue the client once more
    assert reads == [
        ("claim", 100),
        ("read", 200),
        ("claimed again", 0),
        ("begin", 100),
        ("read", 100),
        ("claimed again", 0),
        ("end", 100),
    ]
    again = line.sqs.sent(line.urls.priority)[-1]
    assert (again.customer_id, again.trigger, again.change) == (100, "change", True) and again.run_id != change
    assert line.summary(again.run_id).counts.queued == 1
    # That update sends the client with the changes; nothing saved meanwhile: the pending update ends there
    assert line.work("priority") == {"batchItemFailures": []}
    assert line.outcomes(again.run_id)["ACME-1"].status == "exported"
    assert reads[-3:] == [("begin", 100), ("read", 100), ("end", 100)] and line.pending.held == set()


def test_a_change_frees_the_stored_pending_marker_for_the_next_change(line: Line, clients: list[str]) -> None:
    from timerack_bridge.adapters.dynamodb.export_pending import PendingExportStore

    line.pending = PendingExportStore(line.dynamodb, "main")  # type: ignore[assignment]
    change = line.queue_change(100, "ACME-1")
    # While the change waits on the queue, later changes of the client queue nothing (the debounce)
    assert line.pending.claim(100) is False
    assert line.work("priority") == {"batchItemFailures": []}
    assert line.outcomes(change)["ACME-1"].status == "exported"
    # Once a worker took it, the next change queues the client again
    assert line.pending.claim(100) is True


def test_a_bad_message_is_a_batch_item_failure_not_a_crash(line: Line, clients: list[str]) -> None:
    from functions.export_worker.handler import handle_records

    run = line.dispatch(client_key="ACME-1")
    for body in ("not json", '{"runId": "r", "customerId": "one hundred", "trigger": "hourly"}'):
        line.sqs.send_message(QueueUrl=line.urls.priority, MessageBody=body)
    # One event with the good message and the two bad ones
    records = [record for _ in range(3) for record in line.records("priority")]
    response = handle_records({"Records": records}, line.adapters())
    bad = sorted(r["messageId"] for r in records if "runId" not in r["body"] or "one hundred" in r["body"])
    assert sorted(f["itemIdentifier"] for f in response["batchItemFailures"]) == bad and len(bad) == 2
    # And the good one was exported all the same
    assert line.outcomes(run.run_id)["ACME-1"].status == "exported"
    # A message of a run that is not recorded (expired, or never written) fails its record too
    unknown = ExportMessage(run_id="0" * 32, customer_id=300, trigger="hourly", as_of=TODAY)
    assert line.queue.send([unknown], lane="bulk") == []
    (failure,) = line.work("bulk")["batchItemFailures"]  # type: ignore[index]
    assert failure["itemIdentifier"]


def test_a_client_that_changed_since_it_was_queued_is_skipped(line: Line, clients: list[str]) -> None:
    run = line.dispatch()
    # Before the workers run, Acme loses its key and Initech becomes a child customer of Globex
    line.store.put_customer(Customer(customer_id=100, name="Acme", hierarchy_node_id="branch"))
    line.store.put_customer(
        Customer(
            customer_id=300,
            name="Initech",
            parent_customer_id=200,
            hierarchy_node_id="branch",
            timerack_client_key="INITECH-1",
        )
    )
    line.drain()
    outcomes = line.outcomes(run.run_id)
    # The recorded key and node are kept, so the admin can still find the client
    assert outcomes["ACME-1"].status == "skipped-not-client" and outcomes["ACME-1"].hierarchy_node_id == "branch"
    assert outcomes["INITECH-1"].status == "skipped-not-primary"
    assert outcomes["GLOBEX-1"].status == "exported"
    counts = line.summary(run.run_id).counts
    assert (counts.exported, counts.skipped_not_client, counts.skipped_not_primary, counts.queued) == (1, 1, 1, 0)


def test_a_worker_costs_a_handful_of_calls_per_client(line: Line, clients: list[str]) -> None:
    line.dispatch()
    with recorded_calls(line.dynamodb) as recorded:
        line.drain()
    calls = [name for name, _ in recorded]
    # Per client: the outcome as recorded and the customer (GetItem each), its lease (Put, Delete), one
    # Query per customer of its tree (ACME-1 has a child and a grandchild), the employees (BatchGetItem),
    # the outcome settled (GetItem, TransactWriteItems)
    assert calls.count("GetItem") == 3 * 3
    assert calls.count("PutItem") == calls.count("DeleteItem") == 3
    assert calls.count("Query") == 3 + 2
    assert calls.count("BatchGetItem") == 3 and calls.count("TransactWriteItems") == 3
    assert len(calls) == 9 + 3 + 3 + 5 + 3 + 3


def test_the_worker_timeout_covers_the_slowest_https_send_with_default_settings() -> None:
    from timerack_bridge.adapters.destinations import destination_for
    from timerack_bridge.adapters.export_queue import VISIBILITY_TIMEOUT_SECONDS, WORKER_TIMEOUT_SECONDS
    from timerack_bridge.config import ExportWorkerSettings

    settings = ExportWorkerSettings.from_env(
        {
            "TABLE_NAME": "main",
            "EXPORT_DESTINATION": "https",
            "TIMERACK_API_URL": "https://timerack.example.com/import",
            "TIMERACK_API_TOKEN_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:t",
            "EXPORT_QUEUE_URL": "q",
            "EXPORT_PRIORITY_QUEUE_URL": "p",
        }
    )
    longest = destination_for(settings).longest_send_seconds
    # The slowest send (every attempt timing out, with its backoff) ends with time left to read the
    # client's data and record the outcome; the lease and the visibility outlast the worker
    assert longest + 30 <= WORKER_TIMEOUT_SECONDS
    assert settings.export_lease_seconds > WORKER_TIMEOUT_SECONDS
    assert VISIBILITY_TIMEOUT_SECONDS >= 6 * WORKER_TIMEOUT_SECONDS


# ------------------------------------------------------------------ the run records


class Interleaving:
    """The table's client; before its first TransactWriteItems, `meanwhile` runs (another worker's settle)."""

    def __init__(self, client: Any, meanwhile: Any) -> None:
        self.client, self.meanwhile, self.transactions = client, meanwhile, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def transact_write_items(self, **kwargs: Any) -> Any:
        self.transactions += 1
        if self.transactions == 1:
            self.meanwhile()  # may raise: then this transaction is the one refused
        return self.client.transact_write_items(**kwargs)


def started_run(runs: ExportRunStore, *outcomes: ClientOutcome) -> str:
    run = ExportRun(started_at=datetime.now(UTC), destination="recording", trigger="hourly")
    runs.start(run)
    runs.add_outcomes(run.run_id, outcomes)
    runs.dispatched(run.run_id)
    return run.run_id


def outcome(status: Any, node: str = "branch", customer_id: int = 100, **extra: Any) -> ClientOutcome:
    return ClientOutcome(
        client_key=f"C-{customer_id}", customer_id=customer_id, hierarchy_node_id=node, status=status, **extra
    )


def test_counts_per_node_stay_right_under_a_retried_settle(dynamodb: Any) -> None:
    plain = ExportRunStore(dynamodb, "main")
    run_id = started_run(plain, outcome("queued"), outcome("queued", "other", 200))
    # When a worker's settle (exported) reads the outcome, then another settles it failed before it writes
    client = Interleaving(dynamodb, lambda: plain.settle(run_id, outcome("failed", error="last attempt")))
    ExportRunStore(client, "main").settle(run_id, outcome("exported", attempts=2))
    # Then the write was refused and tried again on what is stored now: nothing counted twice
    assert client.transactions == 2
    record = plain.get_run(run_id)
    assert record is not None
    branch, other = record.counts_by_node["branch"], record.counts_by_node["other"]
    assert (branch.queued, branch.failed, branch.exported) == (0, 0, 1)
    assert (other.queued, other.exported) == (1, 0)
    # A settle repeated (a message delivered twice) counts once; a client that moved node moves its count
    plain.settle(run_id, outcome("exported", attempts=2))
    plain.settle(run_id, outcome("exported", "branch", 200))
    record = plain.get_run(run_id)
    assert record is not None
    assert record.counts_by_node["branch"].exported == 2
    assert "other" not in record.counts_by_node  # a rep of that node no longer sees the run at all
    summary = record.summary()
    assert (summary.state, summary.counts.exported, summary.counts.queued) == ("finished", 2, 0)
    assert record.summary(lambda node: node == "other").counts.exported == 0


def test_a_settle_is_tried_again_when_dynamodb_refuses_the_transaction(dynamodb: Any) -> None:
    plain = ExportRunStore(dynamodb, "main")
    run_id = started_run(plain, outcome("queued"))

    def conflict() -> None:
        # Another transaction on the same items at the same moment (DynamoDB's TransactionConflict)
        raise ClientError(
            {
                "Error": {"Code": "TransactionCanceledException"},
                "CancellationReasons": [{"Code": "TransactionConflict"}],
            },
            "TransactWriteItems",
        )

    client = Interleaving(dynamodb, conflict)
    pauses: list[float] = []
    ExportRunStore(client, "main", pause=pauses.append).settle(run_id, outcome("exported"))
    assert client.transactions == 2 and len(pauses) == 1
    record = plain.get_run(run_id)
    assert record is not None
    assert (record.counts_by_node["branch"].exported, record.counts_by_node["branch"].queued) == (1, 0)


def test_a_run_recorded_before_the_queue_is_still_read(dynamodb: Any) -> None:
    store = AdminStore(dynamodb, "main")
    store.put(
        {
            "pk": "EXPORTRUN#old",
            "sk": "RUN",
            "gsi2pk": "EXPORTRUNS",
            "gsi2sk": "2026-11-01T10:00:00.000000Z#old",
            "run_id": "old",
            "trigger": "hourly",
            "destination": "https",
            "started_at": "2026-11-01T10:00:00+00:00",
            "finished_at": "2026-11-01T10:05:00+00:00",
            "counts_by_node": {"branch": {"exported": 2, "failed": 1, "skipped_locked": 0, "skipped_not_primary": 0}},
        }
    )
    record = ExportRunStore(dynamodb, "main").get_run("old")
    assert record is not None
    summary = record.summary()
    assert (summary.state, summary.counts.exported, summary.counts.failed) == ("finished", 2, 1)
    assert summary.finished_at == datetime(2026, 11, 1, 10, 5, tzinfo=UTC)
    (listed,), _ = ExportRunStore(dynamodb, "main").list_runs(limit=5, next_token=None)
    assert listed.run_id == "old"


# ------------------------------------------------------------------ holes a review found (each test failed first)


class FailingCalls:
    """A boto3 client whose calls named `operation` raise `code` on the calls `failing` numbers (1 the first)."""

    def __init__(self, client: Any, operation: str, code: str, failing: Any) -> None:
        self.client, self.operation, self.code, self.failing, self.calls = client, operation, code, failing, 0

    def __getattr__(self, name: str) -> Any:
        if name != self.operation:
            return getattr(self.client, name)

        def call(**kwargs: Any) -> Any:
            self.calls += 1
            if self.calls in self.failing:
                raise ClientError({"Error": {"Code": self.code, "Message": "injected"}}, self.operation)
            return getattr(self.client, name)(**kwargs)

        return call


class RecordingQueue:
    """The worker's queue: what it handed back (seconds) and what it queued (message, lane, delay)."""

    def __init__(self) -> None:
        self.asked: list[int] = []
        self.sent: list[tuple[ExportMessage, str, int]] = []

    def send(self, messages: Sequence[ExportMessage], *, lane: Lane, delay_seconds: int = 0) -> list[ExportMessage]:
        self.sent += [(message, lane, delay_seconds) for message in messages]
        return []

    def retry_later(self, delivery: Any, seconds: int) -> None:
        self.asked.append(seconds)


def deliver(line: Line, message: ExportMessage, receive_count: int, **given: Any) -> Any:
    """One delivery handed to the worker's logic as its handler hands it."""
    from timerack_bridge.adapters.dynamodb.export_lease import ExportLock
    from timerack_bridge.logic.export_worker import handle_delivery
    from timerack_bridge.logic.ports import Delivery

    parts: dict[str, Any] = {
        "source": line.store,
        "destination": line.destination,
        "leases": ExportLock(line.dynamodb, "main"),
        "runs": line.runs,
        "queue": RecordingQueue(),
        "pending": line.pending,
        "max_receives": MAX_RECEIVES_HERE,
        "today": TODAY,
    }
    return handle_delivery(Delivery(message, receive_count, "receipt", line.urls.priority), **(parts | given))


MAX_RECEIVES_HERE = 5


def test_the_run_items_writes_are_tried_again_when_they_meet_a_settles_transaction(dynamodb: Any) -> None:
    # Every other UpdateItem of the run item meets a worker's settle (DynamoDB: TransactionConflictException)
    for code in ("TransactionConflictException", "ProvisionedThroughputExceededException", "ThrottlingException"):
        client = FailingCalls(dynamodb, "update_item", code, failing={1, 3})
        pauses: list[float] = []
        runs = ExportRunStore(client, "main", pause=pauses.append)
        run_id = started_run(runs, outcome("queued"), outcome("queued", customer_id=200))
        # Then the counts and the dispatch were written all the same, each after a pause
        record = runs.get_run(run_id)
        assert record is not None and record.dispatched_at is not None
        assert (record.summary().state, record.summary().counts.queued) == ("running", 2)
        assert client.calls == 4 and len(pauses) == 2


def test_a_dispatch_that_fails_part_way_ends_the_run_and_records_the_clients_not_queued(
    line: Line, many_clients: list[int]
) -> None:
    from timerack_bridge.logic.export_dispatch import dispatch

    spy = Spy(line)

    class Failing(SpyRuns):
        adds = 0

        def add_outcomes(self, run_id: str, outcomes: Sequence[ClientOutcome]) -> None:
            self.adds += 1
            if self.adds == 2:  # the second hundred: DynamoDB fails for good
                raise ClientError({"Error": {"Code": "InternalServerError"}}, "UpdateItem")
            super().add_outcomes(run_id, outcomes)

    with pytest.raises(ClientError):
        dispatch(spy, spy, Failing(line, spy.events), trigger="hourly", destination="recording", as_of=TODAY)
    ((record,), _) = line.runs.list_runs(limit=10, next_token=None)
    summary = record.summary()
    # The run is not left "queuing": the first hundred are queued, the others failed with the reason
    assert (summary.state, summary.counts.queued, summary.counts.failed) == ("running", 100, 150)
    assert waiting(line) == 100
    failed = [o for o in line.outcomes(summary.run_id).values() if o.status == "failed"]
    assert len(failed) == 150 and all((o.error or "").startswith("could not be queued") for o in failed)


def test_a_batch_sqs_fails_fails_only_its_own_clients(line: Line, many_clients: list[int]) -> None:
    from timerack_bridge.adapters.export_queue import SqsExportQueue
    from timerack_bridge.logic.export_dispatch import dispatch

    # SQS fails the second SendMessageBatch of each run (after its own retries)
    flaky = FailingCalls(line.sqs, "send_message_batch", "InternalError", failing={2})
    queue = SqsExportQueue(flaky, line.urls, workers=1)
    messages = [ExportMessage(run_id="r", customer_id=n, trigger="hourly") for n in range(25)]
    assert [m.customer_id for m in queue.send(messages, lane="priority")] == list(range(10, 20))
    # And a dispatch fails those ten clients only: the others were sent and stay queued
    flaky.calls = 0
    summary = dispatch(line.store, queue, line.runs, trigger="hourly", destination="recording", as_of=TODAY)
    assert (summary.counts.queued, summary.counts.failed) == (MANY - 10, 10)
    assert waiting(line) == MANY - 10
    assert line.summary(summary.run_id).counts == summary.counts


def test_a_settle_never_undoes_a_final_outcome_with_an_older_attempt(dynamodb: Any) -> None:
    runs = ExportRunStore(dynamodb, "main")
    run_id = started_run(runs, outcome("queued"), outcome("queued", customer_id=200))
    # Client 100 exported on its first attempt; late deliveries of the same message come after
    runs.settle(run_id, outcome("exported", attempts=1))
    for late in (
        outcome("queued", attempts=0, error="another export of this client was running; tried again in 30 s"),
        outcome("skipped-locked", attempts=0, error="another export of this client was running"),
        outcome("queued", attempts=1, error="attempt 1 of 5 failed: HTTP 503; tried again in 30 s"),
        outcome("failed", attempts=1, error="HTTP 503; moved to the dead-letter queue after 1 attempts"),
    ):
        runs.settle(run_id, late)
    # Client 200 dead-lettered on its fifth; a late fourth does not revive it, a redriven sixth does
    runs.settle(run_id, outcome("failed", customer_id=200, attempts=5, error="moved to the dead-letter queue"))
    runs.settle(run_id, outcome("queued", customer_id=200, attempts=4, error="attempt 4 of 5 failed"))
    assert runs.outcome(run_id, 200).status == "failed"  # type: ignore[union-attr]
    runs.settle(run_id, outcome("exported", customer_id=200, attempts=6))
    kept = {o.customer_id: (o.status, o.attempts) for o in runs.run_outcomes(run_id, limit=10, next_token=None)[0]}
    assert kept == {100: ("exported", 1), 200: ("exported", 6)}
    counts = runs.get_run(run_id).summary().counts  # type: ignore[union-attr]
    assert (counts.exported, counts.queued, counts.failed, counts.skipped_locked) == (2, 0, 0, 0)


def test_a_duplicate_delivery_of_an_exported_message_sends_nothing_again(line: Line, clients: list[str]) -> None:
    from functions.export_worker.handler import handle_records

    run = line.dispatch(client_key="ACME-1")
    (record,) = line.records("priority")
    # SQS hands the same message out twice (at-least-once): the first worker exports it
    assert handle_records({"Records": [record]}, line.adapters()) == {"batchItemFailures": []}
    # Then the second one is done with at once: nothing sent again, the outcome as it was
    assert handle_records({"Records": [record]}, line.adapters()) == {"batchItemFailures": []}
    assert [p.client_key for p in line.destination.sent] == ["ACME-1"]
    acme = line.outcomes(run.run_id)["ACME-1"]
    assert (acme.status, acme.attempts) == ("exported", 1)


def test_a_change_waiting_for_the_lease_backs_off_is_no_attempt_and_never_ends_skipped_locked(
    line: Line, clients: list[str]
) -> None:
    from timerack_bridge.adapters.dynamodb.export_lease import ExportLock
    from timerack_bridge.logic.export_worker import RetryLater

    change = line.queue_change(100, "ACME-1")
    message = ExportMessage(run_id=change, customer_id=100, trigger="change", change=True)
    lock = ExportLock(line.dynamodb, "main")
    holder = lock.acquire(100)  # another export of ACME-1 holds the lease all along
    assert holder
    queue = RecordingQueue()
    # When the change is received five times (the queue's last receive), the lease held each time
    for receive in range(1, 5):
        with pytest.raises(RetryLater):
            deliver(line, message, receive, queue=queue)
    last = deliver(line, message, 5, queue=queue)
    # Then it waited longer each time, and on its last receive it was queued again as a new message
    assert queue.asked == [30, 60, 120, 240]
    assert [(m, lane, delay) for m, lane, delay in queue.sent] == [(message, "priority", 480)]
    assert (last.status, last.attempts) == ("queued", 0)
    acme = line.outcomes(change)["ACME-1"]
    assert (acme.status, acme.attempts, acme.error) == (
        "queued",
        0,
        "another export of this client was running; tried again in 480 s",
    )
    # When the lease is free at the new message's first receive, that is its first attempt
    assert lock.release(100, holder)
    assert deliver(line, message, 1, queue=queue).status == "exported"
    acme = line.outcomes(change)["ACME-1"]
    assert (acme.status, acme.attempts) == ("exported", 1)
    assert [p.client_key for p in line.destination.sent] == ["ACME-1"]


def test_a_message_delivered_days_late_exports_todays_window(line: Line, clients: list[str]) -> None:
    from datetime import timedelta

    from tests.integration.test_export import place

    # An assignment that starts in 13 days: in the window as of today, not as of three days ago
    place(line.store, 2002, 20, 200, start_date=TODAY + timedelta(days=13))
    run = line.dispatch(client_key="GLOBEX-1")
    redriven = ExportMessage(run_id=run.run_id, customer_id=200, trigger="hourly", as_of=TODAY - timedelta(days=3))
    assert deliver(line, redriven, 1).status == "exported"
    (sent,) = line.destination.sent
    assert sorted(a.assignment_id for a in sent.assignments) == [2001, 2002]


def test_a_failure_that_can_never_succeed_is_final_at_once(line: Line, clients: list[str]) -> None:
    from timerack_bridge.adapters.destinations import PermanentDestinationError

    class Unauthorized(RecordingDestination):
        def send(self, payload: ExportPayload) -> None:
            raise PermanentDestinationError(f"Timerack refused the export of client {payload.client_key}: HTTP 401")

    run = line.dispatch(client_key="ACME-1")
    # The record is done with (deleted, not handed back): trying again cannot help
    assert line.work("priority", Unauthorized()) == {"batchItemFailures": []}
    assert line.sqs.asked == [] and waiting(line, "priority") == 0 and line.dead_letters("priority") == []
    acme = line.outcomes(run.run_id)["ACME-1"]
    assert (acme.status, acme.attempts) == ("failed", 1)
    assert (acme.error or "").startswith("Timerack refused the export of client ACME-1: HTTP 401; not retried")
    # Stored data that fails validation is just as final
    line.store.put({**line.store.get("EMPLOYEE#20", "EMPLOYEE"), "birth_date": "not a date"})
    run = line.dispatch(client_key="GLOBEX-1")
    assert line.work("priority") == {"batchItemFailures": []}
    globex = line.outcomes(run.run_id)["GLOBEX-1"]
    assert globex.status == "failed" and "stored data failed validation at" in (globex.error or "")
    assert "not retried" in (globex.error or "") and "not a date" not in (globex.error or "")


def test_an_unreadable_message_is_handed_back_at_once(line: Line, clients: list[str]) -> None:
    from functions.export_worker.handler import handle_records

    line.sqs.send_message(QueueUrl=line.urls.priority, MessageBody="not json")
    (record,) = line.records("priority")
    response = handle_records({"Records": [record]}, line.adapters())
    # Reported failed, and visible again at once: the queue dead-letters it after its receives, in minutes
    assert response == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    assert line.sqs.asked == [0]


def test_a_last_attempt_whose_outcome_cannot_be_written_still_goes_to_the_dead_letter_queue(
    line: Line, clients: list[str]
) -> None:
    class Flaky(ExportRunStore):
        settles = 0

        def settle(self, run_id: str, outcome: ClientOutcome) -> None:
            self.settles += 1
            if self.settles == 1:
                raise ClientError({"Error": {"Code": "InternalServerError"}}, "TransactWriteItems")
            super().settle(run_id, outcome)

    line.destination.failing = {"ACME-1"}
    run = line.dispatch(client_key="ACME-1")
    # When the last attempt fails and its outcome cannot be written at first
    reply = line.work_with("priority", runs=Flaky(line.dynamodb, "main"), max_receives=1)
    # Then the message is handed back at once all the same (the queue moves it to the dead-letter queue)
    assert reply is not None and len(reply["batchItemFailures"]) == 1 and line.sqs.asked == [0]
    # And the run says the client failed
    acme = line.outcomes(run.run_id)["ACME-1"]
    assert acme.status == "failed" and "dead-letter queue" in (acme.error or "")


def test_the_hourly_dispatcher_first_fails_the_clients_whose_export_was_lost(
    line: Line, clients: list[str], dispatcher: Any
) -> None:
    from datetime import timedelta

    from tests.conftest import load_event

    now = datetime.now(UTC)

    def runs_at(moment: datetime) -> ExportRunStore:
        return ExportRunStore(line.dynamodb, "main", clock=lambda: moment)

    def run_at(moment: datetime, *outcomes: ClientOutcome) -> str:
        run = ExportRun(started_at=moment, destination="recording", trigger="hourly")
        runs_at(moment).start(run)
        runs_at(moment).add_outcomes(run.run_id, outcomes)
        runs_at(moment).dispatched(run.run_id)
        return run.run_id

    three_hours_ago = now - timedelta(hours=3)
    # A run of three hours ago: one client exported, one never heard of again (its worker died on its
    # last receive), one retried half an hour ago (still in its retries)
    lost = run_at(three_hours_ago, outcome("queued"), outcome("queued", customer_id=200), outcome("queued", "b", 300))
    runs_at(three_hours_ago).settle(lost, outcome("exported", attempts=1))
    runs_at(now - timedelta(minutes=30)).settle(lost, outcome("queued", "b", 300, attempts=2, error="attempt 2"))
    # A run of half an hour ago (still draining), and one of two days ago (older than the sweep looks)
    recent = run_at(now - timedelta(minutes=30), outcome("queued"))
    old = run_at(now - timedelta(days=2), outcome("queued"))
    # When the hourly event arrives
    dispatcher(load_event("export-scheduled.json"))
    # Then the lost client is failed, with where to look; nothing else changed
    found = {o.customer_id: o for o in line.runs.run_outcomes(lost, limit=10, next_token=None)[0]}
    assert (found[100].status, found[200].status, found[300].status) == ("exported", "failed", "queued")
    assert "dead-letter queue" in (found[200].error or "") and found[200].attempts == 0
    assert line.summary(lost).counts.failed == 1
    assert {line.summary(r).state for r in (recent, old)} == {"running"}
