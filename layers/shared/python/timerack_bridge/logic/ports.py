"""Failures of the error-file mailer."""

from __future__ import annotations


class EmailSendError(RuntimeError):
    """SES refused the message or could not be reached: it was certainly not sent, a retry may send it."""

    def __init__(self, batch_id: str, reason: str) -> None:
        super().__init__(f"error file of batch {batch_id} not sent: {reason}")
        self.batch_id = batch_id
        self.reason = reason
