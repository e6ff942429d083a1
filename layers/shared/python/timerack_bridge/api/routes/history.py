"""Payroll History: the batches of a client, one batch, and its CSV report."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from timerack_bridge.api.auth import require_visible_client
from timerack_bridge.api.models.output import BatchSummaryList
from timerack_bridge.api.routes.common import services_of, timerack_access
from timerack_bridge.domain.access import TimerackAccess
from timerack_bridge.domain.batch import BatchResult
from timerack_bridge.domain.report import render_csv
from timerack_bridge.domain.types import ClientKey
from timerack_bridge.exceptions import NotFoundError

router = Router()

BatchId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9\-]+$")]


def _visible_batch(access: TimerackAccess, batch_id: str) -> BatchResult:
    """A batch the rep sees through the customer it belongs to; 404 otherwise (absent or hidden alike)."""
    services = services_of(router)
    batch = services.batches.get_batch(batch_id)
    owner = None
    if batch is not None:
        admin = services.admin
        owner = admin.get_customer(batch.customer_id) if batch.customer_id is not None else None
        if batch.customer_id is None:  # stored before batches carried their customer
            owner = admin.legacy_owner(batch.client_key)
    if batch is None or owner is None or not access.sees(owner.hierarchy_node_id):
        raise NotFoundError(f"The batch {batch_id} could not be found or is not currently visible.")
    return batch


@router.get("/v1/payroll-history")
def list_payroll_history(
    client_key: Annotated[ClientKey, Query(alias="clientKey")],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    next_token: Annotated[str | None, Query(alias="nextToken", max_length=2048)] = None,
) -> BatchSummaryList:
    """A client's batches (its Primary Customer's, whatever key it had), newest first."""
    services = services_of(router)
    access = timerack_access(router)
    customer = require_visible_client(access, services.admin, client_key)
    items, token = services.batches.list_batches(
        customer.customer_id,
        legacy_client_key=services.admin.legacy_client_key(customer),
        limit=limit,
        next_token=next_token,
    )
    return BatchSummaryList(items=items, next_token=token)


@router.get("/v1/payroll-history/<batch_id>")
def get_payroll_history(batch_id: BatchId) -> BatchResult:
    return _visible_batch(timerack_access(router), batch_id)


@router.get("/v1/payroll-history/<batch_id>/report.csv")
def get_payroll_history_report(batch_id: BatchId) -> Response[str]:
    batch = _visible_batch(timerack_access(router), batch_id)
    return Response(
        status_code=200,
        content_type="text/csv; charset=utf-8",
        body=render_csv(batch.results),
        headers={"Content-Disposition": f'attachment; filename="payroll-history-{batch_id}.csv"'},
    )
