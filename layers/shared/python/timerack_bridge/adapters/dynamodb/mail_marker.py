"""The at-most-once marker: one item per batch (pk=BATCH#{batchId}, sk=MAILED) claimed before the send.

Ordering: claim ("sending", conditional put) -> send -> mark "sent". A send SES certainly refused
releases the claim (delete), so the stream's retry sends again. A claim left "sending" (the process died
during the send, or the answer never came) may have been delivered: later deliveries leave it alone
rather than risk a second email. The marker is kept as the record of the email (no TTL).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from timerack_bridge.adapters.dynamodb.base import TableStore, encode, key

MARKER_SK = "MAILED"


class MarkerState(StrEnum):
    SENDING = "sending"
    SENT = "sent"


@dataclass(frozen=True)
class Claim:
    """The outcome of a claim: a token when this caller owns the send, else the state found."""

    batch_id: str
    token: str | None
    existing_state: MarkerState | None = None

    @property
    def granted(self) -> bool:
        return self.token is not None

    @property
    def already_sending(self) -> bool:
        """An earlier attempt claimed the send and never marked it sent: it may have been delivered."""
        return self.existing_state is MarkerState.SENDING


def _is_condition_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class MailMarkerStore(TableStore):
    """The MAILED markers, in the main table beside their batch."""

    def claim(self, batch_id: str, *, now: datetime | None = None) -> Claim:
        token = uuid.uuid4().hex
        item = {
            "pk": f"BATCH#{batch_id}",
            "sk": MARKER_SK,
            "state": MarkerState.SENDING.value,
            "claimToken": token,
            "claimedAt": (now or datetime.now(UTC)).isoformat(),
        }
        try:
            self.client.put_item(
                TableName=self.table_name, Item=encode(item), ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as error:
            if not _is_condition_failure(error):
                raise
            existing = self.get(f"BATCH#{batch_id}", MARKER_SK, consistent=True)
            state = MarkerState(existing["state"]) if existing else MarkerState.SENDING
            return Claim(batch_id=batch_id, token=None, existing_state=state)
        return Claim(batch_id=batch_id, token=token)

    def mark_sent(self, claim: Claim, *, message_id: str, recipients: int, now: datetime | None = None) -> str | None:
        """Record the send; the error code when the marker could not be updated (the claim then stays "sending")."""
        try:
            self._mark_sent(claim, message_id=message_id, recipients=recipients, now=now)
        except ClientError as error:
            return str(error.response.get("Error", {}).get("Code", "ClientError"))
        return None

    def _mark_sent(self, claim: Claim, *, message_id: str, recipients: int, now: datetime | None) -> None:
        self.client.update_item(
            TableName=self.table_name,
            Key=key(f"BATCH#{claim.batch_id}", MARKER_SK),
            UpdateExpression="SET #state = :sent, messageId = :mid, recipientCount = :n, sentAt = :at",
            ConditionExpression="claimToken = :token",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={
                ":sent": {"S": MarkerState.SENT.value},
                ":mid": {"S": message_id},
                ":n": {"N": str(recipients)},
                ":at": {"S": (now or datetime.now(UTC)).isoformat()},
                ":token": {"S": self._token(claim)},
            },
        )

    def release(self, claim: Claim) -> None:
        """Drop a claim whose send certainly failed, so a retry may send."""
        self.client.delete_item(
            TableName=self.table_name,
            Key=key(f"BATCH#{claim.batch_id}", MARKER_SK),
            ConditionExpression="claimToken = :token",
            ExpressionAttributeValues={":token": {"S": self._token(claim)}},
        )

    def get_marker(self, batch_id: str) -> dict[str, Any] | None:
        return self.get(f"BATCH#{batch_id}", MARKER_SK, consistent=True)

    @staticmethod
    def _token(claim: Claim) -> str:
        if claim.token is None:
            raise ValueError(f"batch {claim.batch_id}: the marker is not this caller's claim")
        return claim.token
