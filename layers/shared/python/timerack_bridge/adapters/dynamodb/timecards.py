"""Timecards and their replacement units, written in TransactWriteItems of one unit or several.

A unit (assignment, weekend bill) has a header item holding its version (send order), its lock
(payroll status) and its current pay codes. Every write of a unit is conditional on the header
being exactly as the writer last saw it, so two senders can never interleave, a locked unit is
never changed, and an older send never overwrites a newer one. Each version is also kept whole
as a VERSION item, so replaced timecards stay as history.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Iterator, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from timerack_bridge.adapters.dynamodb.base import TableStore, key, strip_keys
from timerack_bridge.adapters.dynamodb.tables import WEEK_UNIT_SHARDS
from timerack_bridge.domain.entities import Adjustment, Day, Timecard
from timerack_bridge.domain.proofing import WeekUnit
from timerack_bridge.domain.replacement import UnitState
from timerack_bridge.domain.types import PayrollStatus
from timerack_bridge.exceptions import UnprocessableError
from timerack_bridge.logic.ports import LockOutcome, UnitKey, UnitWrite, WriteOutcome


def _unit_sk(weekend_bill: date) -> str:
    return f"UNIT#{weekend_bill.isoformat()}"


def _shard_of(assignment_id: int) -> int:
    return zlib.crc32(str(assignment_id).encode()) % WEEK_UNIT_SHARDS


def _week_shard(weekend_bill: date, assignment_id: int) -> str:
    # Units of one week are spread over shards so a payroll-hour burst never heats one index partition.
    return f"WEEKUNITS#{weekend_bill.isoformat()}#{_shard_of(assignment_id)}"


# Headers one Query page of the week's index reads: a page of proofing stops early, so reading a
# shard whole at once would read (and pay for) headers the reply never uses.
WEEK_UNITS_PER_QUERY = 200


def _week_position(shard: int, after: int | None) -> str:
    """The nextToken that resumes the week's units after this assignment of this shard (None: the shard's start)."""
    return base64.urlsafe_b64encode(json.dumps({"shard": shard, "after": after}).encode()).decode()


def _read_week_position(token: str | None) -> tuple[int, int | None]:
    """The shard and assignment a token names, if it is one `_week_position` gave out (422 otherwise)."""
    if not token:
        return 0, None
    refused = UnprocessableError("nextToken is not a token this API gave out")
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise refused from None
    shard, after = (value.get("shard"), value.get("after")) if isinstance(value, dict) else (None, None)
    if type(shard) is not int or not 0 <= shard < WEEK_UNIT_SHARDS:
        raise refused
    # The key to resume after is rebuilt from the assignment, so it must be one of this shard.
    if after is not None and (type(after) is not int or not 0 < after < 2**53 or _shard_of(after) != shard):
        raise refused
    return shard, after


def week_unit_of(header: dict[str, Any]) -> WeekUnit:
    return WeekUnit(
        assignment_id=int(header["assignment_id"]),
        employee_id=int(header["employee_id"]),
        customer_id=int(header["customer_id"]),
        hierarchy_node_id=str(header["hierarchy_node_id"]),
        payroll_status=PayrollStatus(header.get("payroll_status", PayrollStatus.OPEN.value)),
        pay_codes=tuple(header.get("pay_codes", [])),
    )


def unit_state_of(item: dict[str, Any]) -> UnitState:
    return UnitState(
        version=item["version"],
        locked=item.get("payroll_status") == PayrollStatus.SENT.value,
        pay_codes=tuple(item.get("pay_codes", [])),
        send_result=item.get("send_result"),
        removed_pay_codes=tuple(item.get("removed_pay_codes", [])),
    )


# DynamoDB refused or could not finish the transaction for now (after botocore's own retries): the
# caller retries with backoff, then reports the unit. A transaction is all or nothing, so no unit is
# ever half-written; an InternalServerError may still have applied it, which the caller detects by
# reading the unit's version back after the condition fails on the retry.
RETRYABLE_ERRORS = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TransactionInProgressException",
        "InternalServerError",
        "ServiceUnavailable",
    }
)


# The reasons a transaction's action gives when it, not its condition, stopped the transaction for now.
BUSY_REASONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})


def _number(value: float) -> dict[str, str]:
    # As TypeSerializer writes a float that went through Decimal(repr()): 8.0 stays "8.0", 1e-05 is "0.00001".
    return {"N": str(Decimal(repr(value)))}


def _day_attributes(day: Day) -> dict[str, Any]:
    attributes: dict[str, Any] = {"date": {"S": day.date.isoformat()}, "hours": _number(day.hours)}
    if day.punches is not None:
        attributes["punches"] = {"L": [{"M": {"in_": {"S": p.in_}, "out": {"S": p.out}}} for p in day.punches]}
    return {"M": attributes}


def _adjustment_attributes(adjustment: Adjustment) -> dict[str, Any]:
    return {
        "M": {
            "type": {"S": adjustment.type},
            "code": {"S": adjustment.code},
            "amount": _number(adjustment.amount),
            "description": {"S": adjustment.description},
        }
    }


def card_attributes(card: Timecard) -> dict[str, Any]:
    """A timecard in DynamoDB's attribute-value form, built directly: the same attributes as
    `encode(card.model_dump(mode="json"))`, at a fraction of the CPU (a batch builds thousands)."""
    return {
        "timecard_id": {"S": card.timecard_id},
        "assignment_id": {"N": str(card.assignment_id)},
        "employee_id": {"N": str(card.employee_id)},
        "customer_id": {"N": str(card.customer_id)},
        "weekend_bill": {"S": card.weekend_bill.isoformat()},
        "pay_code": {"S": card.pay_code},
        "days": {"L": [_day_attributes(day) for day in card.days]},
        "total_hours": _number(card.total_hours),
        "adjustments": {"L": [_adjustment_attributes(a) for a in card.adjustments]},
        "payroll_status": {"S": PayrollStatus(card.payroll_status).value},
        "source_batch_id": {"S": card.source_batch_id},
    }


def _unit_header(unit: UnitWrite, pk: str, wb: str) -> dict[str, Any]:
    """The unit's header; it keeps what its send reported, so the same send run again reports it too."""
    header: dict[str, Any] = {
        "pk": {"S": pk},
        "sk": {"S": f"UNIT#{wb}"},
        "gsi1pk": {"S": _week_shard(unit.weekend_bill, unit.assignment_id)},
        "gsi1sk": {"S": f"ASSIGNMENT#{unit.assignment_id:012d}"},
        "assignment_id": {"N": str(unit.assignment_id)},
        "weekend_bill": {"S": wb},
        "version": {"S": unit.version},
        "batch_id": {"S": unit.batch_id},
        "customer_id": {"N": str(unit.customer_id)},
        "employee_id": {"N": str(unit.employee_id)},
        "hierarchy_node_id": {"S": unit.hierarchy_node_id},
        "payroll_status": {"S": PayrollStatus.OPEN.value},
        "pay_codes": {"L": [{"S": code} for code in sorted(t.pay_code for t in unit.timecards)]},
        "send_result": {"S": unit.send_result},
    }
    if unit.delete_pay_codes:  # omitted when none: most sends remove nothing
        header["removed_pay_codes"] = {"L": [{"S": code} for code in sorted(unit.delete_pay_codes)]}
    return header


