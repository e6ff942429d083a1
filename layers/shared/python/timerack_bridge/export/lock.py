"""One export of a client at a time: a lock item with an expiry, taken with a conditional write.

The item is `pk=EXPORTLOCK#{clientKey}, sk=LOCK` with `owner` (a random token) and `expiresAt`
(epoch seconds, the table's TTL attribute). DynamoDB's TTL deletes expired items late (hours), so
the condition itself treats an expired lock as free; a run that died is taken over after the expiry.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import ClientError

from timerack_bridge.store.base import encode, key
from timerack_bridge.tables import TTL_ATTRIBUTE

# Longer than one client's worst case: retries with timeouts (see HttpsDestination) stay well under it.
DEFAULT_LOCK_SECONDS = 900


class ExportLock:
    """Per-client export locks in the main table; takes its boto3 DynamoDB client as an argument."""

    def __init__(
        self,
        dynamodb_client: Any,
        table_name: str,
        *,
        lock_seconds: int = DEFAULT_LOCK_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = dynamodb_client
        self.table_name = table_name
        self.lock_seconds = lock_seconds
        self.clock = clock

    @staticmethod
    def _pk(client_key: str) -> str:
        return f"EXPORTLOCK#{client_key}"

    def acquire(self, client_key: str) -> str | None:
        """The owner token when the lock was free (or expired), None when another run holds it."""
        now = int(self.clock())
        owner = secrets.token_urlsafe(16)
        item = {
            "pk": self._pk(client_key),
            "sk": "LOCK",
            "owner": owner,
            "client_key": client_key,
            TTL_ATTRIBUTE: now + self.lock_seconds,
        }
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=encode(item),
                ConditionExpression="attribute_not_exists(pk) OR #exp < :now",
                ExpressionAttributeNames={"#exp": TTL_ATTRIBUTE},
                ExpressionAttributeValues={":now": {"N": str(now)}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise
        return owner

    def release(self, client_key: str, owner: str) -> bool:
        """Delete the lock if this owner still holds it; False when it expired and another run took it."""
        try:
            self.client.delete_item(
                TableName=self.table_name,
                Key=key(self._pk(client_key), "LOCK"),
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":owner": {"S": owner}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    @contextmanager
    def held(self, client_key: str) -> Iterator[bool]:
        """`with lock.held(key) as taken:` taken is False when another run holds the client."""
        owner = self.acquire(client_key)
        try:
            yield owner is not None
        finally:
            if owner is not None:
                self.release(client_key, owner)
