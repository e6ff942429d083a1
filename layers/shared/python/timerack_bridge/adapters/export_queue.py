"""The export queue on SQS (the `ExportQueue` port): two lanes, one message per client.

Messages go out ten to a SendMessageBatch; the entries SQS refuses are sent again (with backoff) a
bounded number of times, and what is still refused is handed back to the caller, never dropped silently.
A SendMessageBatch that fails as a whole (after boto3's own retries) refuses its ten messages only: the
other batches of the same call are sent, and their clients are not reported refused.
A received message is handed back to its queue after a delay of our choosing (ChangeMessageVisibility),
so a failed client is retried within minutes rather than after the queue's full visibility timeout.

`create_export_queues` makes the same queues the stack makes (a dead-letter queue each, with the same
redrive), for the local runtime and the tests on moto.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from timerack_bridge.domain.export_models import ExportMessage
from timerack_bridge.logic.ports import Delivery, Lane

logger = Logger(child=True)

SEND_BATCH = 10  # SQS's most entries in one SendMessageBatch
SEND_ATTEMPTS = 4
# SQS's longest delay and visibility (900 s and 12 h): a retry is never asked for longer.
MAX_DELAY_SECONDS = 900
MAX_VISIBILITY_SECONDS = 12 * 3600

# What the stack sets (infra/stack/export.py reads these too): a message goes to its dead-letter queue
# on the receive after the fifth; the worker's timeout times six is the visibility timeout. The worker's
# timeout covers the slowest HTTPS send with the default settings (164 s: four attempts of 5 s + 30 s,
# three waits of at most 8 s) and the reads and writes around it.
MAX_RECEIVES = 5
WORKER_TIMEOUT_SECONDS = 210
VISIBILITY_TIMEOUT_SECONDS = 6 * WORKER_TIMEOUT_SECONDS
DEAD_LETTER_RETENTION_SECONDS = 14 * 86400


@dataclass(frozen=True)
class QueueUrls:
    bulk: str
    priority: str

    def of(self, lane: Lane) -> str:
        return self.bulk if lane == "bulk" else self.priority


class SqsExportQueue:
    """The two lanes of the export queue, on one boto3 SQS client (thread-safe: the sends may run in parallel)."""

    def __init__(
        self,
        sqs_client: Any,
        urls: QueueUrls,
        *,
        workers: int = 4,
        pause: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = sqs_client
        self.urls = urls
        self.workers = workers
        self.pause = pause

    def send(self, messages: Sequence[ExportMessage], *, lane: Lane, delay_seconds: int = 0) -> list[ExportMessage]:
        """Queue the messages on the lane; the ones SQS still refused after SEND_ATTEMPTS (empty: all queued)."""
        url = self.urls.of(lane)
        delay = max(0, min(delay_seconds, MAX_DELAY_SECONDS))
        groups = [list(messages[i : i + SEND_BATCH]) for i in range(0, len(messages), SEND_BATCH)]
        if len(groups) <= 1 or self.workers <= 1:
            refused = [self._send_group(url, group, delay) for group in groups]
        else:
            with ThreadPoolExecutor(max_workers=min(self.workers, len(groups))) as pool:
                refused = list(pool.map(lambda group: self._send_group(url, group, delay), groups))
        return [message for group in refused for message in group]

    def _send_group(self, url: str, group: list[ExportMessage], delay: int) -> list[ExportMessage]:
        """One batch of ten at most: the messages still not queued (its refused entries sent again)."""
        pending = dict(enumerate(group))
        for attempt in range(SEND_ATTEMPTS):
            if attempt:
                self.pause(min(0.1 * 2**attempt, 2.0))
            entries = [
                {"Id": str(index), "MessageBody": message.model_dump_json(by_alias=True), "DelaySeconds": delay}
                for index, message in pending.items()
            ]
            try:
                response = self.client.send_message_batch(QueueUrl=url, Entries=entries)
            except (ClientError, BotoCoreError) as exc:
                # boto3 already retried what it could: these messages are not queued, the other batches may be
                logger.error("a SendMessageBatch failed", extra={"error": type(exc).__name__, "messages": len(pending)})
                return list(pending.values())
            failed = {int(entry["Id"]) for entry in response.get("Failed", [])}
            pending = {index: message for index, message in pending.items() if index in failed}
            if not pending:
                return []
        return list(pending.values())

    def retry_later(self, delivery: Delivery, seconds: int) -> None:
        """The message comes back to its queue after `seconds` (0: at once, so a last failure reaches the DLQ)."""
        self.hand_back(delivery.source, delivery.receipt_handle, seconds)

    def hand_back(self, source: str, receipt_handle: str, seconds: int) -> None:
        """A received message (by its queue and receipt handle: one whose body could not even be read)
        comes back to its queue after `seconds`."""
        self.client.change_message_visibility(
            QueueUrl=self._url_of(source),
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=max(0, min(seconds, MAX_VISIBILITY_SECONDS)),
        )

    def _url_of(self, source: str) -> str:
        """The queue URL of a record's eventSourceARN (or of a URL, as the local runtime passes)."""
        name = source.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        for url in (self.urls.bulk, self.urls.priority):
            if source == url or url.rstrip("/").rsplit("/", 1)[-1] == name:
                return url
        raise ValueError(f"{source} is not one of the export queues")


def delivery_of(record: dict[str, Any]) -> Delivery:
    """One SQS record of a Lambda event as a `Delivery` (the body is validated: a bad one raises)."""
    return Delivery(
        message=ExportMessage.model_validate_json(record["body"]),
        receive_count=int(record.get("attributes", {}).get("ApproximateReceiveCount", "1")),
        receipt_handle=record["receiptHandle"],
        source=record["eventSourceARN"],
    )


def create_export_queues(sqs_client: Any, prefix: str) -> QueueUrls:
    """The two lanes and their dead-letter queues, as the stack makes them (the local runtime, the tests)."""
    urls = {}
    for lane in ("bulk", "priority"):
        dead = sqs_client.create_queue(
            QueueName=f"{prefix}-{lane}-dlq",
            Attributes={"MessageRetentionPeriod": str(DEAD_LETTER_RETENTION_SECONDS)},
        )["QueueUrl"]
        dead_arn = sqs_client.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = {"deadLetterTargetArn": dead_arn, "maxReceiveCount": MAX_RECEIVES}
        urls[lane] = sqs_client.create_queue(
            QueueName=f"{prefix}-{lane}",
            Attributes={
                "VisibilityTimeout": str(VISIBILITY_TIMEOUT_SECONDS),
                "RedrivePolicy": json.dumps(redrive),
            },
        )["QueueUrl"]
    return QueueUrls(bulk=urls["bulk"], priority=urls["priority"])
