"""Export through the queue: every client queued by the dispatcher, each exported by a worker.

The path is the one the stack runs, on the local runtime's pieces: `dispatch` (the export dispatcher's
logic) puts one message per client on the bulk lane of the export queue (SQS in moto's server, the
local runtime's serialized one, in its own process), and the local queue workers (`local/queue_workers.py`,
Lambda's SQS event source mapping) hand each message to the export worker's handler (`handle_records`,
one record per event) at a maximum concurrency of 1, 4 and 16. The destination stands in for
Timerack: 200 ms a send, and it counts each client it got and any client sent twice at once.

Figures:
- time to export every client at each concurrency, from the dispatch to the run record saying
  "finished", against the floor clients x 200 ms / concurrency (the destination's time alone);
- clients never attempted (target 0) and clients sent twice at once (target 0);
- the worker's DynamoDB calls per client, against the floor of reading the same items the cheapest
  way (the clients' index pages, each client's assignments by Query, its employees by BatchGetItem);
- the dispatcher's time for 10,000 clients against the time of the Query pages that read them, and
  its DynamoDB calls per client against those pages (the Query floor);
- the local runtime's latency from a saved PIN override to the client's `latest.json` (target 15 s).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

from benchmarks.common import (
    MAIN_TABLE,
    READS,
    WRITES,
    CallLog,
    Figure,
    Stopwatch,
    attach_call_log,
    moto_server,
    quick,
)
from benchmarks.data import seed_agency

SECTION = "export"
AS_OF = date(2026, 11, 20)
SEND_SECONDS = 0.2
CONCURRENCY = (1, 4, 16)
# The dispatcher against reading its clients alone: it also writes each client's "queued" outcome (25 to a
# BatchWriteItem) and sends its message (10 to a SendMessageBatch).
DISPATCH_TARGET_RATIO = 3.0


class SlowTimerack:
    """The stand-in destination: each send takes `seconds`; it keeps who was sent and who was sent twice at once."""

    def __init__(self, seconds: float = SEND_SECONDS) -> None:
        self.seconds = seconds
        self.sent: Counter[str] = Counter()
        self.overlaps = 0
        self._sending: Counter[str] = Counter()
        self._lock = threading.Lock()

    def longest_send_seconds(self) -> float:
        return self.seconds

    def send(self, payload: Any) -> None:
        key = payload.client_key
        with self._lock:
            self._sending[key] += 1
            if self._sending[key] > 1:
                self.overlaps += 1
        try:
            time.sleep(self.seconds)
        finally:
            with self._lock:
                self._sending[key] -= 1
                self.sent[key] += 1


class CallCounter:
    """Calls of one AWS service's boto3 client, by operation (a botocore hook)."""

    def __init__(self, client: Any, service: str) -> None:
        self.calls: Counter[str] = Counter()
        client.meta.events.register(f"before-call.{service}", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1


@dataclass
class QueueStand:
    """Tables and the export queues on one moto server, with a client per role (each counted apart)."""

    endpoint: str
    services: Any  # for seed_agency: the admin store
    client: Any  # seed_agency writes with it
    log: CallLog  # seed_agency turns it off while seeding
    queues: Any

    def client_of(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"mode": "standard", "max_attempts": 8}, max_pool_connections=32),
        )

    def stores(self) -> tuple[Any, CallLog, CallCounter]:
        """The dispatcher's stores and queue, and the counters of its DynamoDB and SQS calls."""
        from local.composition import ExportStores

        dynamodb, sqs, log = self.client_of("dynamodb"), self.client_of("sqs"), CallLog()
        attach_call_log(dynamodb, log)
        return ExportStores.on(dynamodb, sqs, self.queues, MAIN_TABLE), log, CallCounter(sqs, "sqs")


@contextmanager
def queue_stand() -> Iterator[QueueStand]:
    from benchmarks.common import IDEMPOTENCY_TABLE, bench_settings
    from timerack_bridge.adapters.dynamodb import tables
    from timerack_bridge.adapters.export_queue import create_export_queues
    from timerack_bridge.api.deps import Services

    with moto_server(serialized=True) as endpoint:
        stand = QueueStand(endpoint, None, None, CallLog(), None)
        stand.client = stand.client_of("dynamodb")
        tables.create_tables(stand.client, MAIN_TABLE, IDEMPOTENCY_TABLE)
        stand.queues = create_export_queues(stand.client_of("sqs"), "bench-export")
        stand.services = Services(bench_settings(), dynamodb=stand.client)
        yield stand


