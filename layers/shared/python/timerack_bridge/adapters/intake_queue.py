"""The intake queue (SQS): the id of each batch accepted for the intake worker, nothing else (the body is in
S3, the rest on its Payroll History record)."""

from __future__ import annotations

import json
from typing import Any


def intake_message(batch_id: str) -> str:
    return json.dumps({"batchId": batch_id}, separators=(",", ":"))


def batch_id_of(body: str) -> str:
    """The batch id a message names; ValueError when the body is not an intake message."""
    message = json.loads(body)
    batch_id = message.get("batchId") if isinstance(message, dict) else None
    if not isinstance(batch_id, str) or not batch_id:
        raise ValueError("not an intake message")
    return batch_id


class SqsIntakeQueue:
    def __init__(self, sqs: Any, url: str) -> None:
        self.sqs = sqs
        self.url = url

    def send(self, batch_id: str) -> None:
        self.sqs.send_message(QueueUrl=self.url, MessageBody=intake_message(batch_id))
