"""The manual "Timerack Feed" Timecard Import: a file is imported whole or not at all.

The file is read strictly, then the very same pipeline as a batch runs as a dry run; if any row fails
(it cannot be read, or the pipeline refuses its assignment: not found, status, no open week, content,
sent to payroll) nothing is written and every failing row is named. Only then is the pipeline run
for real; a unit changed between the check and the write is named too, the others are written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from timerack_bridge.domain.access import TimerackAccess
from timerack_bridge.domain.batch import BatchResult
from timerack_bridge.domain.entities import Customer
from timerack_bridge.domain.feed import FeedReading, RowError, read_feed
from timerack_bridge.domain.types import TimerackMode
from timerack_bridge.exceptions import ConflictError, PayloadTooLargeError
from timerack_bridge.logic import intake
from timerack_bridge.logic.admin_checks import check_import_week
from timerack_bridge.logic.ports import ImportServices

# refused: nothing written (a row failed); checked: a dry run that would import the whole file;
# imported: the whole file written; written-in-part: some units changed between the check and the write.
ImportKind = Literal["refused", "checked", "imported", "written-in-part"]


@dataclass(frozen=True)
class ImportOutcome:
    kind: ImportKind
    rows: int
    row_errors: list[RowError] = field(default_factory=list)
    batch: BatchResult | None = None
    imported: bool = False


def import_feed(
    services: ImportServices,
    access: TimerackAccess,
    customer: Customer,
    weekend_bill: date,
    content: str,
    *,
    dry_run: bool,
) -> ImportOutcome:
    """Import a Timerack Feed for a parent customer and weekend bill (a dry run checks only).

    409 (ConflictError) for a Connect client, a client without a key, or a week that is not open at
    the customer's node; 413 for a file that makes more timecards than a batch may carry.
    """
    _require_manual_client(customer)
    settings = services.settings
    # Before the file is read: the week must be open at the customer's node (409 naming the open weeks).
    check_import_week(services.admin, access.tree, customer.hierarchy_node_id, weekend_bill, settings.week_ending_day)
    reading = read_feed(content, weekend_bill=weekend_bill, pay_codes=settings.pay_codes)
    # An import is always answered at once: it is held to the synchronous size, not the asynchronous maximum.
    limit = settings.sync_batch_timecards
    if len(reading.timecards) > limit:
        raise PayloadTooLargeError(
            f"an import may make at most {limit} timecards (SYNC_BATCH_TIMECARDS); "
            f"this file makes {len(reading.timecards)}"
        )
    return _import_whole(services, access, customer, weekend_bill, reading, dry_run=dry_run)


def _require_manual_client(customer: Customer) -> None:
    if customer.timerack_mode == TimerackMode.CONNECT:
        raise ConflictError(
            f'customer {customer.customer_id} uses Connect to TempWorks (timerackMode "connect"); '
            "the manual Timerack Feed import is only for clients that do not"
        )
    if not customer.timerack_client_key:
        # Payroll History, its access checks and the error emails are all keyed by the Client Key.
        raise ConflictError(
            f"customer {customer.customer_id} has no Timerack Client Key; add it to the Primary Customer first"
        )


def _import_whole(
    services: ImportServices,
    access: TimerackAccess,
    customer: Customer,
    weekend_bill: date,
    reading: FeedReading,
    *,
    dry_run: bool,
) -> ImportOutcome:
    """Check every row (reading and a dry run of the pipeline); write only a file with no failing row."""

    def run(dry: bool) -> BatchResult:
        return intake.submit_batch(
            services,
            access,
            customer,
            reading.timecards,
            preferred_weekend_bill=weekend_bill,
            strict_week=True,
            source="manual-import",
            dry_run=dry,
        )

    check = run(True) if reading.timecards else None
    failing = [*reading.errors, *_refused_rows(check, reading)]
    if not reading.timecards and not failing:
        failing = [RowError(row=1, message="the file has no rows to import under its header")]
    if failing:
        return ImportOutcome("refused", reading.rows, _in_row_order(failing))
    if dry_run:
        return ImportOutcome("checked", reading.rows, batch=check)
    written = run(False)
    # Changed since the check (sent to payroll, replaced, no longer visible): the other units are
    # written (one file is many DynamoDB transactions); the rows that were not are named.
    late = _refused_rows(written, reading)
    imported = written.counts.created + written.counts.replaced > 0
    kind: ImportKind = "written-in-part" if late else "imported"
    return ImportOutcome(kind, reading.rows, _in_row_order(late), batch=written, imported=imported)


def _refused_rows(batch: BatchResult | None, reading: FeedReading) -> list[RowError]:
    """Each assignment the pipeline refused, reported on every row it was read from."""
    if batch is None:
        return []
    return [
        RowError(row=row, message=result.error)
        for result in batch.results
        if result.error
        for row in reading.rows_of_assignment.get(result.assignment_id, [])
    ]


def _in_row_order(errors: list[RowError]) -> list[RowError]:
    return sorted(errors, key=lambda e: (e.row, e.message))
