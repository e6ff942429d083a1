"""The export on moto: what one client's export sends, the destinations, the client lease, the functions.

The queue between the dispatcher and the workers is real (moto's SQS, with its dead-letter queues):
`Line` puts the dispatcher, the queues and the workers together as the stack does, and hands each
received message to the worker as Lambda's event source would. tests/integration/test_export_queue.py
drives the flow through it (retries, the dead-letter queue, runs side by side, the run records).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.conftest import cold_start, load_event
from timerack_bridge.adapters.destinations import (
    DestinationError,
    ExportDestination,
    HttpsDestination,
    OutboxDestination,
    S3Destination,
)
from timerack_bridge.adapters.dynamodb import tables
from timerack_bridge.adapters.dynamodb.admin import AdminStore
from timerack_bridge.adapters.dynamodb.export_lease import ExportLock
from timerack_bridge.adapters.dynamodb.export_runs import ExportRunStore
from timerack_bridge.adapters.export_queue import MAX_RECEIVES, QueueUrls, SqsExportQueue, create_export_queues
from timerack_bridge.domain.entities import Assignment, Customer, Employee
from timerack_bridge.domain.export_models import ClientOutcome, ExportMessage, ExportPayload, ExportRunSummary
from timerack_bridge.domain.pin import ssn_last_four
from timerack_bridge.logic.export_worker import export_client

TODAY = date(2026, 11, 16)
# Every PIN and SSN fragment of the seeded employees: none may appear in a log line.
SECRETS = ("72345", "126789", "904417", "111-11", "123-45", "6789")


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("TABLE_NAME", "main")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        tables.create_tables(client, "main", "idem")
        yield client


@pytest.fixture
def store(dynamodb: Any) -> AdminStore:
    return AdminStore(dynamodb, "main")


def person(employee_id: int, birth: date | None, ssn: str | None, override: str | None = None) -> Employee:
    return Employee(
        employee_id=employee_id,
        first_name="Emp",
        last_name=str(employee_id),
        birth_date=birth,
        ssn_last4=ssn_last_four(ssn) if ssn else None,
        hierarchy_node_id="branch",
        pin_override=override,
    )


def place(store: AdminStore, assignment_id: int, employee_id: int, customer_id: int, **extra: Any) -> None:
    store.put_assignment(
        Assignment(
            assignment_id=assignment_id,
            employee_id=employee_id,
            customer_id=customer_id,
            hierarchy_node_id="branch",
            status=extra.pop("status", "Active"),
            start_date=extra.pop("start_date", date(2026, 1, 5)),
            job_title="Picker",
            **extra,
        )
    )


@pytest.fixture
def clients(store: AdminStore) -> list[str]:
    """Acme (with a child and a grandchild customer), Globex, Initech; each with employees of its own."""
    store.put_customer(Customer(customer_id=100, name="Acme", hierarchy_node_id="branch", timerack_client_key="ACME-1"))
    store.put_customer(
        Customer(customer_id=101, name="Acme Plant 2", parent_customer_id=100, hierarchy_node_id="branch")
    )
    store.put_customer(Customer(customer_id=102, name="Acme Dock", parent_customer_id=101, hierarchy_node_id="branch"))
    store.put_customer(
        Customer(customer_id=200, name="Globex", hierarchy_node_id="other", timerack_client_key="GLOBEX-1")
    )
    store.put_customer(
        Customer(customer_id=300, name="Initech", hierarchy_node_id="branch", timerack_client_key="INITECH-1")
    )
    store.put_customer(Customer(customer_id=900, name="No Timerack", hierarchy_node_id="branch"))
    for employee in (
        person(7, date(1990, 4, 7), "111-11-2345"),  # article: 72345
        person(9, date(1985, 12, 12), "123-45-6789"),  # article: 126789
        person(11, date(1991, 2, 3), "222-22-3333", override="904417"),
        person(12, None, None),  # no usable PIN
        person(20, date(1980, 5, 20), "333-33-4444"),
        person(30, date(1970, 8, 30), "444-44-5555"),
        person(40, date(1999, 9, 9), "555-55-6666"),
    ):
        store.put_employee(employee)
    place(store, 1001, 7, 100)
    place(store, 1002, 9, 101)  # child customer
    place(store, 1003, 11, 102)  # grandchild customer
    place(store, 1004, 12, 100)
    place(store, 1005, 7, 100, status="Cancelled")
    place(store, 1006, 9, 100, status="Deleted/Mistakenly Entered")
    place(store, 1007, 7, 100, end_date=date(2026, 11, 1))  # ended 15 days ago
    place(store, 1008, 9, 100, start_date=date(2026, 12, 1))  # starts in 15 days
    place(store, 2001, 20, 200)
    place(store, 3001, 30, 300)
    place(store, 9001, 40, 900)
    return ["ACME-1", "GLOBEX-1", "INITECH-1"]


@dataclass
class RecordingDestination(ExportDestination):
    name: str = "recording"
    sent: list[ExportPayload] = field(default_factory=list)
    failing: set[str] = field(default_factory=set)

    def send(self, payload: ExportPayload) -> None:
        if payload.client_key in self.failing:
            raise DestinationError(f"Timerack did not accept the export of client {payload.client_key}: HTTP 503")
        self.sent.append(payload)


# ------------------------------------------------------------------ the line: dispatcher, queues, workers


class ForcedVisibilitySqs:
    """The SQS client the export sees: a ChangeMessageVisibility is recorded as asked, then made with 0 s,
    so the test receives the message again at once (how long SQS waits is SQS's business, not the test's)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.asked: list[int] = []
        self.batches: list[int] = []  # the entries of each SendMessageBatch
        self._sent: dict[str, list[ExportMessage]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def send_message_batch(self, **kwargs: Any) -> Any:
        self.batches.append(len(kwargs["Entries"]))
        bodies = [ExportMessage.model_validate_json(entry["MessageBody"]) for entry in kwargs["Entries"]]
        self._sent.setdefault(kwargs["QueueUrl"], []).extend(bodies)
        return self.client.send_message_batch(**kwargs)

    def sent(self, url: str) -> list[ExportMessage]:
        """Every message sent to the queue, in order."""
        return list(self._sent.get(url, []))

    def change_message_visibility(self, **kwargs: Any) -> Any:
        self.asked.append(kwargs["VisibilityTimeout"])
        return self.client.change_message_visibility(**{**kwargs, "VisibilityTimeout": 0})


@dataclass
class FakePending:
    """The debounce's pending markers (the PendingExports port), with what happened in order."""

    log: list[tuple[str, int]] = field(default_factory=list)
    held: set[int] = field(default_factory=set)
    dirty: set[int] = field(default_factory=set)

    def claim(self, customer_id: int) -> bool:
        if customer_id in self.held:
            self.dirty.add(customer_id)  # a change saved while the update is pending or being exported
            return False
        self.held.add(customer_id)
        self.log.append(("claim", customer_id))
        return True

    def release(self, customer_id: int) -> None:
        self.held.discard(customer_id)
        self.log.append(("release", customer_id))

    def begin(self, customer_id: int) -> None:
        self.held.add(customer_id)
        self.dirty.discard(customer_id)
        self.log.append(("begin", customer_id))

    def end(self, customer_id: int) -> bool:
        self.log.append(("end", customer_id))
        if customer_id in self.dirty:
            self.dirty.discard(customer_id)
            return False
        self.held.discard(customer_id)
        return True


@dataclass
class Line:
    """The export line on moto, as the stack wires it: the dispatcher queues, each worker takes one message."""

    dynamodb: Any
    store: AdminStore
    sqs: ForcedVisibilitySqs
    urls: QueueUrls
    destination: RecordingDestination = field(default_factory=RecordingDestination)
    pending: FakePending = field(default_factory=FakePending)

    @property
    def runs(self) -> ExportRunStore:
        return ExportRunStore(self.dynamodb, "main")

    @property
    def queue(self) -> SqsExportQueue:
        return SqsExportQueue(self.sqs, self.urls, workers=1)

    def dispatch(self, *, trigger: Any = "hourly", as_of: date | None = TODAY, **kwargs: Any) -> ExportRunSummary:
        from timerack_bridge.logic.export_dispatch import dispatch

        return dispatch(
            self.store, self.queue, self.runs, trigger=trigger, destination="recording", as_of=as_of, **kwargs
        )

    def queue_change(self, customer_id: int, client_key: str, node: str = "branch") -> str:
        """A saved change's one-client run, queued as the API queues it (on the priority lane)."""
        from timerack_bridge.domain.export_models import ExportRun

        run = ExportRun(started_at=time_now(), destination="recording", trigger="change")
        outcome = ClientOutcome(client_key=client_key, customer_id=customer_id, hierarchy_node_id=node, status="queued")
        assert self.pending.claim(customer_id)
        self.runs.start(run)
        self.runs.add_outcomes(run.run_id, [outcome])
        self.runs.dispatched(run.run_id)
        message = ExportMessage(run_id=run.run_id, customer_id=customer_id, trigger="change", change=True)
        assert self.queue.send([message], lane="priority") == []
        return run.run_id

    def adapters(self, destination: ExportDestination | None = None, **overrides: Any) -> Any:
        from functions.export_worker.handler import WorkerAdapters

        parts: dict[str, Any] = {
            "admin_store": self.store,
            "destination": destination or self.destination,
            "queue": self.queue,
            "runs": self.runs,
            "leases": ExportLock(self.dynamodb, "main"),
            "pending": self.pending,
            "max_receives": MAX_RECEIVES,
            "today": lambda: TODAY,
            "change_delay_seconds": 0,  # a client queued once more is at once on the lane (the tests read it)
        }
        return WorkerAdapters(**(parts | overrides))

    def records(self, lane: str = "bulk", url: str | None = None) -> list[dict[str, Any]]:
        """At most one message of the lane as Lambda's SQS event source hands it over (one record)."""
        url = url or getattr(self.urls, lane)
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        for _ in range(3):  # a message made visible this very millisecond is visible from the next one
            received = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["All"], WaitTimeSeconds=0
            ).get("Messages", [])
            if received:
                return [lambda_record(message, arn) for message in received]
            time.sleep(0.002)
        return []

    def work(self, lane: str = "bulk", destination: ExportDestination | None = None) -> dict[str, Any] | None:
        """One worker invocation on the next message of the lane (None: nothing to receive); a record the
        worker did not report failed is deleted, as the event source deletes it."""
        return self.work_with(lane, destination)

    def work_with(
        self, lane: str = "bulk", destination: ExportDestination | None = None, **overrides: Any
    ) -> dict[str, Any] | None:
        """`work`, with some of the worker's adapters replaced (`runs=...`, `max_receives=...`)."""
        from functions.export_worker.handler import handle_records

        records = self.records(lane)
        if not records:
            return None
        response: dict[str, Any] = handle_records({"Records": records}, self.adapters(destination, **overrides))
        failed = {failure["itemIdentifier"] for failure in response["batchItemFailures"]}
        for record in records:
            if record["messageId"] not in failed:
                self.sqs.delete_message(QueueUrl=getattr(self.urls, lane), ReceiptHandle=record["receiptHandle"])
        return response

    def drain(self, lane: str = "bulk", destination: ExportDestination | None = None, limit: int = 60) -> int:
        """Workers take the lane's messages until none is left; how many invocations that took."""
        for invocations in range(limit):
            if self.work(lane, destination) is None:
                return invocations
        raise AssertionError(f"the {lane} lane still had messages after {limit} invocations")

    def dead_letters(self, lane: str = "bulk") -> list[ExportMessage]:
        url = self.sqs.get_queue_url(QueueName=f"exports-{lane}-dlq")["QueueUrl"]
        received = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return [ExportMessage.model_validate_json(message["Body"]) for message in received]

    def outcomes(self, run_id: str) -> dict[str, ClientOutcome]:
        found: dict[str, ClientOutcome] = {}
        token: str | None = None
        while True:
            page, token = self.runs.run_outcomes(run_id, limit=200, next_token=token)
            found |= {outcome.client_key: outcome for outcome in page}
            if token is None:
                return found

    def summary(self, run_id: str) -> ExportRunSummary:
        record = self.runs.get_run(run_id)
        assert record is not None
        return record.summary()


