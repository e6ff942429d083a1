"""Proofing a week: its current timecards at or below a node, as JSON pages or one CSV download."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from timerack_bridge.api.auth import require_visible_client
from timerack_bridge.api.models.output import WeekTimecardPage
from timerack_bridge.api.routes.common import admin_or_timerack_access, services_of
from timerack_bridge.api.swagger import TIMECARDS
from timerack_bridge.domain.proofing_csv import render_proofing_csv
from timerack_bridge.domain.types import ClientKey, Identifier, IsoDate, PayrollStatus
from timerack_bridge.exceptions import ForbiddenError
from timerack_bridge.logic.proofing import ProofingRequest, proof_week_page, proof_whole_week

router = Router()

NodeQuery = Annotated[Identifier, Query(alias="hierarchyNodeId")]
ClientKeyQuery = Annotated[ClientKey | None, Query(alias="clientKey")]
StatusQuery = Annotated[PayrollStatus | None, Query(alias="payrollStatus")]


def _may_proof(node_id: str, client_key: str | None) -> None:
    """An admin proofs any node; a rep only at or below their own, and a client key they can see (404 if not)."""
    services = services_of(router)
    access = admin_or_timerack_access(router)
    if not access.sees(node_id):
        raise ForbiddenError("a service rep may proof only the weeks at or below their own hierarchy node")
    if client_key is not None and not access.is_admin:
        require_visible_client(access, services.admin, client_key)


@router.get(
    "/v1/weeks/<weekend_bill>/timecards",
    tags=[TIMECARDS],
    summary="Proof a week's timecards",
    description=(
        "Every current timecard of the week at or below the hierarchy node, with the employee, customer and "
        "totals per pay code, a page at a time (limit, nextToken; a page may be short and still carry a "
        "nextToken). Filter by clientKey and payrollStatus (open or sent). Admins for any node; a Timerack "
        "service rep at or below their own node (403 above it or for a node unknown to it; a client key they "
        "cannot see 404); for an admin, an unknown node is 422."
    ),
)
def get_week_timecards(
    weekend_bill: Annotated[IsoDate, Path()],
    hierarchy_node_id: NodeQuery,
    client_key: ClientKeyQuery = None,
    payroll_status: StatusQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    next_token: Annotated[str | None, Query(alias="nextToken", max_length=2048)] = None,
) -> WeekTimecardPage:
    """The week's current timecards at or below the node, a page at a time, with the page's totals per pay code.

    A page ends at the unit (assignment) that brings it to `limit` timecards, so it may hold a few
    more; it may hold fewer, even none, and still carry a nextToken: follow it until there is none.
    """
    _may_proof(hierarchy_node_id, client_key)
    services = services_of(router)
    request = ProofingRequest(weekend_bill, hierarchy_node_id, client_key, payroll_status)
    page = proof_week_page(
        services.admin,
        services.timecards,
        request,
        week_ending_day=services.settings.week_ending_day,
        limit=limit,
        next_token=next_token,
    )
    return WeekTimecardPage(
        weekend_bill=weekend_bill,
        hierarchy_node_id=hierarchy_node_id,
        items=page.items,
        totals=page.totals,
        next_token=page.next_token,
    )


@router.get(
    "/v1/weeks/<weekend_bill>/timecards.csv",
    tags=[TIMECARDS],
    summary="Download a week's timecards as CSV",
    description=(
        "The same selection as proofing a week, whole, as a CSV to proof in a spreadsheet: Assignment ID, "
        "Employee ID, Employee Name, Customer, Pay Code, Date, Hours, Adjustments, Payroll Status, Last "
        "Batch. Cells are safe from spreadsheet formulas. Who may call it and the refusals are those of the "
        "JSON route; over 5,000 timecards 413."
    ),
)
def get_week_timecards_csv(
    weekend_bill: Annotated[IsoDate, Path()],
    hierarchy_node_id: NodeQuery,
    client_key: ClientKeyQuery = None,
    payroll_status: StatusQuery = None,
) -> Response[str]:
    """The whole selection as CSV, a row per day of each timecard, every cell formula-safe."""
    _may_proof(hierarchy_node_id, client_key)
    services = services_of(router)
    request = ProofingRequest(weekend_bill, hierarchy_node_id, client_key, payroll_status)
    cards = proof_whole_week(
        services.admin, services.timecards, request, week_ending_day=services.settings.week_ending_day
    )
    return Response(
        status_code=200,
        content_type="text/csv; charset=utf-8",
        body=render_proofing_csv(cards),
        headers={"Content-Disposition": f'attachment; filename="timecards-{weekend_bill.isoformat()}.csv"'},
    )
