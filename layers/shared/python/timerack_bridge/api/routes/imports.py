"""POST /v1/timecard-imports: the manual "Timerack Feed" Timecard Import (logic/feed_import.py).

Run by a Timerack service rep or by a TempWorks admin (scope timerack/admin; domain/access.py says how
an admin's import is judged). A file is imported whole or not at all: 422 lists every failing row and
nothing is written; 409 names the rows of units that changed between the check and the write.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from timerack_bridge.api.auth import require_visible_customer
from timerack_bridge.api.models import examples
from timerack_bridge.api.models.input import TimecardImportIn
from timerack_bridge.api.models.output import RowErrorOut, TimecardImportOut
from timerack_bridge.api.routes.common import admin_or_timerack_access, services_of
from timerack_bridge.api.swagger import IMPORTS

if TYPE_CHECKING:
    from timerack_bridge.logic.feed_import import ImportOutcome

router = Router()


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
    tags=[IMPORTS],
    summary="Import a Timerack Feed file (manual Timecard Import)",
    description=(
        "Imports a Timerack Feed file for a Primary Customer that does not use Connect, for the week ending "
        "weekendBill: the whole file or nothing; dryRun=true checks it and gives the same answer. Admins, "
        "and Timerack service reps for the customers they can see (404 for others). A Connect customer, a "
        "customer without a Client Key or a week that is not open is 409; rows that fail are listed in a 422."
    ),
    responses=IMPORT_REPLIES,
)
def post_timecard_import(
    body: Annotated[TimecardImportIn, Body(openapi_examples=examples.TIMECARD_IMPORT)],
    dry_run: Annotated[bool, Query(alias="dryRun")] = False,
) -> Response[TimecardImportOut]:
    """Import a Timerack Feed for a parent customer and weekend bill (dryRun=true checks only)."""
    # The import's code (the feed reader, the pipeline) loads on the first import, not at every cold start.
    from timerack_bridge.logic.feed_import import import_feed

    services = services_of(router)
    # A rep imports at their own node; an admin (no rep) at the customer's node, with the same checks.
    access = admin_or_timerack_access(router)
    customer = require_visible_customer(access, services.admin, body.parent_customer_id)
    access = access.acting_for(customer.hierarchy_node_id)
    outcome = import_feed(services, access, customer, body.weekend_bill, body.content, dry_run=dry_run)
    return _answer(body, outcome)


_STATUS_OF = {"refused": 422, "written-in-part": 409}


def _answer(body: TimecardImportIn, outcome: ImportOutcome) -> Response[TimecardImportOut]:
    reply = TimecardImportOut(
        file_name=body.file_name,
        parent_customer_id=body.parent_customer_id,
        weekend_bill=body.weekend_bill,
        rows=outcome.rows,
        row_errors=[RowErrorOut(row=e.row, message=e.message) for e in outcome.row_errors],
        imported=outcome.imported,
        batch=outcome.batch,
    )
    return Response(status_code=_STATUS_OF.get(outcome.kind, 200), content_type="application/json", body=reply)
