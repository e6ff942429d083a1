"""Idempotency-Key for timecard batches, with Powertools idempotency on a DynamoDB table.

Under the key goes a small reply, the batch id and its counts: a DynamoDB item holds at most 400 KB, and the
answer to a 5,000-timecard batch is over 500 KB. A replay reads the batch back from Payroll History, which
keeps every result of the send, and answers it: the very JSON of the first answer, for a batch of any size.
The same key with another body is refused (422); a key whose send is still running is a 409.

A batch over SYNC_BATCH_TIMECARDS was answered 202 (accepted for the intake worker): the key keeps that
answer whole, `{batchId, counts: null, accepted: {...}}`, and a replay answers the same 202, before the
worker wrote the batch and after. The client polls Payroll History for the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)

from timerack_bridge.domain.batch import AcceptedBatch, BatchResult
from timerack_bridge.exceptions import ConflictError, UnprocessableError

logger = Logger(child=True)


def _send_batch(request: dict[str, Any], run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    # Its module and name are part of every record's key: renamed, the keys stored before would not be found.
    return run()


def kept_reply(batch: BatchResult | AcceptedBatch) -> dict[str, Any]:
    """What the key keeps of a batch's answer: its id and counts (a record of some hundred bytes); of an
    accepted batch, its 202 whole (no counts yet)."""
    if isinstance(batch, AcceptedBatch):
        accepted = batch.model_dump(mode="json", by_alias=True, exclude={"batch_id"})
        return {"batchId": batch.batch_id, "counts": None, "accepted": accepted}
    return {"batchId": batch.batch_id, "counts": batch.counts.model_dump(mode="json", by_alias=True)}


class IdempotentSends:
    """The Idempotency-Key table: one persistence layer per composition root, reused by every request."""

    def __init__(self, dynamodb: Any, table_name: str, *, ttl_seconds: int) -> None:
        self.persistence = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=dynamodb)
        self.ttl_seconds = ttl_seconds

    def send_batch(
        self,
        key: str,
        fingerprint: Any,
        run: Callable[[], BatchResult | AcceptedBatch],
        stored_batch: Callable[[str], BatchResult | None],
        lambda_context: Any | None = None,
    ) -> BatchResult | AcceptedBatch:
        """The first answer to this key: `run`'s, if the key has none yet; else the batch the key names, as
        Payroll History keeps it (`stored_batch`). Another body with the key is a 422."""
        ran: list[BatchResult | AcceptedBatch] = []

        def run_once() -> dict[str, Any]:
            ran.append(run())
            return kept_reply(ran[0])

        try:
            kept = self.remember(key, fingerprint, run_once, lambda_context)
        except IdempotencyPersistenceLayerError:
            if not ran:
                raise  # the key could not be read or claimed: nothing was written
            # The batch is written and only its reply could not be saved: answer it (a 5xx would have Timerack
            # send a written batch again). The key stays in progress until it expires.
            logger.warning("the reply to an Idempotency-Key could not be saved", extra={"batch_id": ran[0].batch_id})
            return ran[0]
        if ran:
            return ran[0]
        return _replayed(kept, stored_batch)

    def remember(
        self, key: str, fingerprint: Any, run: Callable[[], dict[str, Any]], lambda_context: Any | None = None
    ) -> dict[str, Any]:
        """The reply kept for this key; `run` (and its reply kept) only if there is none. Another body is a 422."""
        config = IdempotencyConfig(
            event_key_jmespath="key",
            payload_validation_jmespath="body",
            expires_after_seconds=self.ttl_seconds,
            raise_on_no_idempotency_key=True,
        )
        if lambda_context is not None:
            # Lets Powertools expire an in-progress record when the function times out mid-batch.
            config.register_lambda_context(lambda_context)
        guarded = idempotent_function(
            data_keyword_argument="request", persistence_store=self.persistence, config=config
        )(_send_batch)
        try:
            return guarded(request={"key": key, "body": fingerprint}, run=run)
        except IdempotencyValidationError:
            raise UnprocessableError(
                "this Idempotency-Key was already used with a different request body; use a new key"
            ) from None
        except IdempotencyAlreadyInProgressError:
            raise ConflictError("a request with this Idempotency-Key is still being processed; retry shortly") from None


def _replayed(kept: Any, stored_batch: Callable[[str], BatchResult | None]) -> BatchResult | AcceptedBatch:
    """The first answer again, from the batch Payroll History keeps (an accepted batch's: from the key).

    A key saved before only the id and counts were kept holds the whole answer; its batch id is read alike.
    """
    batch_id = kept.get("batchId") if isinstance(kept, dict) else None
    if isinstance(kept, dict) and isinstance(kept.get("accepted"), dict):
        return AcceptedBatch.model_validate({**kept["accepted"], "batchId": batch_id})
    batch = stored_batch(batch_id) if isinstance(batch_id, str) else None
    if batch is None:
        raise ConflictError(
            f"this Idempotency-Key answered batch {batch_id}, which Payroll History no longer holds; use a new key"
        )
    return batch
