"""The mailer's work on one stream event: each completed batch with errors becomes at most one email.

Powertools batch processing reports failed records by sequence number, so one failed send is retried
by the stream without holding back the others.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from timerack_bridge.adapters.dynamodb.admin import AdminStore
from timerack_bridge.adapters.dynamodb.mail_marker import MailMarkerStore, MarkerState
from timerack_bridge.adapters.dynamodb.payroll_history import batch_from_item, decode_image, stored_error_file
from timerack_bridge.adapters.dynamodb.stream_filter import is_error_file_record
from timerack_bridge.adapters.ses import SesEmailSender, raw_bytes
from timerack_bridge.domain.error_mail import build_error_file_message, reason_not_to_mail
from timerack_bridge.logic.ports import EmailSendError
from timerack_bridge.models import BatchResult, Customer, PayrollEmail

# A child of the handler's Logger (same service, from POWERTOOLS_SERVICE_NAME): the invocation's keys apply.
logger = Logger(child=True)

_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


def process_stream_event(
    event: dict[str, Any],
    *,
    admin_store: AdminStore,
    ses_client: Any,
    sender: str,
    outbox_dir: Path | None = None,
    marker_store: MailMarkerStore | None = None,
    metrics: Metrics | None = None,
    context: LambdaContext | None = None,
) -> dict[str, Any]:
    """Mail the error file of every completed batch with errors in a DynamoDB stream event.

    Returns the partial batch response `{"batchItemFailures": [{"itemIdentifier": sequenceNumber}]}`.
    The marker store defaults to the admin store's table (the marker sits beside its batch).
    """
    mailer = ErrorFileMailer(
        admin_store=admin_store,
        marker_store=marker_store or MailMarkerStore(admin_store.client, admin_store.table_name),
        sender=SesEmailSender(ses_client),
        sender_address=sender,
        outbox_dir=outbox_dir,
        metrics=metrics,
    )
    # Every record is reported on its own, even when all fail: the stream retries from the failures.
    processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)
    return dict(process_partial_response(event, mailer.handle_record, processor, context))


class ErrorFileMailer:
    """One stream record in, at most one email out."""

    def __init__(
        self,
        *,
        admin_store: AdminStore,
        marker_store: MailMarkerStore,
        sender: SesEmailSender,
        sender_address: str,
        outbox_dir: Path | None,
        metrics: Metrics | None,
    ) -> None:
        self.admin_store = admin_store
        self.marker_store = marker_store
        self.sender = sender
        self.sender_address = sender_address
        self.outbox_dir = outbox_dir
        self.metrics = metrics

    def handle_record(self, record: DynamoDBRecord) -> str:
        """Returns what happened ("sent" or "skipped: why"); raises when the record should be retried."""
        # The AWS filter already narrows the stream; checked again for redeliveries and the local runtime.
        if not is_error_file_record(record.raw_event):
            return self._skipped("not a completed batch with errors")
        item = decode_image(_image_with_bytes(record.raw_event["dynamodb"]["NewImage"]))
        batch = batch_from_item(item)
        customer = self._customer_of(batch)
        # The setting kept on the batch when it was sent; a batch stored before it was kept: today's setting.
        settings = stored_error_file(item)
        if settings is None:
            settings = self.admin_store.payroll_email_of(customer) if customer else PayrollEmail(client_key="")
        reason = reason_not_to_mail(batch, settings)
        if reason:
            return self._skipped(reason, batch)

        message = build_error_file_message(
            batch,
            client_name=customer.name if customer else None,
            sender=self.sender_address,
            recipients=settings.recipients,
        )
        claim = self.marker_store.claim(batch.batch_id)
        if not claim.granted:
            if claim.existing_state is MarkerState.SENDING:
                # An earlier attempt died during its send: it may have been delivered, so never a second.
                logger.warning(
                    "error file delivery unknown; not sending again",
                    extra={"batch_id": batch.batch_id, "client_key": batch.client_key},
                )
                self._count("ErrorFileDeliveryUnknown")
            return self._skipped("already mailed", batch)

        try:
            message_id = self.sender.send(
                message, batch_id=batch.batch_id, sender=self.sender_address, recipients=settings.recipients
            )
        except EmailSendError as error:
            self.marker_store.release(claim)
            logger.error(
                "error file not sent; the stream will retry",
                extra={"batch_id": batch.batch_id, "client_key": batch.client_key, "reason": error.reason},
            )
            self._count("ErrorFileSendFailed")
            raise

        try:
            self.marker_store.mark_sent(claim, message_id=message_id, recipients=len(settings.recipients))
        except ClientError as error:
            # The email is out; the claim stays "sending", which already blocks a second one.
            logger.warning(
                "error file sent but its marker not updated",
                extra={"batch_id": batch.batch_id, "error": error.response.get("Error", {}).get("Code")},
            )
        if self.outbox_dir is not None:
            _write_outbox(self.outbox_dir, message_id or batch.batch_id, raw_bytes(message))
        logger.info(
            "error file sent",
            extra={
                "batch_id": batch.batch_id,
                "client_key": batch.client_key,
                "message_id": message_id,
                "recipients": len(settings.recipients),
                "errors": batch.counts.errors,
            },
        )
        self._count("ErrorFileSent")
        return "sent"

    def _customer_of(self, batch: BatchResult) -> Customer | None:
        """The customer the batch belongs to (a batch stored before it was kept: its key's legacy owner)."""
        if batch.customer_id is not None:
            return self.admin_store.get_customer(batch.customer_id)
        return self.admin_store.legacy_owner(batch.client_key)

    def _skipped(self, reason: str, batch: BatchResult | None = None) -> str:
        if batch is not None:
            logger.info("no error file", extra={"batch_id": batch.batch_id, "reason": reason})
            self._count("ErrorFileSkipped")
        return f"skipped: {reason}"

    def _count(self, name: str) -> None:
        if self.metrics is not None:
            self.metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


def _write_outbox(directory: Path, name: str, raw: bytes) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{_UNSAFE_FILENAME.sub('_', name)}.eml").write_bytes(raw)


def batch_from_stream_image(new_image: dict[str, Any]) -> BatchResult:
    """A batch record's stream NewImage (Lambda's JSON shape, binaries in base64) back to the model."""
    return batch_from_item(decode_image(_image_with_bytes(new_image)))


def _image_with_bytes(image: dict[str, Any]) -> dict[str, Any]:
    """Lambda delivers binary attributes base64-encoded in JSON; boto3's deserializer wants bytes."""
    return {name: _attribute_with_bytes(value) for name, value in image.items()}


def _attribute_with_bytes(value: dict[str, Any]) -> dict[str, Any]:
    if "B" in value and isinstance(value["B"], str):
        return {"B": base64.b64decode(value["B"])}
    if "BS" in value:
        return {"BS": [base64.b64decode(v) if isinstance(v, str) else v for v in value["BS"]]}
    if "M" in value:
        return {"M": _image_with_bytes(value["M"])}
    if "L" in value:
        return {"L": [_attribute_with_bytes(v) for v in value["L"]]}
    return value
