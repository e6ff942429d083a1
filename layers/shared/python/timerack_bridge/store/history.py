"""Payroll History: one record per batch. The completed record is also the mailer's outbox.

Item: pk=BATCH#{batchId}, sk=BATCH, status "processing" then "completed", hasErrors, counts, and the
per-assignment results as gzip-compressed JSON (a 5,000-timecard batch stays far below 400 KB).
"""

from __future__ import annotations

import gzip
import json
from typing import Any

from boto3.dynamodb.types import Binary, TypeDeserializer

from timerack_bridge.models import AssignmentResult, BatchResult, BatchSummary
from timerack_bridge.store.base import TableStore, decode_token, encode_token, strip_keys

_deserializer = TypeDeserializer()


def _compress_results(results: list[AssignmentResult]) -> bytes:
    payload = [r.model_dump(mode="json", by_alias=True) for r in results]
    return gzip.compress(json.dumps(payload, separators=(",", ":")).encode(), compresslevel=6)


def _decompress_results(blob: Any) -> list[AssignmentResult]:
    raw = blob.value if isinstance(blob, Binary) else blob
    return [AssignmentResult.model_validate(r) for r in json.loads(gzip.decompress(raw))]


def batch_item(batch: BatchResult) -> dict[str, Any]:
    """The stored form of a batch (the API writes it, the mailer reads it from the stream)."""
    return {
        "pk": f"BATCH#{batch.batch_id}",
        "sk": "BATCH",
        "gsi1pk": f"HISTORY#{batch.client_key}",
        "gsi1sk": f"{batch.submitted_at.isoformat()}#{batch.batch_id}",
        "batch_id": batch.batch_id,
        "client_key": batch.client_key,
        "submitted_at": batch.submitted_at.isoformat(),
        "weekend_bill": batch.weekend_bill.isoformat() if batch.weekend_bill else None,
        "counts": batch.counts.model_dump(mode="json"),
        "source": batch.source,
        "status": batch.status,
        "hasErrors": batch.counts.errors > 0,
        "results_gz": _compress_results(batch.results),
    }


def batch_from_item(item: dict[str, Any]) -> BatchResult:
    """A decoded batch item back to the model; works on a stream NewImage after `decode_image`."""
    return BatchResult(
        batch_id=item["batch_id"],
        client_key=item["client_key"],
        submitted_at=item["submitted_at"],
        weekend_bill=item.get("weekend_bill"),
        counts=item["counts"],
        results=_decompress_results(item["results_gz"]) if item.get("results_gz") is not None else [],
        source=item.get("source", "timerack"),
        status=item["status"],
    )


def decode_image(image: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB stream NewImage (attribute-value form) to a plain dict."""
    from timerack_bridge.store.base import decode

    return decode(image)


class BatchStore(TableStore):
    def put_batch(self, batch: BatchResult) -> None:
        self.put(batch_item(batch))

    def get_batch(self, batch_id: str) -> BatchResult | None:
        item = self.get(f"BATCH#{batch_id}", "BATCH")
        return batch_from_item(item) if item else None

    def list_batches(
        self, client_key: str, *, limit: int, next_token: str | None
    ) -> tuple[list[BatchSummary], str | None]:
        """A client's batches, newest first."""
        items, last = self.query_index(
            "gsi1", f"HISTORY#{client_key}", forward=False, limit=limit, start=decode_token(next_token)
        )
        summaries = [
            BatchSummary(**{k: v for k, v in strip_keys(i, extra=("results_gz", "hasErrors")).items()}) for i in items
        ]
        return summaries, encode_token(last)
