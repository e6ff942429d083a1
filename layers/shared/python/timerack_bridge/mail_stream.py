"""The error-file mailer's entry: a DynamoDB stream event in, its partial batch response out.

Powertools batch processing reports failed records by sequence number, so one failed send is retried
by the stream without holding back the others.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from timerack_bridge.adapters.dynamodb.admin import AdminStore
from timerack_bridge.adapters.dynamodb.batch_stream import error_file_batch
from timerack_bridge.adapters.dynamodb.mail_marker import MailMarkerStore
from timerack_bridge.adapters.dynamodb.payroll_history import ResultsReader
from timerack_bridge.adapters.ses import OutboxCopy, SesEmailSender
from timerack_bridge.logic.error_file import ErrorFileMailer


def error_file_mailer(
    *,
    admin_store: AdminStore,
    ses_client: Any,
    sender: str,
    outbox_dir: Path | None = None,
    configuration_set: str | None = None,
    marker_store: MailMarkerStore | None = None,
    metrics: Metrics | None = None,
) -> ErrorFileMailer:
    """The mailer on its adapters; the marker store defaults to the admin store's table (beside its batch)."""
    ses = SesEmailSender(ses_client, configuration_set=configuration_set)
    sender_to_use: SesEmailSender | OutboxCopy = ses if outbox_dir is None else OutboxCopy(ses, outbox_dir)
    return ErrorFileMailer(
        customers=admin_store,
        markers=marker_store or MailMarkerStore(admin_store.client, admin_store.table_name),
        sender=sender_to_use,
        sender_address=sender,
        metrics=metrics,
    )


def mail_error_files(
    event: dict[str, Any],
    mailer: ErrorFileMailer,
    context: LambdaContext | None = None,
    results_objects: ResultsReader | None = None,
) -> dict[str, Any]:
    """Mail the error file of every completed batch with errors in a DynamoDB stream event.

    `results_objects`: the intake bucket, where a batch too big for its record keeps its results (None: a
    record naming such results fails, and is retried). Returns the partial batch response
    `{"batchItemFailures": [{"itemIdentifier": sequenceNumber}]}`.
    """

    def handle_record(record: DynamoDBRecord) -> str:
        return mailer.handle(error_file_batch(record.raw_event, results_objects))

    # Every record is reported on its own, even when all fail: the stream retries from the failures.
    processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)
    return dict(process_partial_response(event, handle_record, processor, context))


def process_stream_event(
    event: dict[str, Any],
    *,
    context: LambdaContext | None = None,
    results_objects: ResultsReader | None = None,
    **adapters: Any,
) -> dict[str, Any]:
    """One stream event on a mailer built for it (the local runtime, tests); the function builds one per cold start."""
    return mail_error_files(event, error_file_mailer(**adapters), context, results_objects)