def _unit_condition(unit: UnitWrite) -> dict[str, Any]:
    """A new unit must not exist; a replaced one must still be at the version read, and open."""
    if unit.expected_version is None:
        return {"ConditionExpression": "attribute_not_exists(pk)"}
    return {
        "ConditionExpression": "#v = :expected AND #p = :open",
        "ExpressionAttributeNames": {"#v": "version", "#p": "payroll_status"},
        "ExpressionAttributeValues": {
            ":expected": {"S": unit.expected_version},
            ":open": {"S": PayrollStatus.OPEN.value},
        },
    }


def _outcome_of(codes: Sequence[str | None]) -> WriteOutcome | None:
    """What the reasons of one unit's actions say of it (None: a reason this code does not expect)."""
    if codes[0] == "ConditionalCheckFailed":  # only the header has a condition
        return "condition-failed"
    if any(c in BUSY_REASONS for c in codes):
        return "retry-later"
    if all(c in (None, "None") for c in codes):
        return "not-written"  # its actions were fine: another unit of the transaction stopped it
    return None


def _refused_units(exc: ClientError, spans: Sequence[tuple[int, int]]) -> list[WriteOutcome]:
    """Why each unit of a cancelled transaction was not written, from the reasons of its own actions."""
    code = exc.response["Error"]["Code"]
    if code in RETRYABLE_ERRORS:
        return ["retry-later"] * len(spans)  # the whole call: nothing says which unit
    if code != "TransactionCanceledException":
        raise exc
    reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
    if not reasons or len(reasons) != spans[-1][1]:
        return ["retry-later"] * len(spans)
    outcomes = [_outcome_of(reasons[start:end]) for start, end in spans]
    if any(outcome is None for outcome in outcomes):
        raise exc
    return outcomes  # type: ignore[return-value]


