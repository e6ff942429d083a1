"""Payroll History: one record per batch. The completed record is also the mailer's outbox.

Item: pk=BATCH#{batchId}, sk=BATCH, status "processing" then "completed", hasErrors, counts, and the
per-assignment results as gzip-compressed JSON (`results_gz`). DynamoDB holds at most 400 KB an item, and a
20,000-timecard batch's results can pass it: results whose gzip passes RESULTS_INLINE_MAX_BYTES are put in
the intake bucket first (results/{batchId}-{sha256 prefix}.json.gz), and the item keeps their key
(`results_s3`) and sha256 (`results_sha256`) instead. Without a bucket (no INTAKE_BUCKET) they stay inline
while the item fits, and a record that would not fit is refused before it is written (`BatchResultsTooBig`).

A batch belongs to its Primary Customer (`customer_id`), indexed `gsi1pk=BATCHES#{customerId}`, so a new
client key keeps it and the next holder of the old key sees none of it. Batches stored before that
(no `customer_id`) stay indexed `gsi1pk=HISTORY#{clientKey}`: they are read for the customer that key's
legacy records belong to (`AdminStore.legacy_client_key`, `legacy_owner`). They are all older than
any batch with a customer, so a listing reads the customer's partition, then the legacy one.

Every batch is also indexed `gsi2pk=ALLBATCHES`, for an admin's listing across clients, newest first. One
partition: batches are a few a minute at most (each a person's "Send to TempWorks" or import), far below
what one index partition takes, and a Query reads only the page it returns. Both indexes sort on
`{submittedAt}#{batchId}` (UTC ISO date-times), so a submitted-at range is a key condition (BETWEEN).

The error-file setting in force when the batch was sent goes with it (`receiveErrorFile`, and
`errorFileRecipients` when on): the stream filter and the mailer read it from the record, so a later
change of the settings neither adds nor removes an email. It is never part of an API response.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import UTC
from decimal import Decimal
from typing import Any, Protocol

from boto3.dynamodb.types import Binary, TypeDeserializer
from botocore.exceptions import ClientError

from timerack_bridge.adapters.batch_objects import BatchObjectMissing
from timerack_bridge.adapters.dynamodb.base import TableStore, decode_token, encode, encode_token
from timerack_bridge.domain.batch import AssignmentResult, BatchResult, BatchSummary, SubmittedRange
from timerack_bridge.domain.entities import PayrollEmail
from timerack_bridge.exceptions import BridgeError, UnprocessableError

CUSTOMER_HISTORY = "BATCHES#"  # gsi1pk of a customer's batches: BATCHES#{customerId}
LEGACY_HISTORY = "HISTORY#"  # gsi1pk of batches stored before batches carried their customer
ALL_HISTORY = "ALLBATCHES"  # gsi2pk of every batch (an admin's listing across clients)
EVER = SubmittedRange()  # no submitted-at filter
RECEIVE_ERROR_FILE = "receiveErrorFile"  # the stream filter reads it (mailer.stream_filter)
ERROR_FILE_RECIPIENTS = "errorFileRecipients"
_SUMMARY_FIELDS = tuple(BatchSummary.model_fields)
# Results whose gzip is larger go to the intake bucket: the rest of the item stays far below the last 100 KB.
RESULTS_INLINE_MAX_BYTES = 300 * 1024
ITEM_MAX_BYTES = 400 * 1024  # DynamoDB's limit of one item
RESULTS_S3 = "results_s3"  # the key of the results in the intake bucket
RESULTS_SHA256 = "results_sha256"  # of the gzip bytes: what is read back is what was written

_deserializer = TypeDeserializer()


class ResultsReader(Protocol):
    def get_results(self, key: str) -> bytes: ...


class ResultsObjects(ResultsReader, Protocol):
    """Where results too big for the item go (adapters.batch_objects.S3BatchObjects)."""

    def put_results(self, batch_id: str, results_gz: bytes) -> str: ...


class BatchResultsTooBig(BridgeError):
    """The completed record would pass 400 KB and there is no intake bucket to keep its results."""

    status_code = 500


class BatchResultsUnavailable(BridgeError):
    """A batch's results are in the intake bucket and cannot be read back (not configured, missing, altered)."""

    status_code = 500


def _compress_results(results: list[AssignmentResult]) -> bytes:
    payload = [r.model_dump(mode="json", by_alias=True) for r in results]
    # mtime=0: the same results give the same bytes (and sha256) whenever they are compressed.
    return gzip.compress(json.dumps(payload, separators=(",", ":")).encode(), compresslevel=6, mtime=0)


def _decompress_results(blob: Any) -> list[AssignmentResult]:
    raw = blob.value if isinstance(blob, Binary) else blob
    return [AssignmentResult.model_validate(r) for r in json.loads(gzip.decompress(raw))]


