"""The error file: each completed batch with errors becomes at most one email.

A claim is taken before the send and marked sent after it, so a redelivered batch, or a retry after a
send whose outcome is unknown, never mails a second time.
"""

from __future__ import annotations

from email.message import EmailMessage

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from timerack_bridge.domain.batch import BatchResult
from timerack_bridge.domain.entities import Customer, PayrollEmail
from timerack_bridge.domain.error_mail import build_error_file_message, reason_not_to_mail
from timerack_bridge.logic.ports import (
    EmailSender,
    EmailSendError,
    ErrorFileCustomers,
    MailClaim,
    MailMarkers,
    StoredBatch,
)

# A child of the handler's Logger (same service, from POWERTOOLS_SERVICE_NAME): the invocation's keys apply.
logger = Logger(child=True)


class ErrorFileMailer:
    """One stored batch in, at most one email out."""

    def __init__(
        self,
        *,
        customers: ErrorFileCustomers,
        markers: MailMarkers,
        sender: EmailSender,
        sender_address: str,
        metrics: Metrics | None,
    ) -> None:
        self.customers = customers
        self.markers = markers
        self.sender = sender
        self.sender_address = sender_address
        self.metrics = metrics

    def handle(self, stored: StoredBatch | None) -> str:
        """Returns what happened ("sent" or "skipped: why"); raises when the batch should be retried."""
        if stored is None:
            return self._skipped("not a completed batch with errors")
        batch = stored.batch
        customer = self._customer_of(batch)
        # The setting kept on the batch when it was sent; a batch stored before it was kept: today's setting.
        settings = stored.error_file
        if settings is None:
            settings = self.customers.payroll_email_of(customer) if customer else PayrollEmail(client_key="")
        reason = reason_not_to_mail(batch, settings)
        if reason:
            return self._skipped(reason, batch)
        message = build_error_file_message(
            batch,
            client_name=customer.name if customer else None,
            sender=self.sender_address,
            recipients=settings.recipients,
        )
        claim = self.markers.claim(batch.batch_id)
        if not claim.granted:
            return self._already_claimed(claim, batch)
        message_id = self._send(claim, message, batch, settings)
        self._mark_sent(claim, message_id, batch, settings)
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

    def _already_claimed(self, claim: MailClaim, batch: BatchResult) -> str:
        if claim.already_sending:
            # An earlier attempt died during its send: it may have been delivered, so never a second.
            logger.warning(
                "error file delivery unknown; not sending again",
                extra={"batch_id": batch.batch_id, "client_key": batch.client_key},
            )
            self._count("ErrorFileDeliveryUnknown")
        return self._skipped("already mailed", batch)

    def _send(self, claim: MailClaim, message: EmailMessage, batch: BatchResult, settings: PayrollEmail) -> str:
        """Send under the claim; a send that certainly failed gives the claim back, so the retry may send."""
        try:
            return self.sender.send(
                message, batch_id=batch.batch_id, sender=self.sender_address, recipients=settings.recipients
            )
        except EmailSendError as error:
            self.markers.release(claim)
            logger.error(
                "error file not sent; the stream will retry",
                extra={"batch_id": batch.batch_id, "client_key": batch.client_key, "reason": error.reason},
            )
            self._count("ErrorFileSendFailed")
            raise

    def _mark_sent(self, claim: MailClaim, message_id: str, batch: BatchResult, settings: PayrollEmail) -> None:
        failure = self.markers.mark_sent(claim, message_id=message_id, recipients=len(settings.recipients))
        if failure is not None:
            # The email is out; the claim stays "sending", which already blocks a second one.
            logger.warning(
                "error file sent but its marker not updated", extra={"batch_id": batch.batch_id, "error": failure}
            )

    def _customer_of(self, batch: BatchResult) -> Customer | None:
        """The customer the batch belongs to (a batch stored before it was kept: its key's legacy owner)."""
        if batch.customer_id is not None:
            return self.customers.get_customer(batch.customer_id)
        return self.customers.legacy_owner(batch.client_key)

    def _skipped(self, reason: str, batch: BatchResult | None = None) -> str:
        if batch is not None:
            logger.info("no error file", extra={"batch_id": batch.batch_id, "reason": reason})
            self._count("ErrorFileSkipped")
        return f"skipped: {reason}"

    def _count(self, name: str) -> None:
        if self.metrics is not None:
            self.metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
