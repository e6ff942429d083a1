"""The SES adapter: one raw MIME message through SES v2 `SendEmail`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from timerack_bridge.domain.error_mail import raw_bytes
from timerack_bridge.logic.ports import EmailSendError


class SesEmailSender:
    """Sends through a boto3 `sesv2` client given by the caller."""

    def __init__(self, sesv2_client: Any, *, configuration_set: str | None = None) -> None:
        self.client = sesv2_client
        self.configuration_set = configuration_set

    def send(self, message: EmailMessage, *, batch_id: str, sender: str, recipients: Sequence[str]) -> str:
        """Send and return SES's message id; `EmailSendError` when SES certainly did not take it."""
        params: dict[str, Any] = {
            "FromEmailAddress": sender,
            "Destination": {"ToAddresses": list(recipients)},
            "Content": {"Raw": {"Data": raw_bytes(message)}},
        }
        if self.configuration_set:
            params["ConfigurationSetName"] = self.configuration_set
        try:
            response = self.client.send_email(**params)
        # SES answered with an error, or was never reached: not sent. A read timeout is left to
        # propagate: SES may have taken the message, so the claim must stay.
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "ClientError")
            raise EmailSendError(batch_id, code) from error
        except BotocoreConnectionError as error:
            raise EmailSendError(batch_id, type(error).__name__) from error
        return str(response["MessageId"])


_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


class OutboxCopy:
    """A sender that also writes every message it sent to a folder as {id}.eml (the local runtime's outbox)."""

    def __init__(self, sender: SesEmailSender, directory: Path) -> None:
        self.sender = sender
        self.directory = directory

    def send(self, message: EmailMessage, *, batch_id: str, sender: str, recipients: Sequence[str]) -> str:
        message_id = self.sender.send(message, batch_id=batch_id, sender=sender, recipients=recipients)
        self.directory.mkdir(parents=True, exist_ok=True)
        name = _UNSAFE_FILENAME.sub("_", message_id or batch_id)
        (self.directory / f"{name}.eml").write_bytes(raw_bytes(message))
        return message_id
