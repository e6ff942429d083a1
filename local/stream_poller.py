"""The local stand-in for Lambda's DynamoDB stream event source mapping (the mailer's trigger).

Polls the table's stream with `get_records`, keeps the records the AWS filter would keep, hands them
to `on_event` in Lambda's event shape, and redelivers the records reported in `batchItemFailures`
on later polls, a bounded number of times (Lambda's MaximumRetryAttempts).
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from timerack_bridge.adapters.dynamodb.stream_filter import is_error_file_record

log = logging.getLogger("timerack_bridge.local")

StreamEvent = dict[str, Any]
PartialBatchResponse = dict[str, Any]


@dataclass
class _Pending:
    record: dict[str, Any]
    attempts: int


class StreamPoller:
    """Feeds `on_event` from a table's stream in a daemon thread; `start()` then `stop()`."""

    def __init__(
        self,
        dynamodb_client: Any,
        dynamodbstreams_client: Any,
        table_name: str,
        on_event: Callable[[StreamEvent], PartialBatchResponse],
        interval: float = 1.0,
        *,
        record_filter: Callable[[dict[str, Any]], bool] = is_error_file_record,
        max_attempts: int = 3,
        batch_size: int = 100,
        start_position: Literal["LATEST", "TRIM_HORIZON"] = "LATEST",
    ) -> None:
        self.dynamodb = dynamodb_client
        self.streams = dynamodbstreams_client
        self.table_name = table_name
        self.on_event = on_event
        self.interval = interval
        self.record_filter = record_filter
        self.max_attempts = max_attempts
        self.batch_size = batch_size
        self.start_position = start_position
        self.stream_arn: str | None = None
        self._iterators: dict[str, str] = {}
        # The last sequence number read per shard: after an error, reading resumes right after it.
        self._checkpoints: dict[str, str] = {}
        self._known_shards: set[str] = set()
        self._finished_shards: set[str] = set()
        self._retries: list[_Pending] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> StreamPoller:
        """Position on the stream before returning, so every write after `start()` is seen."""
        description = self.dynamodb.describe_table(TableName=self.table_name)["Table"]
        self.stream_arn = description.get("LatestStreamArn")
        if not self.stream_arn:
            raise ValueError(f"table {self.table_name} has no stream")
        self._discover_shards(self.start_position)
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=f"stream-poller-{self.table_name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None

    def poll_once(self) -> int:
        """One round: redeliveries first, then each shard's new records. Returns how many were delivered."""
        self._discover_shards("TRIM_HORIZON")  # a shard that appears later is read from its start
        delivered = 0
        if self._retries:
            retries, self._retries = self._retries, []
            self._deliver(retries)
            delivered += len(retries)
        for shard_id in list(self._iterators):
            records = [_Pending(r, 0) for r in self._read_shard(shard_id) if self.record_filter(r)]
            if records:
                self._deliver(records)
                delivered += len(records)
        return delivered

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except (ClientError, BotoCoreError):
                # The stand-in for AWS may be stopping, or an iterator expired: reposition and go on.
                log.exception("reading the stream of %s failed", self.table_name)
                self._iterators.clear()
            self._stop.wait(self.interval)

    def _discover_shards(self, position: str) -> None:
        params: dict[str, Any] = {"StreamArn": self.stream_arn}
        while True:
            stream = self.streams.describe_stream(**params)["StreamDescription"]
            for shard in stream.get("Shards", []):
                shard_id = shard["ShardId"]
                if shard_id in self._iterators or shard_id in self._finished_shards:
                    continue
                self._iterators[shard_id] = self._shard_iterator(shard_id, position)
                self._known_shards.add(shard_id)
            last = stream.get("LastEvaluatedShardId")
            if not last:
                return
            params["ExclusiveStartShardId"] = last

    def _shard_iterator(self, shard_id: str, position: str) -> str:
        params: dict[str, Any] = {"StreamArn": self.stream_arn, "ShardId": shard_id}
        if shard_id in self._checkpoints:
            params.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=self._checkpoints[shard_id])
        elif shard_id in self._known_shards:
            params["ShardIteratorType"] = "LATEST"  # known but nothing read yet: never replay older writes
        else:
            params["ShardIteratorType"] = position
        return str(self.streams.get_shard_iterator(**params)["ShardIterator"])

    def _read_shard(self, shard_id: str) -> list[dict[str, Any]]:
        response = self.streams.get_records(ShardIterator=self._iterators[shard_id], Limit=self.batch_size)
        records = response.get("Records", [])
        if records:
            self._checkpoints[shard_id] = records[-1]["dynamodb"]["SequenceNumber"]
        next_iterator = response.get("NextShardIterator")
        if next_iterator:
            self._iterators[shard_id] = next_iterator
        else:
            del self._iterators[shard_id]
            self._finished_shards.add(shard_id)
        return [lambda_record(r, self.stream_arn or "") for r in records]

    def _deliver(self, pending: list[_Pending]) -> None:
        event = {"Records": [p.record for p in pending]}
        try:
            response = self.on_event(event)
            failed = {f["itemIdentifier"] for f in (response or {}).get("batchItemFailures", [])}
        except Exception:
            log.exception("the stream consumer failed; its records will be retried")
            failed = {p.record["dynamodb"]["SequenceNumber"] for p in pending}
        for item in pending:
            if item.record["dynamodb"]["SequenceNumber"] not in failed:
                continue
            if item.attempts + 1 >= self.max_attempts:
                log.error(
                    "stream record %s dropped after %d attempts",
                    item.record["dynamodb"]["SequenceNumber"],
                    item.attempts + 1,
                )
            else:
                self._retries.append(_Pending(item.record, item.attempts + 1))


def lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A boto3 `get_records` record in the shape Lambda delivers: base64 binaries, epoch seconds, the ARN."""
    stream_record = dict(record["dynamodb"])
    created = stream_record.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        stream_record["ApproximateCreationDateTime"] = int(created.timestamp())
    for image in ("Keys", "NewImage", "OldImage"):
        if image in stream_record:
            stream_record[image] = {k: _json_attribute(v) for k, v in stream_record[image].items()}
    return {**record, "dynamodb": stream_record, "eventSourceARN": stream_arn}


def _json_attribute(value: dict[str, Any]) -> dict[str, Any]:
    if "B" in value:
        return {"B": _b64(value["B"])}
    if "BS" in value:
        return {"BS": [_b64(v) for v in value["BS"]]}
    if "M" in value:
        return {"M": {k: _json_attribute(v) for k, v in value["M"].items()}}
    if "L" in value:
        return {"L": [_json_attribute(v) for v in value["L"]]}
    return value


def _b64(raw: bytes | str) -> str:
    return raw if isinstance(raw, str) else base64.b64encode(raw).decode("ascii")
