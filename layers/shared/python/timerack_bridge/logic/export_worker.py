"""The export worker: one queued client, sent under its lease; a failure is retried by the queue with backoff.

A message names a run and a Primary Customer. The worker reads the client's outcome as recorded (a
delivery of a message already done with changes nothing), reads the client as it is now, takes the
client's lease (one export of a client at a time, whichever run asked), builds the payload and sends
it, and records the outcome on the run. A failure of this client (the destination, AWS) is not the
end: the message goes back to its queue after a delay that doubles with each attempt, and the outcome
says which attempt failed and when it is tried again; the attempt on the queue's last receive that
fails is recorded failed, and the queue moves the message to its dead-letter queue. A failure that can
never succeed (Timerack refused the request itself, the token was never set, stored data that fails
validation) is final at once: recorded failed, and the message is done with (not retried, not
dead-lettered: nothing in it would change).

`attempts` counts the real export attempts, from the recorded outcome: waiting for another export's
lease is none. Only the dead-letter decision uses the queue's receive count.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Protocol

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from timerack_bridge.domain.entities import Assignment, Customer
from timerack_bridge.domain.export_models import ClientOutcome, ClientStatus, ExportMessage
from timerack_bridge.domain.export_payload import build_client_export, in_export_window
from timerack_bridge.logic.export_changes import queue_change_run
from timerack_bridge.logic.ports import (
    ClientLeases,
    Delivery,
    DestinationError,
    ExportQueue,
    ExportRuns,
    ExportSource,
    ExportTarget,
    PendingExports,
)

logger = Logger(child=True)

# What one client's export may fail with: retried by the queue (unless it is permanent, `_permanent`).
# Anything else is a bug: it fails the record loudly (the queue still retries it, after its full
# visibility timeout; on the last receive the client is recorded failed and the message dead-lettered).
CLIENT_FAILURES = (DestinationError, ClientError, BotoCoreError, ValidationError, ValueError)

# The first retry's delay; each next one doubles, up to SQS's longest delay.
FIRST_RETRY_SECONDS = 30
LONGEST_RETRY_SECONDS = 900
# A client queued once more by the worker (changes saved while it was exported) waits this long first,
# as a saved change does (the API's EXPORT_CHANGE_DELAY_SECONDS default): the saves of a burst go with it.
CHANGE_DELAY_SECONDS = 10
# Outcomes that end a message: a later delivery of it is a duplicate. A failed one may be redriven.
DONE: frozenset[ClientStatus] = frozenset({"exported", "skipped-locked", "skipped-not-primary", "skipped-not-client"})

LOCKED = "another export of this client was running"
NOT_PRIMARY = (
    "not exported: a child customer holds this Timerack Client Key; its assignments are exported with its "
    "Primary Customer's client. Move the key to the Primary Customer."
)
NOT_CLIENT = "not exported: the customer no longer exists or no longer has a Timerack Client Key"
DEAD_LETTERED = "moved to the dead-letter queue"
NOT_RETRIED = (
    "not retried: it cannot succeed as things stand; fix the cause, then the next hourly run or Update From "
    "TempWorks sends the client"
)


class WorkerSource(ExportSource, Protocol):
    def get_customer(self, customer_id: int, *, consistent: bool = False) -> Customer | None: ...


class WorkerRuns(ExportRuns, Protocol):
    def outcome(self, run_id: str, customer_id: int) -> ClientOutcome | None:
        """The client's outcome as recorded now (a consistent read)."""


class PendingUpdates(PendingExports, Protocol):
    """The worker's side of the debounce (adapters/dynamodb/export_pending.py)."""

    def begin(self, customer_id: int) -> None:
        """The pending update is being exported: a change saved from now on marks it dirty."""

    def end(self, customer_id: int) -> bool:
        """Done: True when nothing was saved since `begin`; False when something was (queue one more)."""


class RetryLater(Exception):
    """The message was handed back to its queue (`seconds` from now): report its record failed, so the
    event source neither deletes it nor counts it done. `outcome` is what the run now says of the client."""

    def __init__(self, outcome: ClientOutcome, seconds: int) -> None:
        super().__init__(outcome.error or f"tried again in {seconds} s")
        self.outcome = outcome
        self.seconds = seconds