def time_now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def lambda_record(message: dict[str, Any], arn: str) -> dict[str, Any]:
    """A received SQS message as one record of Lambda's SQS event."""
    attributes = message.get("Attributes", {})
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
            "SentTimestamp": attributes.get("SentTimestamp", "0"),
            "SenderId": attributes.get("SenderId", "AIDAEXAMPLE"),
            "ApproximateFirstReceiveTimestamp": attributes.get("ApproximateFirstReceiveTimestamp", "0"),
        },
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": "us-east-1",
    }


@pytest.fixture
def worker_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """What the worker's and the dispatcher's cold starts read (their adapters are handed in by the tests)."""
    monkeypatch.setenv("TABLE_NAME", "main")
    monkeypatch.setenv("EXPORT_DESTINATION", "outbox")
    monkeypatch.setenv("EXPORT_OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("EXPORT_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/exports-bulk")
    monkeypatch.setenv("EXPORT_PRIORITY_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/exports-priority")


@pytest.fixture
def line(dynamodb: Any, store: AdminStore, worker_env: None) -> Line:
    sqs = ForcedVisibilitySqs(boto3.client("sqs", region_name="us-east-1"))
    urls = create_export_queues(sqs.client, "exports")
    return Line(dynamodb, store, sqs, urls)


# ------------------------------------------------------------------ one client's export


def test_a_client_is_exported_with_its_child_customers_and_window(store: AdminStore, clients: list[str]) -> None:
    destination = RecordingDestination()
    # When each client is exported (as a worker exports the client of its message)
    outcomes = [export_client(store, destination, customer, today=TODAY) for customer in store.iter_clients()]
    # Then each is sent once with the assignments of its whole customer tree in the window
    assert [(o.client_key, o.status) for o in outcomes] == [(k, "exported") for k in clients]
    acme = next(p for p in destination.sent if p.client_key == "ACME-1")
    assert [(a.assignment_id, a.customer_id) for a in acme.assignments] == [
        (1001, 100),
        (1002, 101),
        (1003, 102),
    ]
    assert {e.employee_id: e.pin for e in acme.employees} == {7: "72345", 9: "126789", 11: "904417"}
    assert [(p.type, p.employee_id) for p in acme.problems] == [("missing-pin", 12)]
    outcome = outcomes[0]
    assert (outcome.employees, outcome.assignments, len(outcome.problems)) == (3, 3, 1)
    # And the outcome names employees by id and never holds a PIN
    body = outcome.model_dump_json(by_alias=True)
    assert '"employeeId":12' in body and not any(secret in body for secret in SECRETS)


# ------------------------------------------------------------------ the client lease


@contextmanager
def recorded_calls(dynamodb: Any) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Every DynamoDB call the client makes inside the block: (operation, parameters)."""
    calls: list[tuple[str, dict[str, Any]]] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        calls.append((model.name, params))

    dynamodb.meta.events.register("before-call.dynamodb", record)
    try:
        yield calls
    finally:
        dynamodb.meta.events.unregister("before-call.dynamodb", record)


def test_client_leases_expire_and_are_released_only_by_their_owner(dynamodb: Any, store: AdminStore) -> None:
    clock = [1_800_000_000.0]
    lock = ExportLock(dynamodb, "main", lock_seconds=60, clock=lambda: clock[0])
    # Taking a lease is one conditional Put (no whole-run lease to check any more)
    with recorded_calls(dynamodb) as calls:
        owner = lock.acquire(100)
    assert owner and [name for name, _ in calls] == ["PutItem"]
    assert lock.acquire(100) is None
    item = store.get("EXPORTLOCK", "CUSTOMER#100")
    assert item["expiresAt"] == 1_800_000_060 and item["owner"] == owner
    with lock.held(100) as taken:
        assert taken is False
    # After the expiry another worker takes it over; the first owner can no longer release it
    clock[0] += 61
    taker = lock.acquire(100)
    assert taker and taker != owner
    assert lock.release(100, owner) is False
    assert lock.release(100, taker) is True
    assert store.get("EXPORTLOCK", "CUSTOMER#100") is None
    # A held lease is given back when the block ends, however it ends
    with pytest.raises(RuntimeError), lock.held(200) as taken:
        assert taken is True
        raise RuntimeError("the send blew up")
    assert store.get("EXPORTLOCK", "CUSTOMER#200") is None


def test_the_lease_outlasts_the_worker_by_default(dynamodb: Any) -> None:
    from timerack_bridge.adapters.export_queue import WORKER_TIMEOUT_SECONDS
    from timerack_bridge.config import ExportWorkerSettings

    settings = ExportWorkerSettings.from_env(
        {
            "TABLE_NAME": "main",
            "EXPORT_DESTINATION": "outbox",
            "EXPORT_OUTBOX_DIR": "/tmp/outbox",
            "EXPORT_QUEUE_URL": "q",
            "EXPORT_PRIORITY_QUEUE_URL": "p",
        }
    )
    # A worker never outlives its client's lease: the lease cannot expire under a send in progress
    assert settings.export_lease_seconds > WORKER_TIMEOUT_SECONDS


def test_a_lease_that_cannot_be_given_back_is_left_to_expire(dynamodb: Any, store: AdminStore) -> None:
    from botocore.exceptions import ClientError

    class RefusingDeletes:
        def __init__(self, client: Any) -> None:
            self.client = client

        def __getattr__(self, name: str) -> Any:
            return getattr(self.client, name)

        def delete_item(self, **kwargs: Any) -> Any:
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "DeleteItem")

    lock = ExportLock(RefusingDeletes(dynamodb), "main", lock_seconds=60)
    # The export inside the block is done: a failed release must not turn it into a failure
    with lock.held(100) as taken:
        assert taken
    assert store.get("EXPORTLOCK", "CUSTOMER#100") is not None  # expires on its own


# ------------------------------------------------------------------ HTTPS with retries


class FlakyTimerack:
    """A local stand-in for Timerack; `script[clientKey]` says how each successive request is answered."""

    def __init__(self, script: dict[str, list[str]], hang_seconds: float) -> None:
        self.script = script
        self.hang_seconds = hang_seconds
        self.requests: list[dict[str, Any]] = []
        self.closing = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                key = self.headers.get("X-Timerack-Client-Key", "")
                outer.requests.append({"key": key, "auth": self.headers.get("Authorization"), "body": json.loads(body)})
                answers = outer.script.get(key, ["ok"])
                answer = answers.pop(0) if len(answers) > 1 else answers[0]
                if answer == "hang":
                    outer.closing.wait(outer.hang_seconds)
                    return
                status = 200 if answer == "ok" else int(answer)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if status == 429:
                    self.send_header("Retry-After", "1")
                if status == 302:
                    self.send_header("Location", "/elsewhere")
                self.end_headers()
                self.wfile.write(b'{"ok": true}' if status == 200 else b'{"error": "no"}')

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/tempworks/import"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FlakyTimerack:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()

    def attempts(self, key: str) -> int:
        return sum(1 for r in self.requests if r["key"] == key)


def send_one(store: AdminStore, destination: ExportDestination, customer: Customer) -> str:
    """One client's export as its worker makes it: its status, or why the destination refused it."""
    try:
        return export_client(store, destination, customer, today=TODAY).status
    except DestinationError as exc:
        return str(exc)


def test_https_retries_500_and_timeout_then_succeeds_and_isolates_failures(
    store: AdminStore, clients: list[str]
) -> None:
    # Given Timerack answers Acme 500, then times out, then OK; Globex always 500; Initech a 400
    script = {"ACME-1": ["500", "hang", "ok"], "GLOBEX-1": ["500"], "INITECH-1": ["400"]}
    delays: list[float] = []
    with FlakyTimerack(script, hang_seconds=2) as timerack:
        destination = HttpsDestination(
            timerack.url,
            lambda: "token-1",
            connect_timeout=1,
            read_timeout=0.2,
            max_attempts=3,
            backoff_base=0.01,
            backoff_max=0.05,
            sleep=lambda s: (delays.append(s), time.sleep(s)),
        )
        started = time.monotonic()
        outcomes = {
            customer.timerack_client_key: send_one(store, destination, customer) for customer in store.iter_clients()
        }
        elapsed = time.monotonic() - started
    # Then Acme got through on its third try, Globex failed after three, Initech after one (no retry on 4xx)
    assert outcomes["ACME-1"] == "exported" and timerack.attempts("ACME-1") == 3
    assert timerack.attempts("GLOBEX-1") == 3
    assert outcomes["GLOBEX-1"] == (
        "Timerack did not accept the export of client GLOBEX-1 after 3 attempts (last: HTTP 500)"
    )
    assert timerack.attempts("INITECH-1") == 1
    assert "HTTP 400" in outcomes["INITECH-1"]
    # And every request carried the client key header, the bearer token and the client's own payload
    assert all(r["auth"] == "Bearer token-1" and r["body"]["clientKey"] == r["key"] for r in timerack.requests)
    acme_body = next(r["body"] for r in timerack.requests if r["key"] == "ACME-1")
    assert {e["employeeId"]: e["pin"] for e in acme_body["employees"]} == {
        7: "72345",
        9: "126789",
        11: "904417",
    }
    # Backoff grew with the attempt, stayed within its cap, and the test stayed fast
    assert len(delays) == 4 and all(0.005 <= d <= 0.05 for d in delays)
    assert elapsed < 2


def _payload(client_key: str = "ACME-1") -> ExportPayload:
    return ExportPayload(
        client_key=client_key,
        customer_id=100,
        customer_name="Acme",
        generated_at="2026-11-16T14:00:00Z",
        employees=[],
        assignments=[],
        problems=[],
    )


def test_https_gives_up_after_read_timeouts_and_refused_connections() -> None:
    with FlakyTimerack({"ACME-1": ["hang"]}, hang_seconds=2) as timerack:
        hanging = HttpsDestination(timerack.url, "t", read_timeout=0.1, max_attempts=2, backoff_base=0.01)
        with pytest.raises(DestinationError, match=r"after 2 attempts \(last: TimeoutError\)"):
            hanging.send(_payload())
        assert timerack.attempts("ACME-1") == 2
    closed = HttpsDestination(timerack.url, "t", connect_timeout=0.5, max_attempts=2, backoff_base=0.01)
    with pytest.raises(DestinationError, match="ConnectionRefusedError"):
        closed.send(_payload())


def test_https_waits_as_retry_after_asks_up_to_its_cap_and_follows_no_redirect() -> None:
    # Given Timerack answers 429 with Retry-After: 1 (then OK), and another client a redirect
    delays: list[float] = []
    with FlakyTimerack({"ACME-1": ["429", "ok"], "GLOBEX-1": ["302"]}, hang_seconds=1) as timerack:
        destination = HttpsDestination(
            timerack.url, "t", max_attempts=3, backoff_base=0.01, backoff_max=0.05, sleep=delays.append
        )
        destination.send(_payload())
        # Then the 429 was retried after the Retry-After wait, capped at backoff_max
        assert timerack.attempts("ACME-1") == 2 and delays == [0.05]
        # And a redirect is refused at once: a POST is never silently re-sent elsewhere
        with pytest.raises(DestinationError, match="HTTP 302"):
            destination.send(_payload("GLOBEX-1"))
        assert timerack.attempts("GLOBEX-1") == 1 and delays == [0.05]


def test_https_refusals_that_can_never_succeed_are_permanent() -> None:
    from timerack_bridge.adapters.destinations import TOKEN_PLACEHOLDER, PermanentDestinationError

    script = {"ACME-1": ["400"], "GLOBEX-1": ["401"], "INITECH-1": ["403"], "HOOLI-1": ["408"], "UMBRELLA-1": ["429"]}
    with FlakyTimerack(script, hang_seconds=1) as timerack:
        destination = HttpsDestination(timerack.url, "t", max_attempts=2, backoff_base=0.01, sleep=lambda s: None)
        # A request Timerack refuses as such (bad request, bad or missing token, forbidden) is final at once
        for key in ("ACME-1", "GLOBEX-1", "INITECH-1"):
            with pytest.raises(PermanentDestinationError, match=f"client {key}: HTTP 4"):
                destination.send(_payload(key))
            assert timerack.attempts(key) == 1
        # A timeout or "too many requests" may pass later: not permanent
        for key in ("HOOLI-1", "UMBRELLA-1"):
            with pytest.raises(DestinationError) as raised:
                destination.send(_payload(key))
            assert not isinstance(raised.value, PermanentDestinationError)
    # The placeholder token the stack creates is never sent, and never will be: permanent
    placeholder = HttpsDestination("https://timerack.example.com/import", TOKEN_PLACEHOLDER)
    with pytest.raises(PermanentDestinationError, match="token is not set"):
        placeholder.send(_payload())


def test_the_longest_https_send_counts_the_longest_wait_between_attempts() -> None:
    destination = HttpsDestination(
        "https://timerack.example.com/import", "t", connect_timeout=5, read_timeout=30, max_attempts=4, backoff_max=8
    )
    # A Retry-After makes each of the 3 waits as long as backoff_max, whatever the backoff would be
    assert destination.longest_send_seconds == 4 * (5 + 30) + 3 * 8


def test_https_refuses_plain_http_to_a_remote_host() -> None:
    from timerack_bridge.config import ConfigurationError, ExportWorkerSettings

    with pytest.raises(ValueError, match="https"):
        HttpsDestination("http://timerack.example.com/import", "t")
    HttpsDestination("https://timerack.example.com/import", "t")
    # ... and the function refuses it at its cold start, naming the variable
    environment = {
        "TABLE_NAME": "main",
        "EXPORT_DESTINATION": "https",
        "TIMERACK_API_TOKEN_SECRET_ARN": "arn:x",
        "EXPORT_QUEUE_URL": "q",
        "EXPORT_PRIORITY_QUEUE_URL": "p",
    }
    with pytest.raises(ConfigurationError, match="TIMERACK_API_URL"):
        ExportWorkerSettings.from_env({**environment, "TIMERACK_API_URL": "http://timerack.example.com/import"})
    for accepted in ("https://timerack.example.com/import", "http://127.0.0.1:8080/import"):
        assert ExportWorkerSettings.from_env({**environment, "TIMERACK_API_URL": accepted}).timerack_api_url == accepted


# ------------------------------------------------------------------ S3 and the outbox


def test_s3_csv_per_client_on_moto(store: AdminStore, clients: list[str]) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="exports-bucket")
    destination = S3Destination(s3, "exports-bucket")
    assert [send_one(store, destination, customer) for customer in store.iter_clients()] == ["exported"] * 3
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="exports-bucket")["Contents"])
    assert [k.split("/")[:2] for k in keys] == [
        ["exports", "ACME-1"],
        ["exports", "GLOBEX-1"],
        ["exports", "INITECH-1"],
    ]
    assert all(k.endswith(".csv") for k in keys)
    obj = s3.get_object(Bucket="exports-bucket", Key=keys[0])
    assert obj["ContentType"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(obj["Body"].read().decode())))
    assert [(r["Client ID"], r["Client Name"], r["Timerack Client Key"]) for r in rows] == [
        ("100", "Acme", "ACME-1")
    ] * 3
    assert [(r["Assignment ID"], r["Employee ID"], r["PIN"], r["Customer ID"]) for r in rows] == [
        ("1001", "7", "72345", "100"),
        ("1002", "9", "126789", "101"),
        ("1003", "11", "904417", "102"),
    ]