def item_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it (about): attribute names and values, in bytes (attribute-value form)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "B":
        return len(inner)
    if kind == "N":
        return len(Decimal(inner).as_tuple().digits) // 2 + 2
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_size(v) for k, v in inner.items())
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in inner)
    return sum(len(v) if isinstance(v, bytes) else len(str(v).encode()) for v in inner)  # SS, NS, BS


def stored_results(item: dict[str, Any], bucket: ResultsReader | None) -> list[AssignmentResult]:
    """A record's results: inline, or read from the intake bucket and checked against their sha256."""
    if item.get("results_gz") is not None:
        return _decompress_results(item["results_gz"])
    key = item.get(RESULTS_S3)
    if key is None:  # a "processing" record stored without results
        return []
    batch_id = item["batch_id"]
    if bucket is None:
        raise BatchResultsUnavailable(
            f"The results of batch {batch_id} are kept in the intake bucket, and INTAKE_BUCKET is not set here"
        )
    try:
        blob = bucket.get_results(key)
    except BatchObjectMissing:
        msg = f"The results of batch {batch_id} are missing from the intake bucket ({key})"
        raise BatchResultsUnavailable(msg) from None
    if hashlib.sha256(blob).hexdigest() != item.get(RESULTS_SHA256):
        raise BatchResultsUnavailable(f"The results of batch {batch_id} in the intake bucket do not match their sha256")
    return _decompress_results(blob)


def history_partition(batch: BatchResult) -> str:
    if batch.customer_id is None:
        return f"{LEGACY_HISTORY}{batch.client_key}"
    return f"{CUSTOMER_HISTORY}{batch.customer_id}"


def history_sort_key(batch: BatchResult) -> str:
    return f"{batch.submitted_at.isoformat()}#{batch.batch_id}"


def submitted_between(submitted: SubmittedRange) -> tuple[str, str]:
    """The sort keys of batches submitted in the range, both ends included.

    Keys are `{UTC isoformat}#{batchId}`; the same instant written with or without microseconds sorts
    the same way ("+" before "."), and "$" follows "#", so the upper bound keeps every batch of its instant.
    """
    low = submitted.start.astimezone(UTC).isoformat() if submitted.start else "0"
    high = f"{submitted.end.astimezone(UTC).isoformat()}$" if submitted.end else "~"
    return low, high


def batch_item(batch: BatchResult, error_file: PayrollEmail | None = None) -> dict[str, Any]:
    """The stored form of a batch (the API writes it, the mailer reads it from the stream).

    `error_file`: the client's settings when the batch was sent; kept on the record for the mailer.
    """
    item: dict[str, Any] = {
        "pk": f"BATCH#{batch.batch_id}",
        "sk": "BATCH",
        "gsi1pk": history_partition(batch),
        "gsi1sk": history_sort_key(batch),
        "gsi2pk": ALL_HISTORY,
        "gsi2sk": history_sort_key(batch),
        "batch_id": batch.batch_id,
        "client_key": batch.client_key,
        "customer_id": batch.customer_id,
        "submitted_at": batch.submitted_at.isoformat(),
        "weekend_bill": batch.weekend_bill.isoformat() if batch.weekend_bill else None,
        "counts": batch.counts.model_dump(mode="json"),
        "source": batch.source,
        "status": batch.status,
        "hasErrors": batch.counts.errors > 0,
        "results_gz": _compress_results(batch.results),
    }
    if error_file is not None:
        item[RECEIVE_ERROR_FILE] = error_file.receive_error_file
        if error_file.receive_error_file:  # recipients are copied only where an email may go to them
            item[ERROR_FILE_RECIPIENTS] = list(error_file.recipients)
    return item


def stored_error_file(item: dict[str, Any]) -> PayrollEmail | None:
    """The error-file setting kept on a batch record; None on a record stored before it was kept."""
    if RECEIVE_ERROR_FILE not in item:
        return None
    return PayrollEmail(
        client_key=item["client_key"],
        receive_error_file=item[RECEIVE_ERROR_FILE],
        recipients=item.get(ERROR_FILE_RECIPIENTS) or [],
    )


def batch_from_item(item: dict[str, Any], bucket: ResultsReader | None = None) -> BatchResult:
    """A decoded batch item back to the model; works on a stream NewImage after `decode_image`.

    `bucket`: where results too big for the item are read from (BatchResultsUnavailable when needed and None).
    """
    return BatchResult(
        batch_id=item["batch_id"],
        client_key=item["client_key"],
        customer_id=item.get("customer_id"),
        submitted_at=item["submitted_at"],
        weekend_bill=item.get("weekend_bill"),
        counts=item["counts"],
        results=stored_results(item, bucket),
        source=item.get("source", "timerack"),
        status=item["status"],
    )


