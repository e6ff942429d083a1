"""The records of batches accepted for the intake worker (a batch over SYNC_BATCH_TIMECARDS).

An accepted batch's record is its Payroll History record (`payroll_history.batch_item`, status `processing`)
with what the worker needs to run it as it was sent: the caller's principal, the preferred weekend bill,
the number of timecards, and `accepted: true`. None of these is ever part of an API reply. The worker's
`completed` record is written like any batch's and replaces it whole, so it no longer carries them: the sweep
finds the batches still to be written by `accepted` on the ALLBATCHES index (a Query, never a Scan).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from timerack_bridge.adapters.dynamodb.base import TableStore
from timerack_bridge.adapters.dynamodb.payroll_history import (
    ALL_HISTORY,
    batch_from_item,
    batch_item,
    stored_error_file,
    submitted_between,
)
from timerack_bridge.domain.batch import SubmittedRange
from timerack_bridge.logic.ports import AcceptedRecord

ACCEPTED = "accepted"
PRINCIPAL = "acceptedPrincipal"
PREFERRED_WEEKEND_BILL = "preferredWeekendBill"
TIMECARDS = "timecards"
RUN_WEEKS = "runWeeks"  # {nodeId: "YYYY-MM-DD" or ""}: the open weeks of its first run (see keep_weeks)
SWEPT_AT = "sweptAt"  # when the sweep queued it again: once per batch, so a batch that always fails is not looped
FAILED_REASON = "failedReason"  # the last attempt's error type, for an operator (never in an API reply)


def accepted_item(record: AcceptedRecord) -> dict[str, Any]:
    preferred = record.preferred_weekend_bill
    return {
        **batch_item(record.batch, record.error_file),
        ACCEPTED: record.accepted,
        PRINCIPAL: record.principal,
        PREFERRED_WEEKEND_BILL: preferred.isoformat() if preferred else None,
        TIMECARDS: record.timecards,
    }


class AcceptedBatchStore(TableStore):
    def put_accepted(self, record: AcceptedRecord) -> None:
        self.put(accepted_item(record))

    def get_accepted(self, batch_id: str) -> AcceptedRecord | None:
        """The batch's record (consistent: the API wrote it just before queuing it); None when absent or not
        a batch that was accepted for the worker."""
        item = self.get(f"BATCH#{batch_id}", "BATCH", consistent=True)
        if item is None or (PRINCIPAL not in item and item.get("status") != "completed"):
            return None
        preferred = item.get(PREFERRED_WEEKEND_BILL)
        return AcceptedRecord(
            batch=batch_from_item(item),
            error_file=stored_error_file(item),
            principal=item.get(PRINCIPAL, ""),
            preferred_weekend_bill=date.fromisoformat(preferred) if preferred else None,
            timecards=int(item.get(TIMECARDS) or 0),
            accepted=bool(item.get(ACCEPTED)),
            weeks=_weeks_of(item.get(RUN_WEEKS)),
        )

    def stale_accepted(self, *, submitted_from: datetime, submitted_to: datetime) -> list[tuple[str, datetime | None]]:
        """Batches accepted in the range and still processing, oldest first, with when the sweep queued each
        again (None: never)."""
        low, high = submitted_between(SubmittedRange(submitted_from, submitted_to))
        items = self.query_all(
            IndexName="gsi2",
            KeyConditionExpression="gsi2pk = :pk AND gsi2sk BETWEEN :low AND :high",
            FilterExpression="#accepted = :yes AND #status = :processing",
            ExpressionAttributeNames={"#accepted": ACCEPTED, "#status": "status"},
            ExpressionAttributeValues={
                ":pk": {"S": ALL_HISTORY},
                ":low": {"S": low},
                ":high": {"S": high},
                ":yes": {"BOOL": True},
                ":processing": {"S": "processing"},
            },
            ProjectionExpression=f"batch_id, {SWEPT_AT}",
        )
        return [
            (item["batch_id"], datetime.fromisoformat(item[SWEPT_AT]) if item.get(SWEPT_AT) else None) for item in items
        ]

    def keep_weeks(self, batch_id: str, weeks: dict[str, date | None]) -> dict[str, date | None]:
        """Kept once, while the batch is processing; the weeks kept (another run's, when it kept them first)."""
        from botocore.exceptions import ClientError

        stored = {"M": {node: {"S": week.isoformat() if week else ""} for node, week in weeks.items()}}
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": f"BATCH#{batch_id}"}, "sk": {"S": "BATCH"}},
                UpdateExpression="SET #weeks = :weeks",
                ConditionExpression="#status IN (:processing, :failed) AND attribute_not_exists(#weeks)",
                ExpressionAttributeNames={"#weeks": RUN_WEEKS, "#status": "status"},
                ExpressionAttributeValues={
                    ":weeks": stored,
                    ":processing": {"S": "processing"},
                    ":failed": {"S": "failed"},
                },
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            item = self.get(f"BATCH#{batch_id}", "BATCH", consistent=True) or {}
            return _weeks_of(item.get(RUN_WEEKS)) or {}
        return weeks

    def mark_failed(self, batch_id: str, reason: str) -> None:
        """The batch's last attempt failed: `failed` (a terminal state Timerack can see), while still
        processing. A redrive from the dead-letter queue may still complete it."""
        from botocore.exceptions import ClientError

        try:
            self.client.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": f"BATCH#{batch_id}"}, "sk": {"S": "BATCH"}},
                UpdateExpression="SET #status = :failed, #reason = :reason",
                ConditionExpression="#status = :processing",
                ExpressionAttributeNames={"#status": "status", "#reason": FAILED_REASON},
                ExpressionAttributeValues={
                    ":failed": {"S": "failed"},
                    ":processing": {"S": "processing"},
                    ":reason": {"S": reason},
                },
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    def claim_sweep(self, batch_id: str, now: datetime) -> bool:
        """Mark an accepted batch still processing as queued again by the sweep; False if it was already
        (the dead-letter queue and its alarm have it then) or is no longer processing."""
        from botocore.exceptions import ClientError

        try:
            self.client.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": f"BATCH#{batch_id}"}, "sk": {"S": "BATCH"}},
                UpdateExpression="SET #swept = :now",
                ConditionExpression="#status = :processing AND attribute_not_exists(#swept)",
                ExpressionAttributeNames={"#swept": SWEPT_AT, "#status": "status"},
                ExpressionAttributeValues={":now": {"S": now.isoformat()}, ":processing": {"S": "processing"}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True


def _weeks_of(stored: Any) -> dict[str, date | None] | None:
    if not isinstance(stored, dict):
        return None
    return {node: date.fromisoformat(week) if week else None for node, week in stored.items()}