def test_s3_missing_bucket_is_that_clients_failure(line: Line, clients: list[str]) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    run = line.dispatch(client_key="ACME-1")
    line.work("priority", S3Destination(s3, "no-such-bucket"))
    outcome = line.outcomes(run.run_id)["ACME-1"]
    assert outcome.status == "queued" and outcome.attempts == 1
    error = outcome.error or ""
    assert error.startswith("attempt 1 of 5 failed: S3 refused s3://no-such-bucket/exports/ACME-1/")
    assert error.endswith(": NoSuchBucket; tried again in 30 s")


def test_outbox_replaces_latest_json_atomically(store: AdminStore, clients: list[str], tmp_path: Path) -> None:
    destination = OutboxDestination(tmp_path / "outbox")
    acme = store.get_customer(100)
    assert acme is not None
    export_client(store, destination, acme, today=TODAY)
    export_client(store, destination, acme, today=TODAY)
    folder = tmp_path / "outbox" / "ACME-1"
    assert [p.name for p in folder.iterdir()] == ["latest.json"]  # no temp file left behind
    document = json.loads((folder / "latest.json").read_text())
    assert document["clientKey"] == "ACME-1" and document["problems"][0]["employeeId"] == 12
    with pytest.raises(DestinationError):
        destination.path_for("..")


