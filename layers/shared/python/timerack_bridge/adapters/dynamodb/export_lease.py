"""One export of a client at a time: a lease per client (the `ClientLeases` port).

Item pk `EXPORTLOCK`, sk `CUSTOMER#{customerId}`, with `owner` (a random token) and `expiresAt` (epoch
seconds, the table's TTL attribute). The lease is the Primary Customer's, so a lease held while its key
changes still covers it under the new key. A worker takes it with one conditional Put before it sends
the client and deletes it (if it still owns it) after; a worker that finds it held knows another is
sending that client right now.

The lease lasts longer than a worker may run (EXPORT_LEASE_SECONDS > the worker's timeout), so it never
expires under a send in progress; a worker that died is taken over after the expiry. DynamoDB's TTL
deletes expired items late (hours), so the condition treats an expired lease as free.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from timerack_bridge.adapters.dynamodb.base import encode, key
from timerack_bridge.adapters.dynamodb.tables import TTL_ATTRIBUTE

logger = Logger(child=True)

# The worker's default EXPORT_LEASE_SECONDS: longer than its timeout (WORKER_TIMEOUT_SECONDS, 210 s).
DEFAULT_LOCK_SECONDS = 240

LOCK_PK = "EXPORTLOCK"
CLIENT_PREFIX = "CUSTOMER#"  # leases written before they were per customer (CLIENT#{key}) are ignored

_FREE = "attribute_not_exists(pk) OR #exp < :now"


class ExportLock:
    """Client leases in the main table; takes its boto3 DynamoDB client as an argument."""

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

    def acquire(self, customer_id: int) -> str | None:
        """The owner token of the client's lease; None while another worker holds it."""
        now = int(self.clock())
        owner = secrets.token_urlsafe(16)
        item = {
            "pk": LOCK_PK,
            "sk": f"{CLIENT_PREFIX}{customer_id}",
            "owner": owner,
            "customer_id": customer_id,
            TTL_ATTRIBUTE: now + self.lock_seconds,
        }
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=encode(item),
                ConditionExpression=_FREE,
                ExpressionAttributeNames={"#exp": TTL_ATTRIBUTE},
                ExpressionAttributeValues={":now": {"N": str(now)}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise
        return owner

    def release(self, customer_id: int, owner: str) -> bool:
        """Delete the client's lease if this owner still holds it; False when another worker took it over."""
        try:
            self.client.delete_item(
                TableName=self.table_name,
                Key=key(LOCK_PK, f"{CLIENT_PREFIX}{customer_id}"),
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
    def held(self, customer_id: int) -> Iterator[bool]:
        """`with lock.held(customer_id) as taken:` taken is False while another worker holds the client.

        The lease is given back however the block ends; one that cannot be given back (DynamoDB
        refused the Delete) is left to expire rather than turn a finished export into a failure.
        """
        owner = self.acquire(customer_id)
        try:
            yield owner is not None
        finally:
            if owner is not None:
                self._give_back(customer_id, owner)

    def _give_back(self, customer_id: int, owner: str) -> None:
        try:
            self.release(customer_id, owner)
        except (ClientError, BotoCoreError) as exc:
            logger.warning(
                "client lease not given back: it expires on its own",
                extra={"customer_id": customer_id, "error": type(exc).__name__, "lease_seconds": self.lock_seconds},
            )