def floor_reads(stand: Any) -> tuple[int, int]:
    """Paginated Queries (and one BatchGetItem per 100 employees of a client) of the items the export reads:
    (calls, items)."""
    from timerack_bridge.adapters.dynamodb.base import key

    client, items, calls = stand.client, 0, 0

    def pages(**params: Any) -> Any:
        nonlocal calls
        params = {"TableName": MAIN_TABLE, **params}
        while True:
            response = client.query(**params)
            calls += 1
            yield response["Items"]
            if "LastEvaluatedKey" not in response:
                return
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    for page in client_pages(pages):
        for customer in page:
            items += 1
            employee_ids: list[str] = []
            for assignments in pages(
                IndexName="gsi2",
                KeyConditionExpression="gsi2pk = :pk AND begins_with(gsi2sk, :assignment)",
                ExpressionAttributeValues={
                    ":pk": {"S": f"UNDER#{customer['customer_id']['N']}"},
                    ":assignment": {"S": "ASSIGNMENT#"},
                },
            ):
                items += len(assignments)
                employee_ids.extend(a["employee_id"]["N"] for a in assignments)
            for start in range(0, len(employee_ids), 100):
                keys = [key(f"EMPLOYEE#{e}", "EMPLOYEE") for e in employee_ids[start : start + 100]]
                pending: dict[str, Any] = {MAIN_TABLE: {"Keys": keys}}
                while pending:
                    response = client.batch_get_item(RequestItems=pending)
                    calls += 1
                    items += len(response["Responses"].get(MAIN_TABLE, []))
                    pending = response.get("UnprocessedKeys") or {}
    return calls, items


def client_pages(pages: Any) -> Any:
    """The clients' index (gsi1 `CLIENTS`), page by page: what the dispatcher must read at the least."""
    return pages(
        IndexName="gsi1", KeyConditionExpression="gsi1pk = :pk", ExpressionAttributeValues={":pk": {"S": "CLIENTS"}}
    )


def wait_finished(runs: Any, run_id: str, stall_seconds: float = 180) -> Any:
    """The run's summary once its record says finished; RuntimeError when nothing moved for stall_seconds."""
    last, moved = None, time.monotonic()
    while True:
        summary = runs.get_run(run_id).summary()
        if summary.state == "finished":
            return summary
        if summary.counts != last:
            last, moved = summary.counts, time.monotonic()
        elif time.monotonic() - moved > stall_seconds:
            raise RuntimeError(f"the run {run_id} stopped moving: {summary.counts}")
        time.sleep(0.25)


def export_all(stand: QueueStand, clients: int, concurrency: int) -> dict[str, Any]:
    """One run of every client through the queue at this concurrency: its time, outcome and call counts."""
    from local.composition import export_worker
    from local.queue_workers import QueueWorkers
    from timerack_bridge.adapters.dynamodb.export_runs import ExportRunStore
    from timerack_bridge.logic.export_dispatch import dispatch

    timerack = SlowTimerack()
    worker_dynamodb, worker_sqs, worker_log = stand.client_of("dynamodb"), stand.client_of("sqs"), CallLog()
    attach_call_log(worker_dynamodb, worker_log)
    worker = export_worker(worker_dynamodb, worker_sqs, stand.queues, timerack, table_name=MAIN_TABLE)  # type: ignore[arg-type]
    stores, _, _ = stand.stores()
    observer = ExportRunStore(stand.client_of("dynamodb"), MAIN_TABLE)  # reads the run, not counted
    workers = QueueWorkers(
        worker_sqs, [stand.queues.priority, stand.queues.bulk], worker, concurrency=concurrency, interval=0.05
    ).start()
    try:
        watch = Stopwatch()
        run = dispatch(stores.admin, stores.queue, stores.runs, trigger="hourly", destination="https", as_of=AS_OF)
        dispatched_s = watch.ms / 1000
        summary = wait_finished(observer, run.run_id)
        elapsed_s = watch.ms / 1000
    finally:
        workers.stop()
    return {
        "seconds": elapsed_s,
        "dispatched_s": dispatched_s,
        "summary": summary,
        "never_attempted": clients - len(timerack.sent),
        "sent_twice_at_once": timerack.overlaps,
        "sends": sum(timerack.sent.values()),
        "worker_calls": dict(worker_log.calls),
        # The share of the time a worker's DynamoDB call was in flight: near 100 %, the stand-in (one call
        # at a time) is what bounds the run, not the destination.
        "dynamodb_busy": worker_log.busy_ms(*READS, *WRITES) / 1000 / elapsed_s,
    }


