"""Timecard intake ("Send to TempWorks"), timecard reads, and send-to-payroll."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query

from timerack_bridge.api.auth import require_visible_client
from timerack_bridge.api.models import examples
from timerack_bridge.api.models.input import SendToPayrollIn, TimecardBatchIn
from timerack_bridge.api.models.output import BatchAccepted, SendToPayrollOut, TimecardList
from timerack_bridge.api.routes.common import (
    admin_caller,
    admin_or_timerack_access,
    caller,
    services_of,
    timerack_access,
)
from timerack_bridge.api.swagger import TIMECARDS
from timerack_bridge.config import ApiSettings
from timerack_bridge.domain.batch import AcceptedBatch, BatchResult
from timerack_bridge.domain.types import IdText, IsoDate
from timerack_bridge.exceptions import NotFoundError, PayloadTooLargeError
from timerack_bridge.logic.admin_checks import require_week_ending
from timerack_bridge.logic.payroll_lock import lock_week

router = Router()


@router.post(
    "/v1/timecard-batches",
    tags=[TIMECARDS],
    summary="Send timecards to TempWorks",
    description=(
        '"Send to TempWorks" from Timerack: checks every assignment of the batch and writes its timecards, '
        "replacing what an earlier send wrote for that assignment and week; each assignment is created, "
        "replaced or an error, with its reason. Up to SYNC_BATCH_TIMECARDS (5,000) timecards the answer is the "
        "batch's result (200); a larger batch, up to 20,000 timecards, is accepted (202, with a Location): the "
        "intake worker writes it, and its Payroll History goes from processing to completed with the same "
        "results. dryRun=true checks without writing (up to SYNC_BATCH_TIMECARDS). An Idempotency-Key answers "
        "a repeat with the first reply (the same 202 for an accepted batch). Timerack service reps in the "
        "security group only (403 otherwise); a client key the rep cannot see 404; over 20,000 timecards, a "
        "body over 10 MB, or a dry run over SYNC_BATCH_TIMECARDS 413, naming the limit; a malformed body 422."
    ),
    responses={
        200: {
            "description": "The batch's result, one per assignment",
            "content": {"application/json": {"model": BatchResult}},
        },
        202: {
            "description": "A batch over SYNC_BATCH_TIMECARDS, accepted: poll its Payroll History (Location)",
            "content": {"application/json": {"model": BatchAccepted}},
        },
    },
)
def post_timecard_batch(
    body: Annotated[TimecardBatchIn, Body(openapi_examples=examples.TIMECARD_BATCH)],
    dry_run: Annotated[bool, Query(alias="dryRun")] = False,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)] = None,
) -> BatchResult | BatchAccepted:
    """ "Send to TempWorks": check every assignment and write its timecards, replacing earlier sends."""
    raw = router.current_event.decoded_body or ""
    body_bytes = raw.encode() if isinstance(raw, str) else raw
    return send_timecard_batch(router, body, body_bytes, dry_run=dry_run, idempotency_key=idempotency_key)  # type: ignore[return-value]


def send_timecard_batch(
    router: Router,
    body: TimecardBatchIn,
    body_bytes: bytes,
    *,
    dry_run: bool,
    idempotency_key: str | None,
) -> BatchResult | Response[BatchAccepted]:
    """A batch as sent (`body_bytes`, the JSON `body` was read from): answered at once up to
    SYNC_BATCH_TIMECARDS, else accepted for the intake worker (202). The upload route sends one through it too."""
    services = services_of(router)
    access = timerack_access(router)
    asynchronous = _needs_intake(services.settings, len(body.timecards), dry_run=dry_run)
    customer = require_visible_client(access, services.admin, body.client_key)
    preferred = body.pay_period.end if body.pay_period else None
    principal = caller(router).principal

    def run() -> BatchResult | AcceptedBatch:
        if asynchronous:
            from timerack_bridge.logic.intake_async import accept_batch

            return accept_batch(
                services,
                customer,
                body_bytes=body_bytes,
                timecards=len(body.timecards),
                preferred_weekend_bill=preferred,
                principal=principal,
            )
        from timerack_bridge.logic.intake import submit_batch

        return submit_batch(
            services, access, customer, body.timecards, preferred_weekend_bill=preferred, dry_run=dry_run
        )

    if not idempotency_key or dry_run:
        return _answer(run())
    # The key keeps the batch id and counts (an accepted batch's 202 whole); a replay answers the first reply.
    fingerprint = body.model_dump(mode="json", by_alias=True)
    key = f"{principal}|{idempotency_key}"
    sent = services.idempotency.send_batch(key, fingerprint, run, services.batches.get_batch, router.lambda_context)
    return _answer(sent)


def _needs_intake(settings: ApiSettings, timecards: int, *, dry_run: bool) -> bool:
    """Whether the batch goes to the intake worker; 413 naming the limit when it may not be taken at all."""
    most, sync = settings.max_batch_timecards, settings.sync_batch_timecards
    if timecards > most:
        raise PayloadTooLargeError(
            f"a batch may carry at most {most} timecards (MAX_BATCH_TIMECARDS); this one has {timecards}"
        )
    if timecards <= sync:
        return False
    if dry_run:
        raise PayloadTooLargeError(
            f"a dry run may check at most {sync} timecards (SYNC_BATCH_TIMECARDS); this one has {timecards}: "
            "a dry run keeps nothing, so it has no later answer"
        )
    if settings.intake_bucket is None or settings.intake_queue_url is None:
        raise PayloadTooLargeError(
            f"a batch may carry at most {sync} timecards (SYNC_BATCH_TIMECARDS) here; this one has {timecards}: "
            "larger batches need the asynchronous intake, not configured"
        )
    return True


def _answer(sent: BatchResult | AcceptedBatch) -> BatchResult | Response[BatchAccepted]:
    if isinstance(sent, BatchResult):
        return sent
    accepted = BatchAccepted.of(sent)
    return Response(
        status_code=202,
        content_type="application/json",
        body=accepted,
        headers={"Location": accepted.location},
    )


@router.get(
    "/v1/timecards",
    tags=[TIMECARDS],
    summary="See an assignment's timecards for a week",
    description=(
        "The current timecards of one assignment for the week ending weekendBill. TempWorks admins see every "
        "assignment; a Timerack service rep one it can see (else 404); a date that is not the week-ending day 422."
    ),
)
def get_timecards(
    assignment_id: Annotated[IdText, Query(alias="assignmentId", ge=1, le=2**53)],
    weekend_bill: Annotated[IsoDate, Query(alias="weekendBill")],
) -> TimecardList:
    services = services_of(router)
    access = admin_or_timerack_access(router)
    assignment = services.admin.get_assignment(assignment_id)
    if assignment is None or not access.sees(assignment.hierarchy_node_id):
        raise NotFoundError(
            f"The Assignment with an Id of {assignment_id} could not be found or is not currently visible."
        )
    cards = services.timecards.timecards(assignment_id, weekend_bill)
    if not cards:  # timecards stored on another weekday before the weekday check still show
        require_week_ending(weekend_bill, services.settings.week_ending_day)
    return TimecardList(items=cards)


@router.post(
    "/v1/weeks/<weekend_bill>/send-to-payroll",
    tags=[TIMECARDS],
    summary="Send a week to payroll (lock its timecards)",
    description=(
        "Locks the week's timecards at or below the hierarchy node: later sends from Timerack cannot replace "
        "them and they show as sent. Admins only (scope timerack/admin); an unknown node or a date that is "
        "not the week-ending day is 422."
    ),
)
def send_week_to_payroll(
    weekend_bill: Annotated[IsoDate, Path()],
    body: Annotated[SendToPayrollIn, Body(openapi_examples=examples.SEND_TO_PAYROLL)],
) -> SendToPayrollOut:
    """Lock the week's timecards at or below the node: later sends cannot replace them."""
    admin_caller(router)
    services = services_of(router)
    locked = lock_week(
        services.admin,
        services.timecards,
        weekend_bill,
        body.hierarchy_node_id,
        week_ending_day=services.settings.week_ending_day,
    )
    return SendToPayrollOut(
        weekend_bill=weekend_bill,
        hierarchy_node_id=body.hierarchy_node_id,
        locked_units=locked.locked_units,
        locked_timecards=locked.locked_timecards,
    )