# ------------------------------------------------------------------ the functions


class FakeContext:
    function_name = "timerack-export"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    # Ids free of the seeded PINs' digits, so a hit in the logs is a real leak
    invoked_function_arn = "arn:aws:lambda:us-east-1:444455550000:function:timerack-export"
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8aaaabbbb"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


@pytest.fixture
def dispatcher(line: Line, clients: list[str]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The export function (the dispatcher), handed this test's store and queue."""
    from functions.export import handler as export_handler

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        adapters = export_handler.ExportAdapters(line.store, line.queue)
        return export_handler.lambda_handler(event, FakeContext(), adapters=adapters)

    return invoke


@pytest.fixture
def worker(line: Line, tmp_path: Path) -> Callable[..., dict[str, Any] | None]:
    """The export worker function on the next message of a lane (None: the lane is empty); it sends to
    the outbox unless given another destination."""
    from functions.export_worker import handler as worker_handler

    def invoke(lane: str = "bulk", destination: ExportDestination | None = None) -> dict[str, Any] | None:
        records = line.records(lane)
        if not records:
            return None
        adapters = line.adapters(destination or OutboxDestination(tmp_path / "outbox"))
        response: dict[str, Any] = worker_handler.lambda_handler({"Records": records}, FakeContext(), adapters=adapters)
        if not response["batchItemFailures"]:
            line.sqs.delete_message(QueueUrl=getattr(line.urls, lane), ReceiptHandle=records[0]["receiptHandle"])
        return response

    return invoke


@pytest.fixture
def log_lines(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], str]]:
    """Everything the Powertools logger wrote, as it would reach CloudWatch."""
    caplog.set_level(logging.DEBUG, logger="timerack-bridge")
    handler = logging.getLogger("timerack-bridge").powertools_handler  # type: ignore[attr-defined]
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield (
        lambda: (
            buffer.getvalue()
            + "\n".join(
                handler.formatter.format(record)
                for record in caplog.records
                if record.name.startswith("timerack-bridge")
            )
        )
    )
    handler.setStream(previous)


