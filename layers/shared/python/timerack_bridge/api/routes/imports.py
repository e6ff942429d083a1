"""POST /v1/timecard-imports: the manual "Timerack Feed" Timecard Import.

A file is imported whole or not at all. The file is read strictly, then the very same pipeline as
a batch runs as a dry run; if any row fails (it cannot be read, or the pipeline refuses its
assignment: not found, status, no open week, content, sent to payroll) nothing is written and the
answer is 422 listing every failing row. Only then is the pipeline run for real.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import Field, StringConstraints

from timerack_bridge.api import deps
from timerack_bridge.api.auth import require_visible_customer
from timerack_bridge.api.routes.common import timerack_access
from timerack_bridge.exceptions import ConflictError, PayloadTooLargeError
from timerack_bridge.models import BatchResult, CamelModel, Customer, IsoDate, RecordId, TimerackMode

if TYPE_CHECKING:
    from timerack_bridge.api.auth import TimerackAccess
    from timerack_bridge.api.deps import Services
    from timerack_bridge.domain.feed import FeedReading

router = Router()


class TimecardImportIn(CamelModel):
    feed_type: Literal["Timerack Feed"]
    parent_customer_id: RecordId
    weekend_bill: IsoDate
    file_name: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    content: str

    def __repr__(self) -> str:
        # The file's size, not its rows: Powertools formats a route's arguments into a debug message
        # whatever the log level (see TimecardBatchIn.__repr__); the feed holds employees' hours.
        return (
            f"TimecardImportIn(feed_type={self.feed_type!r}, parent_customer_id={self.parent_customer_id}, "
            f"weekend_bill='{self.weekend_bill}', file_name={self.file_name!r}, content=<{len(self.content)} chars>)"
        )

    __str__ = __repr__


class RowErrorOut(CamelModel):
    row: int
    message: str


class TimecardImportOut(CamelModel):
    file_name: str
    parent_customer_id: int
    weekend_bill: date
    rows: int
    row_errors: list[RowErrorOut] = Field(default_factory=list)
    imported: bool
    batch: BatchResult | None = None


def _import_answer_or(other: str) -> dict[str, Any]:
    """A reply body that is either the import's answer or the API's other reply of that status."""
    refs = [{"$ref": f"#/components/schemas/{name}"} for name in ("TimecardImportOut", other)]
    return {"application/json": {"schema": {"anyOf": refs}}}


IMPORT_REPLIES: dict[int, Any] = {
    200: {
        "description": "The whole file was imported (imported: true), or with dryRun=true would be "
        "(imported: false, batch.status dry-run); rowErrors is empty"
    },
    422: {
        "description": "The file cannot be imported and nothing was written (imported: false, batch: null): "
        "rowErrors lists every failing row (header = row 1) with its reason; a dry run gives the same "
        "answer. Or the request body itself is malformed (message, detail).",
        "content": _import_answer_or("HTTPValidationError"),
    },
    409: {
        "description": "The file passed its checks but an assignment changed before it was written (e.g. "
        "its week was sent to payroll): the others were written (imported: true if any was; the batch "
        "is in Payroll History) and rowErrors names the rows not written (a re-import replaces, never "
        "duplicates). Or a Connect client, no Client Key, or a week that is not open (message).",
        "content": _import_answer_or("ErrorBody"),
    },
}


@router.post(
    "/v1/timecard-imports",
    description="Import a Timerack Feed whole or not at all; dryRun=true checks it and gives the same answer.",
    responses=IMPORT_REPLIES,
)
def post_timecard_import(
    body: TimecardImportIn, dry_run: Annotated[bool, Query(alias="dryRun")] = False
) -> Response[TimecardImportOut]:
    """Import a Timerack Feed for a parent customer and weekend bill (dryRun=true checks only)."""
    from timerack_bridge.domain.feed import read_feed

    services = deps.services()
    access = timerack_access(router)
    customer = require_visible_customer(access, services.admin, body.parent_customer_id)
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
    # Before the file is read: the week must be open at the customer's node (409 naming the open weeks).
    from timerack_bridge.logic.admin_checks import check_import_week

    check_import_week(
        services.admin, access.tree, customer.hierarchy_node_id, body.weekend_bill, services.settings.week_ending_day
    )
    reading = read_feed(body.content, weekend_bill=body.weekend_bill, pay_codes=services.settings.pay_codes)
    limit = services.settings.max_batch_timecards
    if len(reading.timecards) > limit:
        raise PayloadTooLargeError(
            f"an import may make at most {limit} timecards; this file makes {len(reading.timecards)}"
        )
    return _import_whole(services, access, customer, body, reading, dry_run=dry_run)


def _import_whole(
    services: Services,
    access: TimerackAccess,
    customer: Customer,
    body: TimecardImportIn,
    reading: FeedReading,
    *,
    dry_run: bool,
) -> Response[TimecardImportOut]:
    """Check every row (reading and a dry run of the pipeline); write only a file with no failing row."""
    from timerack_bridge.logic import intake

    def run(dry: bool) -> BatchResult:
        return intake.submit_batch(
            services,
            access,
            customer,
            reading.timecards,
            preferred_weekend_bill=body.weekend_bill,
            strict_week=True,
            source="manual-import",
            dry_run=dry,
        )

    check = run(True) if reading.timecards else None
    failing = [RowErrorOut(row=e.row, message=e.message) for e in reading.errors] + _refused_rows(check, reading)
    if not reading.timecards and not failing:
        failing = [RowErrorOut(row=1, message="the file has no rows to import under its header")]
    if failing:
        return _answer(body, reading, 422, failing, batch=None, imported=False)
    if dry_run:
        return _answer(body, reading, 200, [], batch=check, imported=False)
    written = run(False)
    # Changed since the check (sent to payroll, replaced, no longer visible): the other units are
    # written (one file is many DynamoDB transactions); 409 names the rows that were not.
    late = _refused_rows(written, reading)
    imported = written.counts.created + written.counts.replaced > 0
    return _answer(body, reading, 409 if late else 200, late, batch=written, imported=imported)


def _refused_rows(batch: BatchResult | None, reading: FeedReading) -> list[RowErrorOut]:
    """Each assignment the pipeline refused, reported on every row it was read from."""
    if batch is None:
        return []
    return [
        RowErrorOut(row=row, message=result.error)
        for result in batch.results
        if result.error
        for row in reading.rows_of_assignment.get(result.assignment_id, [])
    ]


def _answer(
    body: TimecardImportIn,
    reading: FeedReading,
    status: int,
    row_errors: list[RowErrorOut],
    *,
    batch: BatchResult | None,
    imported: bool,
) -> Response[TimecardImportOut]:
    reply = TimecardImportOut(
        file_name=body.file_name,
        parent_customer_id=body.parent_customer_id,
        weekend_bill=body.weekend_bill,
        rows=reading.rows,
        row_errors=sorted(row_errors, key=lambda e: (e.row, e.message)),
        imported=imported,
        batch=batch,
    )
    return Response(status_code=status, content_type="application/json", body=reply)
