"""The export worker: the export queue's messages in (SQS, batch size 1), one client each sent to the destination.

Thin: each record is a `Delivery` handed to `handle_delivery`, under Powertools' batch processing with
partial failures (ReportBatchItemFailures): a record whose client is to be tried again (or whose body
is unreadable: handed back at once, so the queue dead-letters it within minutes) is reported failed, the
others are done and deleted by the event source (a duplicate delivery of a message already done with too). Metrics:
`exported`, `failed` (dead-lettered), `retried`, and the exported clients' employees, assignments and
problems. Logs hold ids, counts and problem types, never a PIN or an SSN.

The composition root: the settings are read at init (a missing or malformed variable fails the cold
start, naming it); the stores, the destination and the queue are built once, on the first invoke,
and handed in. Tests and the local runtime hand in their own `WorkerAdapters`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from timerack_bridge.config import ExportWorkerSettings

if TYPE_CHECKING:
    from datetime import date

    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from timerack_bridge.domain.export_models import ClientOutcome
    from timerack_bridge.logic.export_worker import PendingUpdates, WorkerRuns, WorkerSource
    from timerack_bridge.logic.ports import ClientLeases, ExportQueue, ExportTarget

    class WorkerQueue(ExportQueue, Protocol):
        def hand_back(self, source: str, receipt_handle: str, seconds: int) -> None:
            """A received message (one whose body could not be read) back on its queue after `seconds`."""

# The worker's code (batch processing, the stores, the destination) and boto3's clients load on the
# first invoke, not at import (docs/benchmarks.md): init loads Powertools and the settings model only.

logger = Logger()  # service from POWERTOOLS_SERVICE_NAME, as the module loggers (child=True) under it
metrics = Metrics()  # namespace from POWERTOOLS_METRICS_NAMESPACE


settings = ExportWorkerSettings.from_env()


@dataclass(frozen=True)
class WorkerAdapters:
    admin_store: WorkerSource
    destination: ExportTarget
    queue: WorkerQueue
    runs: WorkerRuns
    leases: ClientLeases
    pending: PendingUpdates
    # The queues' redrive maxReceiveCount: the attempt at this count that fails is the last.
    max_receives: int
    # How long a client queued once more (changes saved while it was exported) waits on the queue.
    change_delay_seconds: int = 10
    # The day to export as (UTC today when None; the tests pin it). Never earlier than a message's asOf.
    today: Callable[[], date] | None = None


@lru_cache(maxsize=1)
def cold_start_adapters() -> WorkerAdapters:
    """Built on the first invoke (never at import), then reused by the warm execution environment."""
    import boto3

    from timerack_bridge.adapters.destinations import destination_for
    from timerack_bridge.adapters.dynamodb.admin import AdminStore
    from timerack_bridge.adapters.dynamodb.export_lease import ExportLock
    from timerack_bridge.adapters.dynamodb.export_pending import PendingExportStore
    from timerack_bridge.adapters.dynamodb.export_runs import ExportRunStore
    from timerack_bridge.adapters.export_queue import QueueUrls, SqsExportQueue

    dynamodb, table = boto3.client("dynamodb"), settings.table_name
    urls = QueueUrls(bulk=settings.export_queue_url, priority=settings.export_priority_queue_url)
    return WorkerAdapters(
        admin_store=AdminStore(dynamodb, table),
        destination=destination_for(settings),
        queue=SqsExportQueue(boto3.client("sqs"), urls),
        runs=ExportRunStore(dynamodb, table),
        leases=ExportLock(dynamodb, table, lock_seconds=settings.export_lease_seconds),
        pending=PendingExportStore(dynamodb, table),
        max_receives=settings.export_max_receives,
    )


def handle_records(
    event: dict[str, Any],
    adapters: WorkerAdapters,
    *,
    tally: Callable[[ClientOutcome], None] | None = None,
) -> dict[str, Any]:
    """The partial batch response (`{"batchItemFailures": [...]}`) for an SQS event of export messages.

    `tally` is called with each recorded outcome (the Lambda handler publishes metrics from it).
    """
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    # One processor per call: it keeps the batch's results, and the local runtime calls from many threads.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    handler = partial(_handle_record, adapters=adapters, tally=tally or (lambda outcome: None))
    return dict(process_partial_response(event=event, record_handler=handler, processor=processor))


def _handle_record(record: SQSRecord, *, adapters: WorkerAdapters, tally: Callable[[ClientOutcome], None]) -> None:
    """One message: its client exported (or skipped); raises when the record is to be reported failed."""
    from timerack_bridge.adapters.export_queue import delivery_of
    from timerack_bridge.logic.export_worker import AlreadySettled, RetryLater, handle_delivery

    try:
        delivery = delivery_of(record.raw_event)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        # Never the body in the log: a bad message is handed back at once and reported failed, so the queue
        # dead-letters it after its receives, within minutes (not after each one's visibility timeout).
        logger.error("export message unreadable", extra={"message_id": record.message_id, "error": type(exc).__name__})
        adapters.queue.hand_back(record.event_source_arn, record.receipt_handle, 0)
        raise
    # Every line logged for this client (here, in the worker's logic, in the lease) carries its run's id.
    logger.set_correlation_id(delivery.message.run_id)
    logger.append_keys(customer_id=delivery.message.customer_id)
    try:
        outcome = handle_delivery(
            delivery,
            source=adapters.admin_store,
            destination=adapters.destination,
            leases=adapters.leases,
            runs=adapters.runs,
            queue=adapters.queue,
            pending=adapters.pending,
            max_receives=adapters.max_receives,
            change_delay_seconds=adapters.change_delay_seconds,
            today=adapters.today() if adapters.today else None,
        )
    except AlreadySettled as done:
        # A duplicate delivery (SQS delivers at least once): nothing sent, nothing counted; deleted
        logger.info("export message already done with", extra={"status": done.outcome.status})
        return
    except RetryLater as retry:
        tally(retry.outcome)
        raise  # reported failed: the queue hands the message out again when its retry is due
    except Exception as exc:
        # A bug, or the run record could not be written: reported failed, the queue retries it after its
        # visibility timeout. The exception's type only: its message may quote stored data.
        fields = {"run_id": delivery.message.run_id, "customer_id": delivery.message.customer_id}
        logger.error("export message failed", extra={**fields, "error": type(exc).__name__})
        raise
    tally(outcome)


def publish_metric(outcome: ClientOutcome) -> None:
    if outcome.status == "exported":
        metrics.add_metric(name="exported", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="employees", unit=MetricUnit.Count, value=outcome.employees)
        metrics.add_metric(name="assignments", unit=MetricUnit.Count, value=outcome.assignments)
        metrics.add_metric(name="problems", unit=MetricUnit.Count, value=len(outcome.problems))
    elif outcome.status == "failed":
        metrics.add_metric(name="failed", unit=MetricUnit.Count, value=1)
    elif outcome.status == "queued":
        metrics.add_metric(name="retried", unit=MetricUnit.Count, value=1)
    else:
        metrics.add_metric(name="skipped", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, adapters: WorkerAdapters | None = None
) -> dict[str, Any]:
    return handle_records(event, adapters or cold_start_adapters(), tally=publish_metric)
