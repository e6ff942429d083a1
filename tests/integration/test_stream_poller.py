"""The local runtime's stand-ins for Lambda's event source mappings, against moto's server.

The stream poller (the mailer's trigger): filter, Lambda's event shape, retries, stop. The queue
workers (the export worker's trigger): Lambda's SQS event shape, deletes, the redrive to the
dead-letter queue, the priority lane first, the concurrency bound, stop.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.stream_poller import StreamPoller
from timerack_bridge.adapters.dynamodb.batch_stream import batch_from_stream_image
from timerack_bridge.adapters.dynamodb.payroll_history import PayrollHistoryStore
from timerack_bridge.adapters.dynamodb.tables import create_tables
from timerack_bridge.domain.batch import AssignmentResult, BatchCounts, BatchResult
from timerack_bridge.mail_stream import process_stream_event

TABLE = "main"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def clients(moto_url: str) -> Iterator[tuple[Any, Any]]:
    def client(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=moto_url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    dynamodb = client("dynamodb")
    create_tables(dynamodb, TABLE, "idem")
    yield dynamodb, client("dynamodbstreams")
    for name in (TABLE, "idem"):
        dynamodb.delete_table(TableName=name)


class Recorder:
    """An `on_event` that records what it gets and fails chosen batches a number of times."""

    def __init__(self, fail: dict[str, int] | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.fail = dict(fail or {})
        self.arrived = threading.Event()

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        self.arrived.set()
        failures = []
        for record in event["Records"]:
            batch_id = record["dynamodb"]["NewImage"]["batch_id"]["S"]
            if self.fail.get(batch_id, 0) > 0:
                self.fail[batch_id] -= 1
                failures.append({"itemIdentifier": record["dynamodb"]["SequenceNumber"]})
        return {"batchItemFailures": failures}

    def batch_ids(self) -> list[str]:
        return [r["dynamodb"]["NewImage"]["batch_id"]["S"] for e in self.events for r in e["Records"]]


def put_batch(dynamodb: Any, batch_id: str, *, errors: int) -> None:
    result = AssignmentResult(
        assignment_id=123,
        status="error" if errors else "created",
        error="not found" if errors else None,
        weekend_bill=date(2026, 11, 22),
    )
    batch = BatchResult(
        batch_id=batch_id,
        client_key="ACME-1",
        submitted_at=datetime(2026, 11, 23, tzinfo=UTC),
        weekend_bill=date(2026, 11, 22),
        results=[],
        counts=BatchCounts(assignments=1, created=0 if errors else 1, replaced=0, errors=errors),
        status="processing",
    )
    store = PayrollHistoryStore(dynamodb, TABLE)
    store.put_batch(batch)
    store.put_batch(batch.model_copy(update={"status": "completed", "results": [result]}))


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_a_completed_batch_with_errors_reaches_on_event_within_seconds(clients: tuple[Any, Any]) -> None:
    dynamodb, streams = clients
    recorder = Recorder()
    # Given a running poller
    poller = StreamPoller(dynamodb, streams, TABLE, recorder, interval=0.1).start()
    try:
        # When a batch without errors and then one with errors complete
        put_batch(dynamodb, "B-clean", errors=0)
        put_batch(dynamodb, "B-1", errors=2)
        # Then only the completed batch with errors arrives, once, in Lambda's event shape
        assert wait_for(lambda: recorder.batch_ids() == ["B-1"])
        time.sleep(0.3)
        assert recorder.batch_ids() == ["B-1"]
        (record,) = recorder.events[0]["Records"]
        assert record["eventSource"] == "aws:dynamodb"
        assert record["eventSourceARN"] == dynamodb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
        assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], int)
        assert isinstance(record["dynamodb"]["NewImage"]["results_gz"]["B"], str)  # base64, as in JSON
    finally:
        poller.stop()
    # And the image decodes back to the batch (as the mailer does)
    batch = batch_from_stream_image(record["dynamodb"]["NewImage"])
    assert batch.batch_id == "B-1" and batch.results[0].error == "not found"


def test_failed_records_are_redelivered_a_bounded_number_of_times(clients: tuple[Any, Any]) -> None:
    dynamodb, streams = clients
    # Given a consumer that fails B-1 once and B-2 always
    recorder = Recorder(fail={"B-1": 1, "B-2": 99})
    poller = StreamPoller(dynamodb, streams, TABLE, recorder, interval=0.05, max_attempts=3).start()
    try:
        put_batch(dynamodb, "B-1", errors=1)
        put_batch(dynamodb, "B-2", errors=1)
        # Then B-1 comes twice (fail, success) and B-2 three times, then is dropped
        assert wait_for(lambda: recorder.batch_ids().count("B-2") == 3)
        time.sleep(0.3)
    finally:
        poller.stop()
    ids = recorder.batch_ids()
    assert ids.count("B-1") == 2
    assert ids.count("B-2") == 3


def test_a_consumer_that_raises_does_not_stop_the_poller(clients: tuple[Any, Any]) -> None:
    dynamodb, streams = clients
    calls: list[int] = []

    def broken_once(event: dict[str, Any]) -> dict[str, Any]:
        calls.append(len(event["Records"]))
        if len(calls) == 1:
            raise RuntimeError("consumer crashed")
        return {"batchItemFailures": []}

    poller = StreamPoller(dynamodb, streams, TABLE, broken_once, interval=0.05).start()
    try:
        put_batch(dynamodb, "B-1", errors=1)
        # Then the record is delivered again after the crash
        assert wait_for(lambda: len(calls) >= 2)
    finally:
        poller.stop()
    assert calls[:2] == [1, 1]


def test_stop_ends_the_thread_promptly(clients: tuple[Any, Any]) -> None:
    dynamodb, streams = clients
    poller = StreamPoller(dynamodb, streams, TABLE, Recorder(), interval=5.0).start()
    thread = poller._thread
    started = time.monotonic()
    poller.stop()
    assert thread is not None and not thread.is_alive()
    assert time.monotonic() - started < 2.0


def test_the_poller_feeds_the_mailer_and_the_email_lands_in_the_outbox(
    clients: tuple[Any, Any], moto_url: str, tmp_path: Path
) -> None:
    from timerack_bridge.adapters.dynamodb.admin import AdminStore
    from timerack_bridge.domain.entities import Customer, PayrollEmail

    dynamodb, streams = clients
    # Given the local runtime's wiring: moto's SES with a verified sender, and a client receiving error files
    sesv2 = boto3.client(
        "sesv2",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    sesv2.create_email_identity(EmailIdentity="timerack-bridge@agency.example")
    admin = AdminStore(dynamodb, TABLE)
    # (the settings belong to the Primary Customer holding the key)
    admin.put_customer(Customer(customer_id=100, name="Acme", hierarchy_node_id="branch", timerack_client_key="ACME-1"))
    admin.put_payroll_email(
        PayrollEmail(client_key="ACME-1", recipients=["payroll@acme.example"], receive_error_file=True)
    )
    outbox = tmp_path / "email-outbox"

    def mailer(event: dict[str, Any]) -> dict[str, Any]:
        return process_stream_event(
            event,
            admin_store=admin,
            ses_client=sesv2,
            sender="timerack-bridge@agency.example",
            outbox_dir=outbox,
        )

    poller = StreamPoller(dynamodb, streams, TABLE, mailer, interval=0.1).start()
    try:
        # When a batch completes with errors
        put_batch(dynamodb, "B-1", errors=1)
        # Then its email is in the outbox within seconds, and only one
        assert wait_for(lambda: len(list(outbox.glob("*.eml"))) == 1)
        time.sleep(0.3)
    finally:
        poller.stop()
    (eml,) = outbox.glob("*.eml")
    assert "X-Timerack-Batch-Id: B-1" in eml.read_text()


def test_a_table_without_a_stream_is_refused(clients: tuple[Any, Any]) -> None:
    dynamodb, streams = clients
    with pytest.raises(ValueError, match="no stream"):
        StreamPoller(dynamodb, streams, "idem", Recorder()).start()


# ---------------------------------------------------------------- the export queues' workers


@pytest.fixture
def queues(moto_url: str) -> Iterator[tuple[Any, Any]]:
    from timerack_bridge.adapters.export_queue import create_export_queues

    sqs = boto3.client(
        "sqs", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local"
    )
    prefix = f"exports-{time.monotonic_ns()}"
    urls = create_export_queues(sqs, prefix)
    yield sqs, urls
    for url in sqs.list_queues(QueueNamePrefix=prefix).get("QueueUrls", []):
        sqs.delete_queue(QueueUrl=url)


def depth(sqs: Any, url: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[name]) for name in names)


class Handled:
    """An `on_event` that records each record and reports the ones `fail` names as failed, handed back at once."""

    def __init__(self, sqs: Any, fail: set[str] | None = None, pause: float = 0.0) -> None:
        self.sqs, self.fail, self.pause = sqs, fail or set(), pause
        self.records: list[dict[str, Any]] = []
        self.running = self.most_at_once = 0
        self.lock = threading.Lock()

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.records.extend(event["Records"])
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        time.sleep(self.pause)
        failures = []
        for record in event["Records"]:
            if record["body"] in self.fail:
                # As the export worker's retry_later(delivery, 0): visible again at once
                url = record["eventSourceARN"].rsplit(":", 1)[-1]
                queue_url = self.sqs.get_queue_url(QueueName=url)["QueueUrl"]
                self.sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
                )
                failures.append({"itemIdentifier": record["messageId"]})
        with self.lock:
            self.running -= 1
        return {"batchItemFailures": failures}

    def bodies(self) -> list[str]:
        with self.lock:
            return [r["body"] for r in self.records]


def test_a_message_reaches_the_worker_in_lambdas_shape_and_is_deleted(queues: tuple[Any, Any]) -> None:
    from local.queue_workers import QueueWorkers

    sqs, urls = queues
    handled = Handled(sqs)
    workers = QueueWorkers(sqs, [urls.priority, urls.bulk], handled, concurrency=2, interval=0.05).start()
    try:
        sqs.send_message(QueueUrl=urls.bulk, MessageBody='{"runId": "r1"}')
        assert wait_for(lambda: handled.bodies() == ['{"runId": "r1"}'])
        assert wait_for(lambda: depth(sqs, urls.bulk) == 0)
    finally:
        workers.stop()
    (record,) = handled.records
    arn = sqs.get_queue_attributes(QueueUrl=urls.bulk, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == arn
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageId"] and record["receiptHandle"]
    # And the export queue's adapter reads it as a delivery
    from timerack_bridge.adapters.export_queue import delivery_of

    record["body"] = '{"runId": "r1", "customerId": 100, "trigger": "hourly"}'
    assert delivery_of(record).receive_count == 1


def test_a_failed_message_comes_back_then_goes_to_the_dead_letter_queue(queues: tuple[Any, Any]) -> None:
    from local.queue_workers import QueueWorkers
    from timerack_bridge.adapters.export_queue import MAX_RECEIVES

    sqs, urls = queues
    handled = Handled(sqs, fail={"always"})
    workers = QueueWorkers(sqs, [urls.priority, urls.bulk], handled, concurrency=2, interval=0.05).start()
    try:
        sqs.send_message(QueueUrl=urls.bulk, MessageBody="always")
        sqs.send_message(QueueUrl=urls.bulk, MessageBody="fine")
        # Then it is handed out maxReceiveCount times, and the queue's redrive moves it to the DLQ
        assert wait_for(lambda: depth(sqs, urls.bulk + "-dlq") == 1, timeout=10)
        time.sleep(0.3)
    finally:
        workers.stop()
    counts = [int(r["attributes"]["ApproximateReceiveCount"]) for r in handled.records if r["body"] == "always"]
    assert counts == list(range(1, MAX_RECEIVES + 1))
    assert handled.bodies().count("fine") == 1 and depth(sqs, urls.bulk) == 0


def test_the_priority_lane_comes_first(queues: tuple[Any, Any]) -> None:
    from local.queue_workers import QueueWorkers

    sqs, urls = queues
    for n in range(3):
        sqs.send_message(QueueUrl=urls.bulk, MessageBody=f"bulk-{n}")
    sqs.send_message(QueueUrl=urls.priority, MessageBody="change")
    handled = Handled(sqs)
    workers = QueueWorkers(sqs, [urls.priority, urls.bulk], handled, concurrency=1, interval=0.05).start()
    try:
        assert wait_for(lambda: len(handled.bodies()) == 4)
    finally:
        workers.stop()
    assert handled.bodies()[0] == "change"


def test_no_more_records_at_once_than_the_concurrency(queues: tuple[Any, Any]) -> None:
    from local.queue_workers import QueueWorkers

    sqs, urls = queues
    sqs.send_message_batch(
        QueueUrl=urls.bulk, Entries=[{"Id": str(n), "MessageBody": f"client-{n}"} for n in range(10)]
    )
    sqs.send_message_batch(
        QueueUrl=urls.bulk, Entries=[{"Id": str(n), "MessageBody": f"client-{n + 10}"} for n in range(2)]
    )
    handled = Handled(sqs, pause=0.15)
    workers = QueueWorkers(sqs, [urls.priority, urls.bulk], handled, concurrency=3, interval=0.05).start()
    try:
        assert wait_for(lambda: len(handled.bodies()) == 12, timeout=10)
    finally:
        workers.stop()
    assert sorted(handled.bodies()) == sorted(f"client-{n}" for n in range(12))
    assert 2 <= handled.most_at_once <= 3


def test_a_worker_that_raises_leaves_its_message_and_goes_on(queues: tuple[Any, Any]) -> None:
    from local.queue_workers import QueueWorkers

    sqs, urls = queues
    seen: list[str] = []

    def broken_for_one(event: dict[str, Any]) -> dict[str, Any]:
        body = event["Records"][0]["body"]
        seen.append(body)
        if body == "crash":
            raise RuntimeError("worker crashed")
        return {"batchItemFailures": []}

    workers = QueueWorkers(sqs, [urls.priority, urls.bulk], broken_for_one, concurrency=1, interval=0.05).start()
    try:
        sqs.send_message(QueueUrl=urls.bulk, MessageBody="crash")
        sqs.send_message(QueueUrl=urls.bulk, MessageBody="next")
        assert wait_for(lambda: sorted(seen) == ["crash", "next"])
        # Then the crashed one is still on the queue (invisible until its visibility ends), the other is gone
        assert wait_for(lambda: depth(sqs, urls.bulk) == 1)
    finally:
        workers.stop()


def test_the_workers_stop_promptly(queues: tuple[Any, Any]) -> None:
    from local.queue_workers import QueueWorkers

    sqs, urls = queues
    workers = QueueWorkers(sqs, [urls.priority, urls.bulk], Handled(sqs), interval=5.0).start()
    thread = workers._thread
    started = time.monotonic()
    workers.stop()
    assert thread is not None and not thread.is_alive()
    assert time.monotonic() - started < 2.0
