"""The export runs: "Update From TempWorks" (`POST /v1/exports`) and the recorded runs (`GET /v1/exports...`).

Admins queue every client (or one) and see every run and client; a rep queues the clients at or below
their hierarchy node (with a clientKey: that client, 404 when unknown or not visible, alike) and sees the
runs' outcomes of those clients only, counted over those clients. The API never sends a client itself,
and answers 202 with the run at once: one client it puts on the export queue itself; a run of many
clients (up to every client of the agency) it records and hands to the export dispatcher (an async
invoke: `DispatchStarter`), which reads, records and queues them within its own timeout, not the API's
28 s. The export workers send the clients and record each one's outcome on the run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from timerack_bridge.api.auth import require_visible_client
from timerack_bridge.api.models.output import ExportRunDetail, ExportRunList
from timerack_bridge.api.routes.common import admin_or_timerack_access, services_of
from timerack_bridge.api.swagger import EXPORTS, body_example
from timerack_bridge.domain.access import TimerackAccess
from timerack_bridge.domain.export_models import (
    ClientOutcome,
    DispatchRequest,
    ExportRequest,
    ExportRun,
    ExportRunRecord,
    ExportRunSummary,
    RunTrigger,
)
from timerack_bridge.exceptions import NotFoundError
from timerack_bridge.logic.ports import DispatchStartError

if TYPE_CHECKING:
    from timerack_bridge.adapters.dynamodb.export_runs import ExportRunStore
    from timerack_bridge.api.deps import Services

logger = Logger(child=True)
router = Router()

UPDATE_FROM_TEMPWORKS: RunTrigger = "update-from-tempworks"

RunId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9\-]+$")]
EXPORT_EXAMPLES = {
    # A made-up key: schemathesis sends every example to a running stack, and an empty body queues
    # every client (the description says so; no example does it).
    **body_example(
        "One client",
        {"clientKey": "NORTHWIND-1"},
        "Queue the client with this Timerack Client Key; an empty body queues every client the caller sees.",
    ),
}
EXPORT_REPLIES: dict[int, Any] = {
    202: {
        "description": "The run is started: its runId, state and counts. One client is queued at once (state "
        "running, counts.queued 1); every client is being queued by the export dispatcher (state queuing, no "
        "counts yet: GET /v1/exports/{runId} shows the clients as they are queued, exported or failed).",
    },
    503: {
        "description": "The export was not started: the export dispatcher could not be reached. No client was "
        "queued (the run, if recorded, is finished with no client); try again after Retry-After seconds.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    },
}
# What a 503 asks the caller to wait before trying again (Lambda throttling or a brief outage).
RETRY_AFTER_SECONDS = 30
NOT_STARTED = (
    "The export was not started: the export dispatcher could not be reached, and no client was queued. "
    f"Please try again in {RETRY_AFTER_SECONDS} seconds."
)
Limit = Annotated[int, Query(ge=1, le=200)]
NextToken = Annotated[str | None, Query(alias="nextToken", max_length=2048)]
Trigger = Annotated[
    RunTrigger | None,
    Query(description="Only the runs of this trigger (e.g. hourly, update-from-tempworks, change)."),
]
# Listing by trigger (or for a rep) reads the runs a page of SCAN_PAGE at a time, at most SCAN_READS pages
# per request: a page of the reply may hold fewer than `limit` runs, even none, with a nextToken to go on.
SCAN_PAGE = 100
SCAN_READS = 5


@router.post(
    "/v1/exports",
    tags=[EXPORTS],
    summary="Update From TempWorks: queue clients for export now",
    description=(
        "Queues the clients' employees (with PINs) and assignments for Timerack now, one client or every "
        "client the caller sees, and answers 202 at once with the run: its runId and state. One client is "
        "queued at once; every client is handed to the export dispatcher, which queues them within seconds to "
        "minutes (state queuing until then; 503 with Retry-After, nothing queued, if it cannot be reached). "
        "The export workers send each client within minutes; GET /v1/exports/{runId} shows each one queued, "
        "exported (with its problems) or failed (with the reason). Admins (every client), and Timerack "
        "service reps (their clients; 404 for a client they cannot see, and nothing is queued)."
    ),
    responses=EXPORT_REPLIES,
)
def post_export(
    body: Annotated[ExportRequest | None, Body(openapi_examples=EXPORT_EXAMPLES)] = None,
) -> Response[ExportRunSummary]:
    access = admin_or_timerack_access(router)
    services = services_of(router)
    client_key = body.client_key if body else None
    if client_key is None:
        return _hand_over_every_client(access, services)
    # The dispatch's code loads on the first export, not at every cold start.
    from timerack_bridge.logic.export_dispatch import dispatch

    require_visible_client(access, services.admin, client_key)  # before any run is recorded
    summary = dispatch(
        services.admin,
        services.export_queue,
        services.export_runs,
        trigger=UPDATE_FROM_TEMPWORKS,
        destination=services.settings.export_destination,
        client_key=client_key,
    )
    return Response(status_code=202, content_type="application/json", body=summary)


def _hand_over_every_client(access: TimerackAccess, services: Services) -> Response[ExportRunSummary]:
    """Record the run (queuing) and hand it to the export dispatcher: every client for an admin, the clients
    at the nodes a rep sees for a rep. ExportNotStarted (503) when the dispatcher cannot be reached: the
    run, if recorded, is marked dispatched with no client (finished), never left queuing."""
    try:
        starter = services.dispatch_starter
    except DispatchStartError as exc:
        raise ExportNotStarted(str(exc), run_id=None) from exc
    run = ExportRun(
        started_at=datetime.now(UTC), destination=services.settings.export_destination, trigger=UPDATE_FROM_TEMPWORKS
    )
    services.export_runs.start(run)
    nodes = None if access.is_admin else sorted(node for node in access.tree.nodes if access.sees(node))
    try:
        starter.start(DispatchRequest(run_id=run.run_id, trigger=run.trigger, hierarchy_node_ids=nodes))
    except DispatchStartError as exc:
        services.export_runs.dispatched(run.run_id)
        raise ExportNotStarted(str(exc), run_id=run.run_id) from exc
    logger.info("export run handed to the dispatcher", extra={"run_id": run.run_id, "nodes": len(nodes or ())})
    record = ExportRunRecord(**run.model_dump(include={"run_id", "trigger", "destination", "started_at"}))
    return Response(status_code=202, content_type="application/json", body=record.summary())


class ExportNotStarted(Exception):
    """The export dispatcher could not be handed a run of many clients: 503, try again (Retry-After)."""

    def __init__(self, reason: str, *, run_id: str | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.run_id = run_id


@router.exception_handler(ExportNotStarted)
def export_not_started(error: ExportNotStarted) -> Response[Any]:
    extra = {"run_id": error.run_id, "error": error.reason}
    logger.error("export run not started: the dispatcher could not be invoked", extra=extra)
    return Response(
        status_code=503,
        content_type="application/json",
        body=json.dumps({"message": NOT_STARTED}),
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _sees_outcome(access: TimerackAccess, outcome: ClientOutcome) -> bool:
    return access.is_admin or (outcome.hierarchy_node_id is not None and access.sees(outcome.hierarchy_node_id))


@router.get(
    "/v1/exports",
    tags=[EXPORTS],
    summary="List the export runs, newest first",
    description=(
        "Every recorded export run (hourly, direct, Update From TempWorks, a saved change) with its trigger, "
        "times, state (queuing, running, finished) and its clients by status (queued, exported, failed, "
        "skipped), paged with limit/nextToken; `trigger` lists the runs of one trigger only (e.g. the hourly "
        "runs, among many change-driven ones). A Timerack service rep sees only the runs that touched their "
        "clients, with the counts of those clients. With a trigger, or for a rep, a page may hold fewer than "
        "limit runs (even none): follow nextToken until there is none."
    ),
)
def list_export_runs(limit: Limit = 50, next_token: NextToken = None, trigger: Trigger = None) -> ExportRunList:
    access = admin_or_timerack_access(router)
    runs = services_of(router).export_runs
    if access.is_admin and trigger is None:
        records, token = runs.list_runs(limit=limit, next_token=next_token)
        return ExportRunList(items=[record.summary() for record in records], next_token=token)

    # A rep learns nothing of another branch's runs: not their ids, not when they ran.
    def kept(record: ExportRunRecord) -> bool:
        return (trigger is None or record.trigger == trigger) and (access.is_admin or record.concerns(access.sees))

    records, token = _runs_kept(runs, kept, limit=limit, next_token=next_token)
    sees = None if access.is_admin else access.sees
    return ExportRunList(items=[record.summary(sees) for record in records], next_token=token)


def _runs_kept(
    runs: ExportRunStore, kept: Callable[[ExportRunRecord], bool], *, limit: int, next_token: str | None
) -> tuple[list[ExportRunRecord], str | None]:
    """Up to `limit` of the runs `kept` keeps, newest first, reading SCAN_PAGE runs a page, SCAN_READS pages
    at most; the token resumes right after the last run read. A page holding more kept runs than wanted is
    read again, cut after the last one wanted, so its token skips none."""
    found: list[ExportRunRecord] = []
    token = next_token
    for _ in range(SCAN_READS):
        wanted = limit - len(found)
        records, after = runs.list_runs(limit=max(SCAN_PAGE, limit), next_token=token)
        positions = [index for index, record in enumerate(records) if kept(record)]
        if len(positions) > wanted:
            records, after = runs.list_runs(limit=positions[wanted - 1] + 1, next_token=token)
            return found + [record for record in records if kept(record)][:wanted], after
        found += [records[index] for index in positions]
        token = after
        if token is None or len(found) == limit:
            break
    return found, token


@router.get(
    "/v1/exports/<run_id>",
    tags=[EXPORTS],
    summary="See one export run and each client's outcome",
    description=(
        "The run, its state and its clients' outcomes by customer id: queued (waiting, or to be tried again: "
        "the error says why and when), exported (with its problems: missing PIN, PIN collision, missing "
        "employee, by employee id), failed (with the reason, after every attempt) or skipped, each with its "
        "attempts, paged with limit/nextToken. A Timerack service rep sees their clients only; a run with none "
        "of them is 404, as an unknown run is."
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
