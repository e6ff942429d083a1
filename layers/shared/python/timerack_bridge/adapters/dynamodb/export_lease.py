"""Two runs never export the same client at the same time: leases in one small partition.

Items (pk `EXPORTLOCK`), each with `owner` (a random token) and `expiresAt` (epoch seconds, the
table's TTL attribute):

- `sk=RUN`: the lease of a run that exports every client (the hourly schedule, `timerack-bridge
  export`). One conditional Put at the start, one conditional Delete at the end: 2 writes a run
  however many clients, where a lock per client cost 2 per client. The run renews it (a conditional
  Update) before a client whose worst-case send would outlast it, and stops starting clients if it
  was lost, so an expired lease never lets two runs overlap.
- `sk=CUSTOMER#{customerId}`: the lease of a run that exports some clients (one client key, or the
  clients a rep can see). It is the Primary Customer's, so a lease held while its key changes still
  covers it under the new key. Taken in a transaction with a check that no whole run holds its lease;
  a whole run, once its lease is taken, reads the live client leases (one Query) and skips those
  clients. Either way a client is exported by one run at a time.

DynamoDB's TTL deletes expired items late (hours), so every condition treats an expired lease as
free; a run that died is taken over after the expiry.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import ClientError

from timerack_bridge.adapters.dynamodb.base import encode, key
from timerack_bridge.adapters.dynamodb.tables import TTL_ATTRIBUTE
from timerack_bridge.logic.ports import RunLease

# Longer than one client's worst case (retries with timeouts, see HttpsDestination) and than a Lambda
# invocation (15 minutes at most), so the export function never needs to renew.
DEFAULT_LOCK_SECONDS = 900

LOCK_PK = "EXPORTLOCK"
RUN_SK = "RUN"
CLIENT_PREFIX = "CUSTOMER#"  # leases written before they were per customer (CLIENT#{key}) are ignored

_FREE = "attribute_not_exists(pk) OR #exp < :now"
_OWNED = "#owner = :owner"


def _condition_failed(exc: ClientError) -> bool:
    return exc.response["Error"]["Code"] == "ConditionalCheckFailedException"


def _transaction_refused(exc: ClientError) -> bool:
    """A cancelled transaction whose only refusals are conditions (not throttling or conflicts)."""
    if exc.response["Error"]["Code"] != "TransactionCanceledException":
        return False
    codes = {reason.get("Code") for reason in exc.response.get("CancellationReasons", [])} - {"None", None}
    return bool(codes) and codes <= {"ConditionalCheckFailed"}


class ExportLock:
    """Export leases in the main table; takes its boto3 DynamoDB client as an argument."""

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

    def _now(self) -> int:
        return int(self.clock())

    def _names_values(self, **values: dict[str, str]) -> dict[str, Any]:
        names = {"#exp": TTL_ATTRIBUTE}
        if ":owner" in values:
            names["#owner"] = "owner"
        return {"ExpressionAttributeNames": names, "ExpressionAttributeValues": values}

    # ------------------------------------------------------------ a whole run

    def acquire_run(self) -> RunLease | None:
        """The run's lease when no other whole run holds one (or it expired); None otherwise."""
        now = self._now()
        lease = RunLease(owner=secrets.token_urlsafe(16), expires_at=now + self.lock_seconds)
        item = {"pk": LOCK_PK, "sk": RUN_SK, "owner": lease.owner, TTL_ATTRIBUTE: lease.expires_at}
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=encode(item),
                ConditionExpression=_FREE,
                **self._names_values(**{":now": {"N": str(now)}}),
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return None
            raise
        return lease

    def renew_run(self, lease: RunLease) -> bool:
        """Extend the lease from now; False when it expired and another run took it over."""
        expires_at = self._now() + self.lock_seconds
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=key(LOCK_PK, RUN_SK),
                UpdateExpression="SET #exp = :exp",
                ConditionExpression=_OWNED,
                **self._names_values(**{":owner": {"S": lease.owner}, ":exp": {"N": str(expires_at)}}),
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise
        lease.expires_at = expires_at
        return True

    def ensure_run(self, lease: RunLease, needed_seconds: float) -> bool:
        """Before a client: True when the lease outlasts `needed_seconds` more work (renewed if need be)."""
        if lease.expires_at - self.clock() > needed_seconds:
            return True
        return self.renew_run(lease)

    def release_run(self, lease: RunLease) -> bool:
        return self._delete_owned(RUN_SK, lease.owner)

    def leased_clients(self) -> set[int]:
        """Customer ids under a live client lease (read consistently, after the run's lease is taken)."""
        now = self._now()
        leased: set[int] = set()
        start: dict[str, Any] | None = None
        while True:
            kwargs: dict[str, Any] = {"ExclusiveStartKey": start} if start else {}
            page = self.client.query(
                TableName=self.table_name,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                ExpressionAttributeValues={":pk": {"S": LOCK_PK}, ":prefix": {"S": CLIENT_PREFIX}},
                ConsistentRead=True,
                **kwargs,
            )
            for item in page.get("Items", []):
                if int(item[TTL_ATTRIBUTE]["N"]) >= now:
                    leased.add(int(item["sk"]["S"][len(CLIENT_PREFIX) :]))
            start = page.get("LastEvaluatedKey")
            if not start:
                return leased

    @contextmanager
    def run_held(self) -> Iterator[RunLease | None]:
        """`with lock.run_held() as lease:` lease is None when another whole run holds it."""
        lease = self.acquire_run()
        try:
            yield lease
        finally:
            if lease is not None:
                self.release_run(lease)

    # ------------------------------------------------------------ one client

    def acquire(self, customer_id: int) -> str | None:
        """The owner token of the client's lease (its Primary Customer's); None when a run holds it."""
        now = self._now()
        owner = secrets.token_urlsafe(16)
        item = {
            "pk": LOCK_PK,
            "sk": f"{CLIENT_PREFIX}{customer_id}",
            "owner": owner,
            "customer_id": customer_id,
            TTL_ATTRIBUTE: now + self.lock_seconds,
        }
        free = {"ConditionExpression": _FREE, **self._names_values(**{":now": {"N": str(now)}})}
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {"ConditionCheck": {"TableName": self.table_name, "Key": key(LOCK_PK, RUN_SK), **free}},
                    {"Put": {"TableName": self.table_name, "Item": encode(item), **free}},
                ]
            )
        except ClientError as exc:
            if _transaction_refused(exc):
                return None
            raise
        return owner

    def release(self, customer_id: int, owner: str) -> bool:
        """Delete the client's lease if this owner still holds it; False when another run took it over."""
        return self._delete_owned(f"{CLIENT_PREFIX}{customer_id}", owner)

    @contextmanager
    def held(self, customer_id: int) -> Iterator[bool]:
        """`with lock.held(customer_id) as taken:` taken is False when another run holds the client."""
        owner = self.acquire(customer_id)
        try:
            yield owner is not None
        finally:
            if owner is not None:
                self.release(customer_id, owner)

    def _delete_owned(self, sk: str, owner: str) -> bool:
        try:
            self.client.delete_item(
                TableName=self.table_name,
                Key=key(LOCK_PK, sk),
                ConditionExpression=_OWNED,
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":owner": {"S": owner}},
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True