class AlreadySettled(Exception):
    """A delivery of a message already done with (SQS delivers at least once): nothing was done, the
    record is done with too. `outcome` is the client's outcome as recorded."""

    def __init__(self, outcome: ClientOutcome) -> None:
        super().__init__(f"the client's outcome is already {outcome.status}")
        self.outcome = outcome


def retry_delay(attempt: int) -> int:
    """The delay after failed attempt `attempt` (1 for the first): 30 s, 60 s, 120 s, ... at most 900 s."""
    return min(FIRST_RETRY_SECONDS * 2 ** min(attempt - 1, 10), LONGEST_RETRY_SECONDS)


def retry_window_seconds(max_receives: int, visibility_timeout_seconds: int) -> int:
    """The longest a queued client's outcome may go unchanged while its message is still alive: every
    backoff, and each receive (and the one that dead-letters it) lasting its whole visibility timeout."""
    backoffs = sum(retry_delay(attempt) for attempt in range(1, max_receives))
    return backoffs + (max_receives + 1) * visibility_timeout_seconds


def _window_assignments(admin_store: ExportSource, customer: Customer, today: date) -> Iterator[Assignment]:
    """The assignments of the customer and its child customers that are in the window, page by page.

    One Query per customer of the tree: a customer's index partition holds its assignments and its
    child customers together, so a client without child customers costs one Query (and its pages).
    """
    pending, seen = [customer.customer_id], {customer.customer_id}
    while pending:
        for entry in admin_store.iter_customer_contents(pending.pop()):
            if isinstance(entry, Customer):
                if entry.customer_id not in seen:
                    seen.add(entry.customer_id)
                    pending.append(entry.customer_id)
            elif in_export_window(entry, today):
                yield entry


def export_client(
    admin_store: ExportSource,
    destination: ExportTarget,
    customer: Customer,
    *,
    today: date,
    now: datetime | None = None,
) -> ClientOutcome:
    """Build one client's payload and send it; raises what CLIENT_FAILURES lists."""
    now = now or datetime.now(UTC)
    assignments = list(_window_assignments(admin_store, customer, today))
    employees = admin_store.batch_get_employees(sorted({a.employee_id for a in assignments}))
    payload = build_client_export(customer, assignments, employees, today=today, generated_at=now)
    destination.send(payload)
    return ClientOutcome(
        client_key=payload.client_key,
        customer_id=customer.customer_id,
        hierarchy_node_id=customer.hierarchy_node_id,
        status="exported",
        employees=len(payload.employees),
        assignments=len(payload.assignments),
        problems=payload.problems,
    )


def handle_delivery(
    delivery: Delivery,
    *,
    source: WorkerSource,
    destination: ExportTarget,
    leases: ClientLeases,
    runs: WorkerRuns,
    queue: ExportQueue,
    pending: PendingUpdates,
    max_receives: int,
    today: date | None = None,
    change_delay_seconds: int = CHANGE_DELAY_SECONDS,
) -> ClientOutcome:
    """Export the message's client and record its outcome on the run; the outcome.

    Raises RetryLater (after recording the outcome and handing the message back to its queue) when the
    client is to be tried again, or when its last attempt failed (the queue then dead-letters it);
    AlreadySettled when the message was done with before. The day exported as is today (UTC, or
    `today`), never earlier than the message's `asOf`: a message retried or redriven days later sends
    today's window.
    """
    message = delivery.message
    recorded = runs.outcome(message.run_id, message.customer_id)
    if recorded is not None and recorded.status in DONE:
        raise AlreadySettled(recorded)
    day = today or datetime.now(UTC).date()
    work = _Work(delivery, recorded.attempts if recorded else 0, max_receives, max(message.as_of or day, day))
    customer: Customer | None = None
    try:
        if message.change:
            pending.begin(message.customer_id)  # before the client's data is read
        customer = source.get_customer(message.customer_id, consistent=True)
        outcome = work.attempt(customer, source, destination, leases, queue)
    except CLIENT_FAILURES as exc:
        outcome = work.failure(customer, exc)
    except Exception as exc:
        work.record_unexpected(runs, queue, customer, exc)
        raise
    work.record(runs, queue, outcome)
    _log_outcome(outcome, delivery)
    if message.change and outcome.status != "queued":
        _finish_change(message.customer_id, customer, pending, runs, queue, destination.name, change_delay_seconds)
    return work.return_or_retry(queue, outcome)