def decode_image(image: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB stream NewImage (attribute-value form) to a plain dict."""
    from timerack_bridge.adapters.dynamodb.base import decode

    return decode(image)


class PayrollHistoryStore(TableStore):
    """`objects`: the intake bucket, for results too big for the item (None: every batch's results inline)."""

    def __init__(self, client: Any, table_name: str, objects: ResultsObjects | None = None) -> None:
        super().__init__(client, table_name)
        self.objects = objects

    def put_batch(
        self, batch: BatchResult, *, error_file: PayrollEmail | None = None, over_processing: bool = False
    ) -> bool:
        """Keep the batch; `over_processing`: only over its `processing` record (False when another run of
        the same accepted batch completed it first: that record stands, one answer per batch)."""
        item = batch_item(batch, error_file)
        if len(item["results_gz"]) > RESULTS_INLINE_MAX_BYTES:
            item = self._results_aside(item)
        if not over_processing:
            self.put(item)
            return True
        try:
            self.put(
                item,
                # `failed`: a batch its worker gave up on, redriven from the dead-letter queue.
                ConditionExpression="#status IN (:processing, :failed)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":processing": {"S": "processing"}, ":failed": {"S": "failed"}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _results_aside(self, item: dict[str, Any]) -> dict[str, Any]:
        """Results too big to keep inline: in the bucket first (the record names them only once they are
        stored), or, without a bucket, inline while the item fits and refused before the write when it does not."""
        if self.objects is None:
            size = item_size(encode(item))
            if size > ITEM_MAX_BYTES:
                raise BatchResultsTooBig(
                    f"The results of batch {item['batch_id']} need {size} bytes, more than one Payroll History "
                    "record holds, and INTAKE_BUCKET is not set to keep them"
                )
            return item
        results_gz = item.pop("results_gz")
        item[RESULTS_S3] = self.objects.put_results(item["batch_id"], results_gz)
        item[RESULTS_SHA256] = hashlib.sha256(results_gz).hexdigest()
        return item

    def get_batch(self, batch_id: str) -> BatchResult | None:
        item = self.get(f"BATCH#{batch_id}", "BATCH")
        return batch_from_item(item, self.objects) if item else None

    def list_batches(
        self,
        customer_id: int,
        *,
        legacy_client_key: str | None,
        limit: int,
        next_token: str | None,
        submitted: SubmittedRange = EVER,
    ) -> tuple[list[BatchSummary], str | None]:
        """A customer's batches, newest first: its own, then those stored under its legacy key string."""
        between = submitted_between(submitted)
        partitions = [f"{CUSTOMER_HISTORY}{customer_id}"]
        if legacy_client_key:
            partitions.append(f"{LEGACY_HISTORY}{legacy_client_key}")
        start = decode_token(next_token)
        if start is not None:
            # A token names its partition: the listing resumes there (a token of another partition is refused).
            resumed = start.get("gsi1pk", {}).get("S") if isinstance(start.get("gsi1pk"), dict) else None
            if resumed not in partitions:
                raise UnprocessableError("nextToken is not a token this API gave out")
            partitions = partitions[partitions.index(resumed) :]
            start = None if set(start) == {"gsi1pk"} else _within(start, "gsi1sk", between)
        items: list[dict[str, Any]] = []
        last: dict[str, Any] | None = None
        for position, partition in enumerate(partitions):
            page, last = self.query_index(
                "gsi1", partition, forward=False, limit=limit - len(items), start=start, sk_between=between
            )
            items += page
            start = None
            if last is None and len(items) >= limit and position + 1 < len(partitions):
                last = {"gsi1pk": {"S": partitions[position + 1]}}  # the next page starts the next partition
            if last is not None:
                break
        return _summaries(items), encode_token(last)

    def list_all_batches(
        self, *, limit: int, next_token: str | None, submitted: SubmittedRange = EVER
    ) -> tuple[list[BatchSummary], str | None]:
        """Every client's batches, newest first (an admin's listing), submitted in the range."""
        between = submitted_between(submitted)
        start = decode_token(next_token)
        if start is not None:
            start = _within(start, "gsi2sk", between)
        items, last = self.query_index("gsi2", ALL_HISTORY, forward=False, limit=limit, start=start, sk_between=between)
        return _summaries(items), encode_token(last)


def _summaries(items: list[dict[str, Any]]) -> list[BatchSummary]:
    return [BatchSummary(**{k: i[k] for k in _SUMMARY_FIELDS if k in i}) for i in items]


def _within(start: dict[str, Any], sort_key: str, between: tuple[str, str]) -> dict[str, Any]:
    """A token's key, if it lies in the range asked for (DynamoDB refuses a start outside its key condition)."""
    value = start.get(sort_key)
    key = value.get("S") if isinstance(value, dict) else None
    if not isinstance(key, str) or not between[0] <= key <= between[1]:
        raise UnprocessableError("nextToken is not a token this API gave out for this range")
    return start
