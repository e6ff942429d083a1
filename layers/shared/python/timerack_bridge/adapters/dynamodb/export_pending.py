"""The debounce of change-driven exports: one pending marker per client (the `PendingExports` port).

Item pk `PENDINGEXPORT`, sk `CUSTOMER#{customerId}` (the Primary Customer's id, so a marker taken
while its key changes still covers it), with `expiresAt` (epoch seconds, the table's TTL attribute)
and `dirty` (a change was saved since the worker began the update the marker stands for).

- claim (a saved change): a conditional Put, granted when no marker exists or the one there expired.
  The save that wins it queues one delayed message. A save that finds the marker taken marks it dirty
  (a conditional UpdateItem) and queues nothing: the pending update exports its change, or, if the
  worker is already exporting, queues the client once more when done.
- begin (the worker, before it reads the client's data): the marker is clean (not dirty) and lasts
  another `seconds`: a change saved from now on marks it dirty.
- end (the worker, after the export): the marker is deleted unless it is dirty; a dirty one is made
  clean again and kept for the one more update the worker then queues. So at most one update of a
  client is queued or exporting at a time, and the last change saved always goes out.
- release: a Delete (the API, when the message could not be queued; the worker, when its one more
  update could not be).

A marker expires after `seconds` (longer than the change delay plus a queue wait and a worker's run),
so a message lost on its way (or a worker that died before its end) never stops the client's updates
for long. DynamoDB's TTL deletes expired items late (hours): the conditions treat an expired marker as
free.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from timerack_bridge.adapters.dynamodb.base import encode, key
from timerack_bridge.adapters.dynamodb.tables import TTL_ATTRIBUTE

PENDING_PK = "PENDINGEXPORT"
CLIENT_PREFIX = "CUSTOMER#"
DEFAULT_PENDING_SECONDS = 300
# A claim that meets a marker deleted (or expired) between its Put and its UpdateItem tries again.
CLAIM_ATTEMPTS = 3

_FREE = "attribute_not_exists(pk) OR #exp < :now"
_TAKEN = "attribute_exists(pk) AND #exp >= :now"


def _condition_failed(exc: ClientError) -> bool:
    return bool(exc.response["Error"]["Code"] == "ConditionalCheckFailedException")


class PendingExportStore:
    """Pending markers in the main table; takes its boto3 DynamoDB client as an argument."""

    def __init__(
        self,
        dynamodb_client: Any,
        table_name: str,
        *,
        seconds: int = DEFAULT_PENDING_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = dynamodb_client
        self.table_name = table_name
        self.seconds = seconds
        self.clock = clock

    def _key(self, customer_id: int) -> dict[str, Any]:
        return key(PENDING_PK, f"{CLIENT_PREFIX}{customer_id}")

    def claim(self, customer_id: int) -> bool:
        """True when no update of this client was pending (the marker is now this caller's); False when
        one is (the marker is then marked dirty: the change goes out with it, or right after it)."""
        for _ in range(CLAIM_ATTEMPTS):
            if self._put(customer_id):
                return True
            if self._mark_dirty(customer_id):
                return False
        return False  # claimed and let go over and over meanwhile: a worker is on it, this change goes with it

    def _put(self, customer_id: int) -> bool:
        now = int(self.clock())
        item = {
            "pk": PENDING_PK,
            "sk": f"{CLIENT_PREFIX}{customer_id}",
            "customer_id": customer_id,
            "dirty": False,
            TTL_ATTRIBUTE: now + self.seconds,
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
            if _condition_failed(exc):
                return False
            raise
        return True

    def _mark_dirty(self, customer_id: int) -> bool:
        """Mark the live marker dirty; False when there is none (deleted or expired since the Put)."""
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=self._key(customer_id),
                UpdateExpression="SET dirty = :true",
                ConditionExpression=_TAKEN,
                ExpressionAttributeNames={"#exp": TTL_ATTRIBUTE},
                ExpressionAttributeValues={":true": {"BOOL": True}, ":now": {"N": str(int(self.clock()))}},
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True

    def begin(self, customer_id: int) -> None:
        """The pending update is being exported (its data is read next): the marker is clean, and lasts
        `seconds` more; a change saved from now on marks it dirty. A marker gone (expired) is made again."""
        self.client.update_item(
            TableName=self.table_name,
            Key=self._key(customer_id),
            UpdateExpression="SET dirty = :false, #exp = :expires, customer_id = :id",
            ExpressionAttributeNames={"#exp": TTL_ATTRIBUTE},
            ExpressionAttributeValues={
                ":false": {"BOOL": False},
                ":expires": {"N": str(int(self.clock()) + self.seconds)},
                ":id": {"N": str(customer_id)},
            },
        )

    def end(self, customer_id: int) -> bool:
        """The update is done: True when no change was saved since `begin` (the marker is deleted); False
        when one was (the marker is kept, clean, for the one more update the caller queues now)."""
        try:
            self.client.delete_item(
                TableName=self.table_name,
                Key=self._key(customer_id),
                ConditionExpression="attribute_not_exists(pk) OR dirty <> :true",
                ExpressionAttributeValues={":true": {"BOOL": True}},
            )
        except ClientError as exc:
            if not _condition_failed(exc):
                raise
            self.begin(customer_id)  # clean again: a change saved from now on is the next update's
            return False
        return True

    def release(self, customer_id: int) -> None:
        """Delete the client's marker (none there is fine): a change saved from now on queues another update."""
        self.client.delete_item(TableName=self.table_name, Key=self._key(customer_id))