class _Work:
    """One delivery's work: its attempts so far (from the recorded outcome), its receive, its day."""

    def __init__(self, delivery: Delivery, attempts: int, max_receives: int, day: date) -> None:
        self.delivery = delivery
        self.message: ExportMessage = delivery.message
        self.attempts = attempts  # real export attempts before this delivery
        self.max_receives = max_receives
        self.last = delivery.receive_count >= max_receives
        self.day = day

    def outcome(
        self, customer: Customer | None, status: ClientStatus, error: str | None, *, tried: bool
    ) -> ClientOutcome:
        """An outcome of this delivery; `tried`: an export was attempted (it counts)."""
        return _outcome(self.message.customer_id, customer, status, error).model_copy(
            update={"attempts": self.attempts + (1 if tried else 0)}
        )

    def attempt(
        self,
        customer: Customer | None,
        source: ExportSource,
        destination: ExportTarget,
        leases: ClientLeases,
        queue: ExportQueue,
    ) -> ClientOutcome:
        """One attempt: the client as it is now, sent under its lease (or why it was not)."""
        if customer is None or not customer.timerack_client_key:
            return self.outcome(customer, "skipped-not-client", NOT_CLIENT, tried=False)
        if customer.parent_customer_id is not None:
            return self.outcome(customer, "skipped-not-primary", NOT_PRIMARY, tried=False)
        with leases.held(customer.customer_id) as taken:
            if taken:
                exported = export_client(source, destination, customer, today=self.day)
                return exported.model_copy(update={"attempts": self.attempts + 1})
        # Another worker is sending this client right now. A change may hold data that send does not
        # have: it waits (no attempt), never given up. Any other message is done: the client is being
        # sent as of now.
        if self.message.change:
            return self._wait_for_lease(customer, queue)
        return self.outcome(customer, "skipped-locked", LOCKED, tried=False)

    def _wait_for_lease(self, customer: Customer, queue: ExportQueue) -> ClientOutcome:
        """A change waits longer at each receive (30 s, 60 s, ...: more than a lease lasts by the last
        one); on the queue's last receive it goes on as a new message instead of to the dead-letter queue."""
        seconds = retry_delay(self.delivery.receive_count)
        waiting = self.outcome(customer, "queued", f"{LOCKED}; tried again in {seconds} s", tried=False)
        if not self.last:
            return waiting
        try:
            refused = queue.send([self.message], lane="priority", delay_seconds=seconds)
        except Exception as exc:  # noqa: BLE001 - the message then goes to the dead-letter queue, recorded so
            refused, reason = [self.message], type(exc).__name__
        else:
            reason = "the export queue refused it"
        if not refused:
            return waiting
        error = f"{LOCKED} at each of its {self.delivery.receive_count} receives and it could not be queued again "
        return self.outcome(customer, "failed", error + f"({reason}); {DEAD_LETTERED}", tried=False)

    def failure(self, customer: Customer | None, exc: BaseException) -> ClientOutcome:
        """A failed attempt: final at once if it cannot succeed; else queued again with its backoff, or
        failed for good on the last receive."""
        reason, attempt = _describe(exc), self.attempts + 1
        if _permanent(exc):
            return self.outcome(customer, "failed", f"{reason}; {NOT_RETRIED}", tried=True)
        if not self.last:
            total = attempt + self.max_receives - self.delivery.receive_count
            error = f"attempt {attempt} of {total} failed: {reason}; tried again in {retry_delay(attempt)} s"
            return self.outcome(customer, "queued", error, tried=True)
        error = f"{reason}; {DEAD_LETTERED} after {attempt} attempts"
        return self.outcome(customer, "failed", error, tried=True)

    def record(self, runs: ExportRuns, queue: ExportQueue, outcome: ClientOutcome) -> None:
        """Settle the outcome on the run. On the last receive a settle that fails is tried once more, and
        if that fails too the message is handed back at once all the same, so the queue dead-letters it
        (the hourly sweep then records the client failed)."""
        try:
            runs.settle(self.message.run_id, outcome)
            return
        except Exception as exc:
            if not self.last:
                raise
            logger.warning("outcome not recorded: tried once more", extra={"error": type(exc).__name__})
        try:
            runs.settle(self.message.run_id, outcome)
        except Exception:
            queue.retry_later(self.delivery, 0)
            raise

    def record_unexpected(
        self, runs: ExportRuns, queue: ExportQueue, customer: Customer | None, exc: Exception
    ) -> None:
        """A bug (not a client failure) on the last receive: the client recorded failed if at all possible,
        the message handed back at once so the queue dead-letters it. Before that, the queue retries it."""
        if not self.last:
            return
        error = f"the export worker failed ({type(exc).__name__}); {DEAD_LETTERED}"
        try:
            runs.settle(self.message.run_id, self.outcome(customer, "failed", error, tried=True))
        except Exception as unrecorded:  # noqa: BLE001 - the sweep records it later; the message still goes
            logger.warning("outcome not recorded", extra={"error": type(unrecorded).__name__})
        queue.retry_later(self.delivery, 0)

    def return_or_retry(self, queue: ExportQueue, outcome: ClientOutcome) -> ClientOutcome:
        """The outcome when the message is done with; RetryLater once it is handed back to its queue."""
        if outcome.status == "queued" and not (self.last and _locked(outcome)):
            seconds = retry_delay(self.delivery.receive_count if _locked(outcome) else outcome.attempts)
            queue.retry_later(self.delivery, seconds)
            raise RetryLater(outcome, seconds)
        if outcome.status == "failed" and DEAD_LETTERED in (outcome.error or ""):
            queue.retry_later(self.delivery, 0)  # seen again at once: the queue moves it to the dead-letter queue
            raise RetryLater(outcome, 0)
        return outcome


