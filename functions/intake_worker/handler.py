"""The intake worker: the intake queue's messages in (SQS, batch size 1), one accepted batch each written.

A message names a batch the API accepted (over SYNC_BATCH_TIMECARDS): `complete_batch` writes it as a
synchronous send would have, and completes its Payroll History record. A message is reported failed
(ReportBatchItemFailures) when its batch could not be written: the queue hands it out again, then
dead-letters it (alarmed), as it does one whose body is gone from the bucket. A duplicate delivery of a batch
already completed is done at once. An EventBridge schedule (`source` "aws.events", every 15 minutes) runs the sweep:
batches accepted but never queued are queued again. Logs hold batch ids and counts, never timecards.

The composition root: the settings are read at init; the stores, the bucket and the queue are built on the
first invoke and handed in. Tests and the local runtime hand in their own `IntakeWorkerAdapters`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from timerack_bridge.config import IntakeWorkerSettings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from timerack_bridge.adapters.batch_objects import S3BatchObjects
    from timerack_bridge.adapters.dynamodb.accepted_batches import AcceptedBatchStore
    from timerack_bridge.adapters.dynamodb.admin import AdminStore
    from timerack_bridge.adapters.dynamodb.payroll_history import PayrollHistoryStore
    from timerack_bridge.adapters.dynamodb.timecards import TimecardStore
    from timerack_bridge.adapters.intake_queue import SqsIntakeQueue

logger = Logger()  # service from POWERTOOLS_SERVICE_NAME, as the module loggers (child=True) under it

settings = IntakeWorkerSettings.from_env()


@dataclass(frozen=True)
class IntakeWorkerAdapters:
    """The worker's services: what `complete_batch` and `sweep_accepted` need (logic/ports.AsyncIntakeServices)."""

    admin: AdminStore
    batches: PayrollHistoryStore
    timecards: TimecardStore
    settings: IntakeWorkerSettings
    batch_objects: S3BatchObjects
    accepted_batches: AcceptedBatchStore
    intake_queue: SqsIntakeQueue
    # Tests only: called before each unit's write (a worker stopped mid-batch).
    before_unit_write: Callable[[int], None] | None = None


def build_adapters(settings: IntakeWorkerSettings, *, dynamodb: Any, s3: Any, sqs: Any) -> IntakeWorkerAdapters:
    """The worker's adapters on these clients (the Lambda's own, the local runtime's, a test's)."""
    from timerack_bridge.adapters.batch_objects import S3BatchObjects
    from timerack_bridge.adapters.dynamodb.accepted_batches import AcceptedBatchStore
    from timerack_bridge.adapters.dynamodb.admin import AdminStore
    from timerack_bridge.adapters.dynamodb.payroll_history import PayrollHistoryStore
    from timerack_bridge.adapters.dynamodb.timecards import TimecardStore
    from timerack_bridge.adapters.intake_queue import SqsIntakeQueue

    table = settings.table_name
    objects = S3BatchObjects(s3, settings.intake_bucket)
    return IntakeWorkerAdapters(
        admin=AdminStore(dynamodb, table),
        # A batch too big for its record keeps its results in the bucket.
        batches=PayrollHistoryStore(dynamodb, table, objects),
        timecards=TimecardStore(dynamodb, table),
        settings=settings,
        batch_objects=objects,
        accepted_batches=AcceptedBatchStore(dynamodb, table),
        intake_queue=SqsIntakeQueue(sqs, settings.intake_queue_url),
    )


@lru_cache(maxsize=1)
def cold_start_adapters() -> IntakeWorkerAdapters:
    """Built on the first invoke (never at import), then reused by the warm execution environment."""
    import boto3

    from timerack_bridge.api.deps import dynamodb_client

    return build_adapters(settings, dynamodb=dynamodb_client(), s3=boto3.client("s3"), sqs=boto3.client("sqs"))


def handle_records(event: dict[str, Any], adapters: IntakeWorkerAdapters) -> dict[str, Any]:
    """The partial batch response (`{"batchItemFailures": [...]}`) for an SQS event of intake messages."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    handler = partial(_handle_record, adapters=adapters)
    return dict(process_partial_response(event=event, record_handler=handler, processor=processor))


def _handle_record(record: SQSRecord, *, adapters: IntakeWorkerAdapters) -> None:
    """One message: its batch written; raises when the record is to be reported failed."""
    from timerack_bridge.adapters.batch_objects import BatchObjectMissing
    from timerack_bridge.adapters.intake_queue import batch_id_of
    from timerack_bridge.logic.intake import deferred_full_collections
    from timerack_bridge.logic.intake_async import complete_batch

    try:
        batch_id = batch_id_of(record.body)
    except ValueError:
        logger.error("intake message unreadable", extra={"message_id": record.message_id})
        raise
    logger.set_correlation_id(batch_id)
    try:
        with deferred_full_collections:
            complete_batch(adapters, batch_id, before_unit_write=adapters.before_unit_write)
    except Exception as exc:
        # A body gone (removed, or past the bucket's 7 days) or any other failure; the exception's type only:
        # its message may quote stored data.
        gone = isinstance(exc, BatchObjectMissing)
        message = "accepted batch's body is gone" if gone else "accepted batch not written"
        logger.error(message, extra={"batch_id": batch_id, "error": type(exc).__name__})
        if _receives(record) >= adapters.settings.intake_max_receives:
            # The last attempt: the queue dead-letters the message; the batch says so, so Timerack re-sends it.
            adapters.accepted_batches.mark_failed(batch_id, type(exc).__name__)
        raise


def _receives(record: SQSRecord) -> int:
    try:
        return int(record.attributes.approximate_receive_count)
    except (KeyError, TypeError, ValueError):
        return 1


def sweep(adapters: IntakeWorkerAdapters, *, now: datetime | None = None) -> list[str]:
    """The batches accepted but never picked up, queued again (the 15-minute schedule; once per batch)."""
    from timerack_bridge.logic.intake_async import sweep_accepted

    return sweep_accepted(adapters, now or datetime.now(UTC))


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, adapters: IntakeWorkerAdapters | None = None
) -> dict[str, Any]:
    used = adapters or cold_start_adapters()
    if event.get("source") == "aws.events":
        return {"queued": sweep(used)}
    return handle_records(event, used)