class TimecardStore(TableStore):
    def unit_states(self, keys: Sequence[UnitKey], *, workers: int = 1) -> dict[UnitKey, UnitState]:
        found = self.batch_get([(f"ASSIGNMENT#{a}", _unit_sk(w)) for a, w in keys], workers=workers)
        states: dict[UnitKey, UnitState] = {}
        for (_, _), item in found.items():
            states[(int(item["assignment_id"]), date.fromisoformat(item["weekend_bill"]))] = unit_state_of(item)
        return states

    def unit_state(self, assignment_id: int, weekend_bill: date) -> UnitState | None:
        item = self.get(f"ASSIGNMENT#{assignment_id}", _unit_sk(weekend_bill), consistent=True)
        return unit_state_of(item) if item else None

    def write_unit(self, unit: UnitWrite) -> WriteOutcome:
        """Replace a unit atomically; 'condition-failed' when the header changed since it was read."""
        [outcome] = self.write_units([unit])
        return outcome

    def write_units(self, units: Sequence[UnitWrite]) -> list[WriteOutcome]:
        """Replace these units in one transaction: every one of them, or none. When it is cancelled, each
        unit's outcome comes from the CancellationReasons of its own actions."""
        actions: list[dict[str, Any]] = []
        spans: list[tuple[int, int]] = []
        for unit in units:
            start = len(actions)
            self._add_unit_actions(actions, unit)
            spans.append((start, len(actions)))
        try:
            self.client.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            return _refused_units(exc, spans)
        return ["written"] * len(units)

    @staticmethod
    def actions_of(unit: UnitWrite) -> int:
        """The actions of a unit's replacement: its header, each timecard, each dropped pay code, the version."""
        return 2 + len(unit.timecards) + len(unit.delete_pay_codes)

    def _add_unit_actions(self, actions: list[dict[str, Any]], unit: UnitWrite) -> None:
        """The header (conditional), each timecard, the dropped pay codes and the whole version."""
        table, pk, wb = self.table_name, f"ASSIGNMENT#{unit.assignment_id}", unit.weekend_bill.isoformat()
        actions.append({"Put": {"TableName": table, "Item": _unit_header(unit, pk, wb), **_unit_condition(unit)}})
        # Each card is built once: the same attributes are its TC item and its entry in the VERSION item.
        cards = [card_attributes(t) for t in unit.timecards]
        for card, timecard in zip(cards, unit.timecards, strict=True):
            item = {"pk": {"S": pk}, "sk": {"S": f"TC#{wb}#{timecard.pay_code}"}, **card}
            actions.append({"Put": {"TableName": table, "Item": item}})
        for pay_code in unit.delete_pay_codes:
            actions.append({"Delete": {"TableName": table, "Key": key(pk, f"TC#{wb}#{pay_code}")}})
        version_item = {
            "pk": {"S": pk},
            "sk": {"S": f"VERSION#{wb}#{unit.version}"},
            "weekend_bill": {"S": wb},
            "version": {"S": unit.version},
            "batch_id": {"S": unit.batch_id},
            "timecards": {"L": [{"M": card} for card in cards]},
        }
        actions.append({"Put": {"TableName": table, "Item": version_item}})

    def timecards(self, assignment_id: int, weekend_bill: date) -> list[Timecard]:
        items = self.query_partition(
            f"ASSIGNMENT#{assignment_id}", f"TC#{weekend_bill.isoformat()}#", ConsistentRead=True
        )
        return [Timecard(**strip_keys(i)) for i in items]

    def versions(self, assignment_id: int, weekend_bill: date) -> list[dict[str, Any]]:
        """Every version of a unit ever written, oldest first (the history of replacements)."""
        return [
            strip_keys(i)
            for i in self.query_partition(f"ASSIGNMENT#{assignment_id}", f"VERSION#{weekend_bill.isoformat()}#")
        ]

    def week_unit_headers(self, weekend_bill: date) -> list[dict[str, Any]]:
        headers: list[dict[str, Any]] = []
        for shard in range(WEEK_UNIT_SHARDS):
            headers.extend(self.iter_index("gsi1", f"WEEKUNITS#{weekend_bill.isoformat()}#{shard}"))
        return headers

    def week_units(self, weekend_bill: date, next_token: str | None = None) -> Iterator[tuple[WeekUnit, str]]:
        """The week's unit headers, shard by shard in assignment order, read a Query page at a time as
        they are consumed; each with the nextToken that resumes after it."""
        first_shard, after = _read_week_position(next_token)
        for shard in range(first_shard, WEEK_UNIT_SHARDS):
            partition = f"WEEKUNITS#{weekend_bill.isoformat()}#{shard}"
            start = None
            if shard == first_shard and after is not None:
                pk = f"ASSIGNMENT#{after}"
                start = {**key(pk, _unit_sk(weekend_bill)), "gsi1pk": {"S": partition}}
                start["gsi1sk"] = {"S": f"ASSIGNMENT#{after:012d}"}
            while True:
                items, start = self.query_index("gsi1", partition, limit=WEEK_UNITS_PER_QUERY, start=start)
                for header in items:
                    unit = week_unit_of(header)
                    yield unit, _week_position(shard, unit.assignment_id)
                if not start:
                    break

    def current_timecards(self, weekend_bill: date, units: Sequence[WeekUnit]) -> list[Timecard]:
        """The current timecards of these units, in bulk by the pay codes their headers list (BatchGetItem).
        A pay code a send dropped since the header was read is simply not found."""
        wb = weekend_bill.isoformat()
        keys = [(f"ASSIGNMENT#{u.assignment_id}", f"TC#{wb}#{code}") for u in units for code in u.pay_codes]
        return [Timecard(**strip_keys(item)) for item in self.batch_get(keys).values()]

    def lock_unit(self, header: dict[str, Any]) -> LockOutcome:
        """Mark a unit and its timecards sent to payroll, if the unit is still as read."""
        if header.get("payroll_status") == PayrollStatus.SENT.value:
            return "already-locked"
        pk, wb = header["pk"], header["weekend_bill"]
        sent = {":sent": {"S": PayrollStatus.SENT.value}}
        actions: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": key(pk, header["sk"]),
                    "UpdateExpression": "SET #p = :sent",
                    "ConditionExpression": "#v = :version AND #p = :open",
                    "ExpressionAttributeNames": {"#p": "payroll_status", "#v": "version"},
                    "ExpressionAttributeValues": {
                        **sent,
                        ":version": {"S": header["version"]},
                        ":open": {"S": PayrollStatus.OPEN.value},
                    },
                }
            }
        ]
        for pay_code in header.get("pay_codes", []):
            actions.append(
                {
                    "Update": {
                        "TableName": self.table_name,
                        "Key": key(pk, f"TC#{wb}#{pay_code}"),
                        "UpdateExpression": "SET #p = :sent",
                        "ExpressionAttributeNames": {"#p": "payroll_status"},
                        "ExpressionAttributeValues": sent,
                    }
                }
            )
        try:
            self.client.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                return "changed"
            raise
        return "locked"

    def unit_header(self, assignment_id: int, weekend_bill: date) -> dict[str, Any] | None:
        """The unit's header as stored now (a strongly consistent read)."""
        return self.get(f"ASSIGNMENT#{assignment_id}", _unit_sk(weekend_bill), consistent=True)
