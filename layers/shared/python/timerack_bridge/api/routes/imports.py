"""POST /v1/timecard-imports: the manual "Timerack Feed" Timecard Import.

Reads the whole file first; a real import with any unreadable row writes nothing and returns every
such row, so a file is never half-imported. Then the very same pipeline as a batch runs.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import Field, StringConstraints

from timerack_bridge.api import deps
from timerack_bridge.api.routes.common import timerack_access
from timerack_bridge.exceptions import ConflictError, ForbiddenError, NotFoundError, PayloadTooLargeError
from timerack_bridge.models import BatchResult, CamelModel, RecordId, TimerackMode

router = Router()


class TimecardImportIn(CamelModel):
    feed_type: Literal["Timerack Feed"]
    parent_customer_id: RecordId
    weekend_bill: date
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


@router.post("/v1/timecard-imports")
def post_timecard_import(
    body: TimecardImportIn, dry_run: Annotated[bool, Query(alias="dryRun")] = False
) -> Response[TimecardImportOut]:
    """Import a Timerack Feed for a parent customer and weekend bill (dryRun=true checks only)."""
    from timerack_bridge.domain.feed import read_feed
    from timerack_bridge.intake import submit_batch

    services = deps.services()
    access = timerack_access(router)
    customer = services.admin.get_customer(body.parent_customer_id)
    if customer is None:
        raise NotFoundError(f"customer {body.parent_customer_id} not found")
    if not access.sees(customer.hierarchy_node_id):
        raise ForbiddenError(f"customer {body.parent_customer_id} is not visible at the service rep's hierarchy level")
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
    reading = read_feed(body.content)
    limit = services.settings.max_batch_timecards
    if len(reading.timecards) > limit:
        raise PayloadTooLargeError(
            f"an import may make at most {limit} timecards; this file makes {len(reading.timecards)}"
        )
    row_errors = [RowErrorOut(row=e.row, message=e.message) for e in reading.errors]
    batch: BatchResult | None = None
    if reading.timecards and (dry_run or not row_errors):
        batch = submit_batch(
            services,
            access,
            customer,
            reading.timecards,
            preferred_weekend_bill=body.weekend_bill,
            strict_week=True,
            source="manual-import",
            dry_run=dry_run,
        )
    reply = TimecardImportOut(
        file_name=body.file_name,
        parent_customer_id=body.parent_customer_id,
        weekend_bill=body.weekend_bill,
        rows=reading.rows,
        row_errors=row_errors,
        imported=batch is not None and not dry_run,
        batch=batch,
    )
    status = 422 if row_errors and not dry_run else 200
    return Response(status_code=status, content_type="application/json", body=reply)