def emitted_metrics(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The EMF documents printed since the last call."""
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]


def test_the_hourly_event_queues_every_client_and_the_workers_send_them(
    line: Line,
    dispatcher: Callable[[dict[str, Any]], dict[str, Any]],
    worker: Callable[..., dict[str, Any] | None],
    log_lines: Callable[[], str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    # When EventBridge's hourly event arrives
    result = dispatcher(load_event("export-scheduled.json"))
    # Then the run is the reply: every client queued, as of the tick's day, on the bulk lane
    assert result["trigger"] == "hourly" and result["state"] == "running" and result["runId"]
    assert result["counts"]["queued"] == 3 and result["destination"] == "outbox"
    queued = line.sqs.sent(line.urls.bulk)
    assert sorted((m.customer_id, m.trigger, m.as_of, m.run_id) for m in queued) == [
        (100, "hourly", TODAY, result["runId"]),
        (200, "hourly", TODAY, result["runId"]),
        (300, "hourly", TODAY, result["runId"]),
    ]
    (published,) = emitted_metrics(capsys)
    assert published["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "TimerackBridge"
    assert (published["clients"], published["queued"]) == ([3], [3])
    # When the workers take the messages, one client each
    replies = [worker() for _ in range(3)]
    assert replies == [{"batchItemFailures": []}] * 3 and worker() is None
    # Then each client is in the outbox and the run is finished
    acme = json.loads((tmp_path / "outbox" / "ACME-1" / "latest.json").read_text())
    assert {e["employeeId"]: e["pin"] for e in acme["employees"]} == {7: "72345", 9: "126789", 11: "904417"}
    assert line.summary(result["runId"]).state == "finished"
    metrics = emitted_metrics(capsys)
    assert [m["exported"] for m in metrics] == [[1]] * 3
    assert sum(m["employees"][0] for m in metrics) == 5 and sum(m["problems"][0] for m in metrics) == 1
    # And the logs tell the story without a PIN or SSN digit
    logs = log_lines()
    assert "export run dispatched" in logs and "client exported" in logs and "ACME-1" in logs
    assert not any(secret in logs for secret in SECRETS), logs
    assert "72345" not in json.dumps(result)


def test_a_direct_invoke_queues_one_client_on_the_priority_lane(
    line: Line, dispatcher: Callable[[dict[str, Any]], dict[str, Any]], worker: Callable[..., Any], tmp_path: Path
) -> None:
    result = dispatcher(load_event("export-manual.json"))
    assert result["trigger"] == "invoke" and result["counts"]["queued"] == 1
    assert line.sqs.sent(line.urls.bulk) == []
    (message,) = line.sqs.sent(line.urls.priority)
    assert (message.customer_id, message.as_of) == (100, None)  # exported as of the day it is taken
    assert worker("priority") == {"batchItemFailures": []}
    assert [p.name for p in (tmp_path / "outbox").iterdir()] == ["ACME-1"]


@pytest.mark.filterwarnings("ignore:No application metrics")
def test_a_direct_invoke_of_an_unknown_client_fails_and_records_nothing(
    line: Line, dispatcher: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    from timerack_bridge.exceptions import NotFoundError

    with pytest.raises(NotFoundError):
        dispatcher({"clientKey": "NOPE-1"})
    assert line.runs.list_runs(limit=10, next_token=None) == ([], None)


def test_failures_are_retried_and_logged_without_pins(
    line: Line,
    dispatcher: Callable[[dict[str, Any]], dict[str, Any]],
    worker: Callable[..., dict[str, Any] | None],
    log_lines: Callable[[], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    dispatcher(load_event("export-manual.json"))
    capsys.readouterr()
    # When the destination refuses the client
    reply = worker("priority", RecordingDestination(failing={"ACME-1"}))
    # Then the record is reported failed (the queue hands it out again), counted as retried
    assert reply is not None and len(reply["batchItemFailures"]) == 1
    (published,) = emitted_metrics(capsys)
    assert published["retried"] == [1] and "exported" not in published
    logs = log_lines()
    assert "client export failed" in logs and "tried again in 30 s" in logs
    assert [secret for secret in SECRETS if secret in logs] == [], logs


def test_a_worker_event_from_the_events_folder_is_handled(
    line: Line, clients: list[str], tmp_path: Path, worker_env: None
) -> None:
    from functions.export_worker import handler as worker_handler

    event = load_event("export-worker-sqs.json")
    run = line.dispatch(client_key="ACME-1")
    # The sample's message, rewritten to name this test's run (its queue is the sample's ARN)
    (record,) = event["Records"]
    message = ExportMessage.model_validate_json(record["body"])
    assert (message.customer_id, message.trigger) == (100, "hourly")
    record["body"] = message.model_copy(update={"run_id": run.run_id}).model_dump_json(by_alias=True)
    adapters = line.adapters(OutboxDestination(tmp_path / "outbox"))
    assert worker_handler.handle_records(event, adapters) == {"batchItemFailures": []}
    assert line.outcomes(run.run_id)["ACME-1"].status == "exported"


@pytest.mark.filterwarnings("ignore:No application metrics")
def test_the_functions_fail_loudly_without_their_configuration(
    worker_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from timerack_bridge.config import ConfigurationError

    # The worker's cold start (the import of its handler) fails, naming the variable
    monkeypatch.delenv("EXPORT_OUTBOX_DIR")
    with pytest.raises(ConfigurationError, match="EXPORT_OUTBOX_DIR"):
        cold_start("functions.export_worker.handler")
    # ... and so does the dispatcher's, without its queue
    monkeypatch.delenv("EXPORT_QUEUE_URL")
    with pytest.raises(ConfigurationError, match="EXPORT_QUEUE_URL"):
        cold_start("functions.export.handler")
