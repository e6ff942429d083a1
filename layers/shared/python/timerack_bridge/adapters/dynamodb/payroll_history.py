"""Payroll History: one record per batch. The completed record is also the mailer's outbox.

Item: pk=BATCH#{batchId}, sk=BATCH, status "processing" then "completed", hasErrors, counts, and the
per-assignment results as gzip-compressed JSON (a 5,000-timecard batch stays far below 400 KB).

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
import json
from datetime import UTC
from typing import Any

from boto3.dynamodb.types import Binary, TypeDeserializer

from timerack_bridge.adapters.dynamodb.base import TableStore, decode_token, encode_token
from timerack_bridge.domain.batch import AssignmentResult, BatchResult, BatchSummary, SubmittedRange
from timerack_bridge.domain.entities import PayrollEmail
from timerack_bridge.exceptions import UnprocessableError

CUSTOMER_HISTORY = "BATCHES#"  # gsi1pk of a customer's batches: BATCHES#{customerId}
LEGACY_HISTORY = "HISTORY#"  # gsi1pk of batches stored before batches carried their customer
ALL_HISTORY = "ALLBATCHES"  # gsi2pk of every batch (an admin's listing across clients)
EVER = SubmittedRange()  # no submitted-at filter
RECEIVE_ERROR_FILE = "receiveErrorFile"  # the stream filter reads it (mailer.stream_filter)
ERROR_FILE_RECIPIENTS = "errorFileRecipients"
_SUMMARY_FIELDS = tuple(BatchSummary.model_fields)

_deserializer = TypeDeserializer()


def _compress_results(results: list[AssignmentResult]) -> bytes:
    payload = [r.model_dump(mode="json", by_alias=True) for r in results]
    return gzip.compress(json.dumps(payload, separators=(",", ":")).encode(), compresslevel=6)


def _decompress_results(blob: Any) -> list[AssignmentResult]:
    raw = blob.value if isinstance(blob, Binary) else blob
    return [AssignmentResult.model_validate(r) for r in json.loads(gzip.decompress(raw))]


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


def batch_from_item(item: dict[str, Any]) -> BatchResult:
    """A decoded batch item back to the model; works on a stream NewImage after `decode_image`."""
    return BatchResult(
        batch_id=item["batch_id"],
        client_key=item["client_key"],
        customer_id=item.get("customer_id"),
        submitted_at=item["submitted_at"],
        weekend_bill=item.get("weekend_bill"),
        counts=item["counts"],
        results=_decompress_results(item["results_gz"]) if item.get("results_gz") is not None else [],
        source=item.get("source", "timerack"),
        status=item["status"],
    )


def decode_image(image: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB stream NewImage (attribute-value form) to a plain dict."""
    from timerack_bridge.adapters.dynamodb.base import decode

    return decode(image)


class PayrollHistoryStore(TableStore):
    def put_batch(self, batch: BatchResult, *, error_file: PayrollEmail | None = None) -> None:
        self.put(batch_item(batch, error_file))

    def get_batch(self, batch_id: str) -> BatchResult | None:
        item = self.get(f"BATCH#{batch_id}", "BATCH")
        return batch_from_item(item) if item else None

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
