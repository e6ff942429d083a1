"""Idempotency-Key for timecard batches, with Powertools idempotency on a DynamoDB table.

A replay with the same key returns the first response; the same key with another body is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from timerack_bridge.exceptions import ConflictError, UnprocessableError


def _send_batch(request: dict[str, Any], run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    return run()


class IdempotentSends:
    """The Idempotency-Key table: one persistence layer per composition root, reused by every request."""

    def __init__(self, dynamodb: Any, table_name: str, *, ttl_seconds: int) -> None:
        self.persistence = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=dynamodb)
        self.ttl_seconds = ttl_seconds

    def run(
        self, key: str, fingerprint: Any, run: Callable[[], dict[str, Any]], lambda_context: Any | None = None
    ) -> dict[str, Any]:
        """The first reply to this key; `run` only if there is none. Another body with the key is a 422."""
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