def _finish_change(
    customer_id: int,
    customer: Customer | None,
    pending: PendingUpdates,
    runs: ExportRuns,
    queue: ExportQueue,
    destination: str,
    delay_seconds: int,
) -> None:
    """The change's update is done: its pending marker goes, or, when changes were saved while it was
    exported, the client is queued once more (one message), so the last change saved always goes out.
    A customer that is no client any more is not queued: its marker goes, the next save that makes it one
    queues it."""
    try:
        if pending.end(customer_id):
            return
        queued = (
            customer is not None
            and customer.parent_customer_id is None
            and bool(customer.timerack_client_key)
            and queue_change_run(customer, runs=runs, queue=queue, destination=destination, delay_seconds=delay_seconds)
            is not None
        )
        if not queued:
            pending.release(customer_id)
    except Exception as exc:  # noqa: BLE001 - the export is done; the marker expires on its own
        logger.warning(
            "the pending update of a changed client could not be ended",
            extra={"customer_id": customer_id, "error": type(exc).__name__},
        )


def _permanent(exc: BaseException) -> bool:
    """A failure that trying again cannot mend: the destination says so, or stored data fails validation."""
    return bool(getattr(exc, "permanent", False)) or isinstance(exc, ValidationError)


def _locked(outcome: ClientOutcome) -> bool:
    return (outcome.error or "").startswith(LOCKED)


def _outcome(
    customer_id: int, customer: Customer | None, status: ClientStatus, error: str | None = None
) -> ClientOutcome:
    """An outcome without an export; with no customer, the run keeps the key and node it recorded."""
    return ClientOutcome(
        client_key=(customer.timerack_client_key or "") if customer else "",
        customer_id=customer_id,
        hierarchy_node_id=customer.hierarchy_node_id if customer else None,
        status=status,
        error=error,
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"AWS error {error.get('Code', 'unknown')} ({exc.operation_name})"
    if isinstance(exc, ValidationError):
        # The pydantic message would echo stored values; the locations are enough to find the record.
        return f"stored data failed validation at {', '.join(str(e['loc']) for e in exc.errors())}"
    return str(exc) or type(exc).__name__


def _log_outcome(outcome: ClientOutcome, delivery: Delivery) -> None:
    # Counts, ids and problem types only: a PIN or SSN digit never reaches a log line.
    fields = {
        "run_id": delivery.message.run_id,
        "trigger": delivery.message.trigger,
        "client_key": outcome.client_key,
        "customer_id": outcome.customer_id,
        "status": outcome.status,
        "attempt": outcome.attempts,
        "receive": delivery.receive_count,
        "employees": outcome.employees,
        "assignments": outcome.assignments,
        "problems": len(outcome.problems),
        "problem_types": sorted({p.type for p in outcome.problems}),
    }
    if outcome.status == "exported":
        logger.info("client exported", extra=fields)
    elif outcome.status == "failed" or (outcome.status == "queued" and not _locked(outcome)):
        logger.error("client export failed", extra={**fields, "error": outcome.error})
    else:
        logger.warning(f"client export {outcome.status}", extra={**fields, "error": outcome.error})
