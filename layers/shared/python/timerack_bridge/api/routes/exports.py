"""The export runs: "Update From TempWorks" (`POST /v1/exports`) and the recorded runs (`GET /v1/exports...`).

Admins start a run of every client (or one) and see every run and client; a rep starts a run of the
clients at or below their hierarchy node (with a clientKey: that client, 404 when unknown or not
visible, alike) and sees the runs' outcomes of those clients only, counted over those clients.
The run is inline; its result, per client, and its runId are the reply.
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from timerack_bridge.api.auth import require_visible_client
from timerack_bridge.api.models.output import ExportRunDetail, ExportRunList
from timerack_bridge.api.routes.common import admin_or_timerack_access, services_of
from timerack_bridge.api.swagger import EXPORTS, body_example
from timerack_bridge.domain.access import TimerackAccess
from timerack_bridge.domain.export_models import ClientOutcome, ExportRequest, ExportRun, RunTrigger
from timerack_bridge.exceptions import NotFoundError

router = Router()

UPDATE_FROM_TEMPWORKS: RunTrigger = "update-from-tempworks"

RunId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9\-]+$")]
EXPORT_EXAMPLES = {
    # A made-up key: schemathesis sends every example to a running stack, and an empty body exports
    # every client (the description says so; no example runs it).
    **body_example(
        "One client",
        {"clientKey": "NORTHWIND-1"},
        "Export the client with this Timerack Client Key; an empty body exports every client the caller sees.",
    ),
}
Limit = Annotated[int, Query(ge=1, le=200)]
NextToken = Annotated[str | None, Query(alias="nextToken", max_length=2048)]


@router.post(
    "/v1/exports",
    tags=[EXPORTS],
    summary="Update From TempWorks: export now",
    description=(
        "Sends the clients' employees (with PINs) and assignments to Timerack now, one client or every client "
        "the caller sees, and answers with the run (its runId) and each client's outcome and problems. "
        "Admins (every client), and Timerack service reps (their clients; 404 for a client they cannot see)."
    ),
)
def post_export(body: Annotated[ExportRequest | None, Body(openapi_examples=EXPORT_EXAMPLES)] = None) -> ExportRun:
    # The export's code (HTTP, S3, the lock) loads on the first export, not at every cold start.
    from timerack_bridge.logic.export_run import run_export

    access = admin_or_timerack_access(router)
    services = services_of(router)
    store = services.admin
    client_key = body.client_key if body else None
    runs, trigger = services.export_runs, UPDATE_FROM_TEMPWORKS
    if client_key is not None:
        require_visible_client(access, store, client_key)
        return run_export(store, services.export_destination(), client_key=client_key, runs=runs, trigger=trigger)
    # An admin's run is of every client (under the run's lease); a rep's, of the clients they see.
    include = None if access.is_admin else (lambda customer: access.sees(customer.hierarchy_node_id))
    return run_export(store, services.export_destination(), include=include, runs=runs, trigger=trigger)


def _sees_outcome(access: TimerackAccess, outcome: ClientOutcome) -> bool:
    return access.is_admin or (outcome.hierarchy_node_id is not None and access.sees(outcome.hierarchy_node_id))


@router.get(
    "/v1/exports",
    tags=[EXPORTS],
    summary="List the export runs, newest first",
    description=(
        "Every recorded export run (hourly, direct, Update From TempWorks) with its trigger, times and its "
        "clients by status, paged with limit/nextToken. A Timerack service rep sees only the runs that touched "
        "their clients, with the counts of those clients (a page may then hold fewer than limit runs)."
    ),
)
def list_export_runs(limit: Limit = 50, next_token: NextToken = None) -> ExportRunList:
    access = admin_or_timerack_access(router)
    records, token = services_of(router).export_runs.list_runs(limit=limit, next_token=next_token)
    if access.is_admin:
        return ExportRunList(items=[record.summary() for record in records], next_token=token)
    # A rep learns nothing of another branch's runs: not their ids, not when they ran.
    visible = [record.summary(access.sees) for record in records if record.concerns(access.sees)]
    return ExportRunList(items=visible, next_token=token)


@router.get(
    "/v1/exports/<run_id>",
    tags=[EXPORTS],
    summary="See one export run and each client's outcome",
    description=(
        "The run and its clients' outcomes by customer id: exported (with its problems: missing PIN, PIN "
        "collision, missing employee, by employee id), failed (with the reason) or skipped, paged with "
        "limit/nextToken. A Timerack service rep sees their clients only; a run with none of them is 404, "
        "as an unknown run is."
    ),
)
def get_export_run(run_id: RunId, limit: Limit = 100, next_token: NextToken = None) -> ExportRunDetail:
    access = admin_or_timerack_access(router)
    runs = services_of(router).export_runs
    record = runs.get_run(run_id)
    if record is None or not (access.is_admin or record.concerns(access.sees)):
        raise NotFoundError(f"no export run has the id {run_id}")
    outcomes, token = runs.run_outcomes(
        run_id, limit=limit, next_token=next_token, include=lambda outcome: _sees_outcome(access, outcome)
    )
    summary = record.summary(None if access.is_admin else access.sees)
    return ExportRunDetail(**summary.model_dump(), clients=outcomes, next_token=token)
