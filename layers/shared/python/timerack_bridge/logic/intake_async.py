"""The asynchronous intake: a batch over SYNC_BATCH_TIMECARDS is accepted now and written by the intake worker.

Accept (the API): the batch's id, submitted-at and so its place in the send order are set when the API takes
it; its body goes to S3, its `processing` record to Payroll History (with what the worker needs to run it as
it was sent), its id to the intake queue, and the API answers 202. Complete (the worker): the same pipeline
as a synchronous send (logic/intake.py), with the same batch id and version, the rep's access read again
now, and the error-file setting kept on the record; then the `completed` record and the body removed. A
batch accepted but never picked up (the queue refused its send) is queued again by the sweep.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from aws_lambda_powertools import Logger

from timerack_bridge.domain.access import TimerackAccess
from timerack_bridge.domain.batch import AcceptedBatch, BatchCounts, BatchResult, TimecardIn
from timerack_bridge.domain.entities import Customer
from timerack_bridge.domain.hierarchy import HierarchyTree
from timerack_bridge.domain.replacement import send_version
from timerack_bridge.domain.types import TimerackModel
from timerack_bridge.logic.intake import _run, _Send, _units_of, deferred_full_collections, new_batch_id
from timerack_bridge.logic.ports import AcceptedRecord, AsyncIntakeServices
from timerack_bridge.logic.timerack_access import timerack_access_of

logger = Logger(child=True)

# A batch accepted this long ago and still processing was never picked up: the sweep queues it again.
STALE_AFTER = timedelta(minutes=15)
# Bodies are kept 7 days (the bucket's lifecycle rule): an older accepted batch cannot be written any more.
SWEPT_WITHIN = timedelta(days=7)
# A batch queued again by the sweep and still processing this long after: every attempt since failed, the
# last ones killed (a timeout, memory) before they could say so. Longer than the queue's 3 receives x 30 min.
GIVE_UP_AFTER = timedelta(hours=3)

# An access that creates nothing: every unit gets the hierarchy-level error, as a rep's whose node may not.
_NO_ACCESS = TimerackAccess(rep=None, tree=HierarchyTree.of([]))


class _AcceptedBody(TimerackModel):
    """The rows of an accepted body (the API checked the whole body before storing it; the rest is on the
    record)."""

    timecards: list[TimecardIn]


def accept_batch(
    services: AsyncIntakeServices,
    customer: Customer,
    *,
    body_bytes: bytes,
    timecards: int,
    preferred_weekend_bill: date | None,
    principal: str,
    now: datetime | None = None,
) -> AcceptedBatch:
    """Keep the batch for the intake worker: its body, then its `processing` record, then its queue message.

    A failure before the record keeps nothing that counts and is raised (a 5xx: Timerack sends it again). A
    queue that refuses the message after the record is logged only: the sweep queues the batch again.
    """
    submitted_at = (now or datetime.now(UTC)).astimezone(UTC)
    batch_id = new_batch_id(submitted_at)
    # The send order is the order the API took the batches, not the order the worker writes them.
    version = send_version(submitted_at.isoformat(timespec="microseconds"), batch_id)
    send = _Send(batch_id, version, submitted_at, customer, preferred_weekend_bill, "timerack", False)
    services.batch_objects.put_body(batch_id, body_bytes)
    record = AcceptedRecord(
        batch=_processing(send),
        # The error-file setting in force now goes with the batch, as with a synchronous one.
        error_file=services.admin.payroll_email_of(customer),
        principal=principal,
        preferred_weekend_bill=preferred_weekend_bill,
        timecards=timecards,
        accepted=True,
    )
    services.accepted_batches.put_accepted(record)
    try:
        services.intake_queue.send(batch_id)
    except Exception as exc:  # noqa: BLE001 - the record is saved; the sweep queues it
        logger.warning(
            "accepted batch not queued; the sweep queues it", extra={"batch_id": batch_id, "error": type(exc).__name__}
        )
    return AcceptedBatch(
        batch_id=batch_id,
        client_key=customer.timerack_client_key or "",
        customer_id=customer.customer_id,
        submitted_at=submitted_at,
        timecards=timecards,
    )


def _processing(send: _Send) -> BatchResult:
    return BatchResult(
        batch_id=send.batch_id,
        client_key=send.customer.timerack_client_key or "",
        customer_id=send.customer.customer_id,
        submitted_at=send.submitted_at,
        weekend_bill=send.preferred_weekend_bill,
        counts=BatchCounts(assignments=0, created=0, replaced=0, errors=0),
        results=[],
        status="processing",
    )


def complete_batch(
    services: AsyncIntakeServices,
    batch_id: str,
    *,
    before_unit_write: Callable[[int], None] | None = None,
) -> BatchResult | None:
    """Write an accepted batch as a synchronous send would have; None when there is nothing to do (a duplicate
    delivery of a batch already completed, or no such accepted batch).

    The body gone from the bucket raises the adapter's BatchObjectMissing: the message is reported failed and
    ends in the dead-letter queue (alarmed); the worker marks the batch `failed` at its last attempt.
    """
    record = services.accepted_batches.get_accepted(batch_id)
    if record is None or not record.accepted:
        logger.info("accepted batch already written or unknown", extra={"batch_id": batch_id})
        return None
    rows = _AcceptedBody.model_validate_json(services.batch_objects.get_body(batch_id)).timecards
    send = _send_of(services, record)
    # The rep's access as it is now: a rep who lost the group since creates nothing (the hierarchy error).
    access = timerack_access_of(services.admin, record.principal) or _NO_ACCESS
    with deferred_full_collections:
        final = _run(
            services,
            access,
            send,
            _units_of(rows),
            False,
            before_unit_write,
            accepted=record,
            keep_weeks=lambda weeks: services.accepted_batches.keep_weeks(batch_id, weeks),
        )
    services.batch_objects.delete_body(batch_id)
    logger.info("accepted batch written", extra={"batch_id": batch_id, "counts": final.counts.model_dump()})
    return final


def _send_of(services: AsyncIntakeServices, record: AcceptedRecord) -> _Send:
    """The send as the API took it: the same id, submitted-at and so the same version."""
    batch = record.batch
    customer_id = batch.customer_id
    assert customer_id is not None  # an accepted batch always carries its Primary Customer
    # A customer removed since: its assignments are then none of the client's (each unit "not found").
    customer = services.admin.get_customer(customer_id) or Customer.model_construct(
        customer_id=customer_id, name="(removed)", hierarchy_node_id="", timerack_client_key=batch.client_key
    )
    submitted_at = batch.submitted_at.astimezone(UTC)
    version = send_version(submitted_at.isoformat(timespec="microseconds"), batch.batch_id)
    return _Send(batch.batch_id, version, submitted_at, customer, record.preferred_weekend_bill, "timerack", False)


def sweep_accepted(services: AsyncIntakeServices, now: datetime, *, older_than: timedelta = STALE_AFTER) -> list[str]:
    """Queue again, once, the batches accepted more than `older_than` ago (within the bodies' 7 days) and still
    processing; their ids. One queued again that is still processing GIVE_UP_AFTER later is marked failed."""
    found = services.accepted_batches.stale_accepted(submitted_from=now - SWEPT_WITHIN, submitted_to=now - older_than)
    # Once per batch: one that failed its every delivery is in the dead-letter queue (alarmed), not looped.
    stale = [
        batch_id for batch_id, swept in found if swept is None and services.accepted_batches.claim_sweep(batch_id, now)
    ]
    for batch_id, swept in found:
        if swept is not None and now - swept > GIVE_UP_AFTER:
            # Its attempts never ended in the worker's own failure (killed each time): failed, so Timerack can act.
            services.accepted_batches.mark_failed(batch_id, "no attempt finished")
            logger.warning("accepted batch failed: no attempt finished", extra={"batch_id": batch_id})
    for batch_id in stale:
        services.intake_queue.send(batch_id)
    if stale:
        logger.warning("accepted batches queued again", extra={"batch_ids": stale})
    return stale
