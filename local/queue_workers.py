"""The local stand-in for Lambda's SQS event source mappings (the export and intake workers' triggers).

Receives from the queues the way Lambda's pollers do, one record per event (the stack's batch size),
and hands each to `on_event` in Lambda's SQS event shape (messageId, receiptHandle, body, attributes
with ApproximateReceiveCount, eventSourceARN = the queue's ARN). A record not listed in the reply's
`batchItemFailures` is deleted; a listed one (or every one, when `on_event` raises) stays on the queue
and comes back when its visibility ends, so the queue's redrive moves it to its dead-letter queue after
maxReceiveCount receives, as in AWS. The first queue named comes first: every round fills the free
workers from it before the next. At most `concurrency` records are handled at once (the event
source's maximum concurrency). Receives never long-poll: the moto stand-in serves one call at a time,
and a waiting receive would hold every other caller; an empty round sleeps `interval` instead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger("timerack_bridge.local")

SqsEvent = dict[str, Any]
PartialBatchResponse = dict[str, Any]
MAX_RECEIVE = 10  # SQS's most messages in one ReceiveMessage


@dataclass(frozen=True)
class _Queue:
    url: str
    arn: str


class QueueWorkers:
    """Feeds `on_event` from SQS queues on up to `concurrency` threads; `start()` then `stop()`."""

    def __init__(
        self,
        sqs_client: Any,
        queue_urls: Sequence[str],
        on_event: Callable[[SqsEvent], PartialBatchResponse],
        *,
        concurrency: int = 5,
        interval: float = 0.25,
        region: str = "us-east-1",
        name: str = "export",
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.sqs = sqs_client
        self.queue_urls = list(queue_urls)
        self.on_event = on_event
        self.concurrency = concurrency
        self.interval = interval
        self.region = region
        self.name = name  # which worker it feeds, in its threads' names and its log lines
        self._queues: list[_Queue] = []
        self._busy = 0
        self._freed = threading.Condition()
        self._stop = threading.Event()
        self._pool: ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> QueueWorkers:
        """Read the queues' ARNs (a missing queue fails here, not in the thread), then start receiving."""
        self._queues = [_Queue(url, self._arn(url)) for url in self.queue_urls]
        self._stop.clear()
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix=f"{self.name}-worker")
        self._thread = threading.Thread(target=self._loop, name=f"{self.name}-queue-workers", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Receive no more; let the records being handled finish (they are deleted or left as they end)."""
        self._stop.set()
        with self._freed:
            self._freed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    @property
    def busy(self) -> int:
        """How many records are being handled right now."""
        with self._freed:
            return self._busy

    def _arn(self, url: str) -> str:
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
        return str(attributes["QueueArn"])

    def _loop(self) -> None:
        while not self._stop.is_set():
            free = self._wait_for_free_workers()
            if free == 0:
                continue
            try:
                handed = self._receive_round(free)
            except (ClientError, BotoCoreError):
                log.exception("receiving from the %s queues failed", self.name)  # the stand-in may be stopping
                handed = 0
            if handed == 0:
                self._stop.wait(self.interval)

    def _wait_for_free_workers(self) -> int:
        with self._freed:
            if self._busy >= self.concurrency:
                self._freed.wait(timeout=self.interval)
            return max(self.concurrency - self._busy, 0)

    def _receive_round(self, free: int) -> int:
        """Fill up to `free` workers, from the first queue first; how many records were handed out."""
        handed = 0
        for queue in self._queues:
            if handed >= free or self._stop.is_set():
                break
            response = self.sqs.receive_message(
                QueueUrl=queue.url,
                MaxNumberOfMessages=min(free - handed, MAX_RECEIVE),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            )
            for message in response.get("Messages", []):
                self._hand_out(queue, message)
                handed += 1
        return handed

    def _hand_out(self, queue: _Queue, message: dict[str, Any]) -> None:
        with self._freed:
            self._busy += 1
        assert self._pool is not None
        self._pool.submit(self._handle, queue, message)

    def _handle(self, queue: _Queue, message: dict[str, Any]) -> None:
        record = lambda_record(message, queue.arn, self.region)
        try:
            try:
                response = self.on_event({"Records": [record]})
                failed = {f["itemIdentifier"] for f in (response or {}).get("batchItemFailures", [])}
            except Exception:
                log.exception("the %s worker failed; its message comes back when its visibility ends", self.name)
                failed = {record["messageId"]}
            if record["messageId"] not in failed:
                self.sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=record["receiptHandle"])
        except (ClientError, BotoCoreError):
            log.exception("deleting a handled %s message failed; it will be handled again", self.name)
        finally:
            with self._freed:
                self._busy -= 1
                self._freed.notify_all()


def lambda_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """A boto3 `receive_message` message in the shape Lambda delivers it in an SQS event."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value["DataType"],
            }
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