def drain_figures(stand: QueueStand, clients: int, per_client: int) -> list[Figure]:
    figures: list[Figure] = []
    never, twice, calls_at_1 = 0, 0, {}
    for concurrency in CONCURRENCY:
        result = export_all(stand, clients, concurrency)
        floor = clients * SEND_SECONDS / concurrency
        counts = result["summary"].counts
        never += result["never_attempted"]
        twice += result["sent_twice_at_once"]
        calls_at_1 = calls_at_1 or result["worker_calls"]
        figures.append(
            Figure(
                SECTION,
                f"{clients} clients x {per_client}: all exported, concurrency {concurrency}",
                result["seconds"],
                "s",
                floor=floor,
                note=(
                    f"dispatch {result['dispatched_s']:.1f} s; run: exported {counts.exported}, failed "
                    f"{counts.failed}, queued {counts.queued}; {result['sends']} sends; a worker's DynamoDB call "
                    f"in flight {result['dynamodb_busy']:.0%} of the time; floor = clients x "
                    f"{SEND_SECONDS * 1000:.0f} ms / concurrency"
                ),
            )
        )
    figures.append(
        Figure(
            SECTION,
            f"clients never attempted ({len(CONCURRENCY)} runs of {clients})",
            never,
            "count",
            target="= 0",
            holds=never == 0,
            note=f"clients the stand-in Timerack never got; sent twice at once: {twice} (target 0)",
        )
    )
    floor_calls, floor_items = floor_reads(stand)
    total = sum(calls_at_1.values())
    figures.append(
        Figure(
            SECTION,
            "worker: DynamoDB calls per client",
            total / clients,
            "calls/client",
            floor=floor_calls / clients,
            note=(
                ", ".join(f"{op} {n / clients:g}" for op, n in sorted(calls_at_1.items()))
                + f" per client; floor: Queries + BatchGetItem of the same {floor_items} items"
            ),
        )
    )
    return figures


def dispatcher_figures(clients: int) -> list[Figure]:
    """The dispatcher alone over `clients` clients (no worker drains the queue): time and calls, against
    the Query pages of the clients' index."""
    from timerack_bridge.logic.export_dispatch import dispatch

    with queue_stand() as stand:
        seed_agency(stand, clients=clients, assignments_per_client=0, employees=False)
        stores, log, sqs_calls = stand.stores()
        watch = Stopwatch()
        run = dispatch(stores.admin, stores.queue, stores.runs, trigger="hourly", destination="https", as_of=AS_OF)
        seconds = watch.ms / 1000
        pages, watch = 0, Stopwatch()
        floor_client = stand.client_of("dynamodb")
        params: dict[str, Any] = {"TableName": MAIN_TABLE}
        for _ in client_pages(lambda **query: _query_pages(floor_client, {**params, **query})):
            pages += 1
        floor_s = watch.ms / 1000
    calls = dict(log.calls)
    queued = run.counts.queued
    return [
        Figure(
            SECTION,
            f"dispatcher: {clients} clients queued",
            seconds,
            "s",
            floor=floor_s,
            target=f"<= {DISPATCH_TARGET_RATIO:g}x",
            holds=seconds <= DISPATCH_TARGET_RATIO * floor_s and queued == clients,
            note=(
                f"{queued} queued; floor: the {pages} Query pages of the clients' index alone; SQS: "
                + ", ".join(f"{op} {n}" for op, n in sorted(sqs_calls.calls.items()))
            ),
        ),
        Figure(
            SECTION,
            "dispatcher: DynamoDB calls per client",
            sum(calls.values()) / clients,
            "calls/client",
            floor=pages / clients,
            note=", ".join(f"{op} {n}" for op, n in sorted(calls.items())) + f"; floor: {pages} Query pages",
        ),
    ]


def _query_pages(client: Any, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
    while True:
        response = client.query(**params)
        yield response["Items"]
        if "LastEvaluatedKey" not in response:
            return
        params = {**params, "ExclusiveStartKey": response["LastEvaluatedKey"]}


def bench() -> list[Figure]:
    from benchmarks.pin_latency import pin_override_figures

    clients, per_client = (100, 20) if quick() else (2000, 20)
    figures: list[Figure] = []
    with queue_stand() as stand:
        seed_agency(stand, clients=clients, assignments_per_client=per_client)
        figures.extend(drain_figures(stand, clients, per_client))
    figures.extend(dispatcher_figures(1000 if quick() else 10_000))
    figures.extend(pin_override_figures(samples=2 if quick() else 5))
    return figures
