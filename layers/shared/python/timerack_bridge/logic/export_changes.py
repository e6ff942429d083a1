"""Change-driven exports: a saved employee, assignment or customer queues the clients it changes.

Which clients: the Primary Customers with a Timerack Client Key whose export would now read
differently, found by Query and GetItem only (never a Scan):

- an employee (PIN override, SSN, birth date, names): its assignments (one Query of the employee's
  index partition) that the export sends today, their customers, up to each one's Primary Customer;
- an assignment (status, dates, customer, employee, job title): the client of its customer before
  the save if the export sent it then, and the client of its customer after if it sends it now (a
  move between clients updates both);
- a customer (Client Key, parent; a client's name): itself if it is a client, and the client of its
  parent before and after a move (a customer moved under another client takes its assignments along).

A save that changes nothing the export sends queues nothing. Each client is queued once per burst of
saves: its pending marker (`PendingExports.claim`) is taken by the first, and the message waits on
the priority lane for `delay_seconds` so the saves that follow go with it (they mark the marker
dirty); a change saved while the worker exports the client marks it dirty too, and the worker queues
the client once more when done (`queue_change_run`), so the last change always goes out. Each queued
update is a one-client run (trigger "change") that `GET /v1/exports/{runId}` shows like any other.

Queuing never fails the save that asked for it: the data is stored, and the hourly run sends it. A
failure is logged (customer id and run id, never a PIN or an SSN) and counted (metric NOT_QUEUED_METRIC).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Protocol

from aws_lambda_powertools import Logger

from timerack_bridge.domain.entities import Assignment, Customer, Employee
from timerack_bridge.domain.export_models import ClientOutcome, ExportMessage, ExportRun, RunTrigger
from timerack_bridge.domain.export_payload import in_export_window
from timerack_bridge.logic.ports import ChangeSource, ExportQueue, ExportRuns, PendingExports

logger = Logger(child=True)

CHANGE: RunTrigger = "change"
NOT_QUEUED_METRIC = "exportChangesNotQueued"

# What the export sends of each record (domain/export_payload.py): a save that changes none of these
# changes no client's export. The employee's node is not sent; its SSN and birth date make its PIN.
EMPLOYEE_SENDS = ("first_name", "last_name", "birth_date", "ssn_last4", "pin_override")
ASSIGNMENT_SENDS = ("employee_id", "customer_id", "status", "start_date", "end_date", "job_title")
CUSTOMER_DECIDES = ("timerack_client_key", "parent_customer_id")


def _changed(before: object | None, after: object, fields: Iterable[str]) -> bool:
    return before is None or any(getattr(before, name) != getattr(after, name) for name in fields)


def is_client(customer: Customer) -> bool:
    """A Primary Customer (no parent) with a Timerack Client Key: what the export sends to."""
    return customer.parent_customer_id is None and bool(customer.timerack_client_key)


class _Clients:
    """The client of a customer: walk up its parents (GetItem each, each customer read once)."""

    def __init__(self, source: ChangeSource) -> None:
        self.source = source
        self.read: dict[int, Customer | None] = {}
        self.found: dict[int, Customer] = {}

    def customer(self, customer_id: int) -> Customer | None:
        if customer_id not in self.read:
            self.read[customer_id] = self.source.get_customer(customer_id)
        return self.read[customer_id]

    def add_client_of(self, customer_id: int | None) -> None:
        """Adds the Primary Customer above `customer_id` (or itself) when it is a client."""
        seen: set[int] = set()
        current = self.customer(customer_id) if customer_id is not None else None
        while current is not None and current.parent_customer_id is not None:
            if current.customer_id in seen:
                return  # a loop stored before the checks: no Primary Customer to find
            seen.add(current.customer_id)
            current = self.customer(current.parent_customer_id)
        if current is not None and is_client(current):
            self.found[current.customer_id] = current

    def clients(self) -> list[Customer]:
        return [self.found[customer_id] for customer_id in sorted(self.found)]


def _today(today: date | None) -> date:
    return today or datetime.now(UTC).date()


def clients_of_employee(
    source: ChangeSource, before: Employee | None, after: Employee, *, today: date | None = None
) -> list[Customer]:
    """The clients whose export sends this employee today, when the save changes what it sends of them."""
    if not _changed(before, after, EMPLOYEE_SENDS):
        return []
    day, clients = _today(today), _Clients(source)
    customers = {a.customer_id for a in source.employee_assignments(after.employee_id) if in_export_window(a, day)}
    for customer_id in sorted(customers):
        clients.add_client_of(customer_id)
    return clients.clients()


def clients_of_assignment(
    source: ChangeSource, before: Assignment | None, after: Assignment, *, today: date | None = None
) -> list[Customer]:
    """The client the export sent the assignment to before the save, and the one it sends it to now."""
    if not _changed(before, after, ASSIGNMENT_SENDS):
        return []
    day, clients = _today(today), _Clients(source)
    for side in (before, after):
        if side is not None and in_export_window(side, day):
            clients.add_client_of(side.customer_id)
    return clients.clients()


def clients_of_customer(source: ChangeSource, before: Customer | None, after: Customer) -> list[Customer]:
    """The customer if it is a client now, and the clients above it before and after the save."""
    renamed_client = before is not None and before.name != after.name and is_client(after)
    if not (_changed(before, after, CUSTOMER_DECIDES) or renamed_client):
        return []
    clients = _Clients(source)
    clients.read[after.customer_id] = after  # as saved, whatever a read of the index would still say
    if is_client(after):
        clients.found[after.customer_id] = after
    # A new customer has no assignments or child customers yet (their PUTs name a customer that exists).
    if before is not None and before.parent_customer_id != after.parent_customer_id:
        clients.add_client_of(before.parent_customer_id)
        clients.add_client_of(after.parent_customer_id)
    return clients.clients()


class ChangeSettings(Protocol):
    @property
    def export_destination(self) -> str: ...
    @property
    def export_change_delay_seconds(self) -> int: ...


class ChangeServices(Protocol):
    """What queues the update of a changed client (the API's services; the queue is built on first use)."""

    @property
    def admin(self) -> ChangeSource: ...
    @property
    def pending_exports(self) -> PendingExports: ...
    @property
    def export_runs(self) -> ExportRuns: ...
    @property
    def export_queue(self) -> ExportQueue: ...
    @property
    def settings(self) -> ChangeSettings: ...


def employee_saved(services: ChangeServices, before: Employee | None, after: Employee) -> list[ExportMessage]:
    """After an employee's save: queue the clients it changes (never raises); the messages queued."""
    return _after_save(services, lambda: clients_of_employee(services.admin, before, after), "employee")


def assignment_saved(services: ChangeServices, before: Assignment | None, after: Assignment) -> list[ExportMessage]:
    """After an assignment's save: queue the clients it changes (never raises); the messages queued."""
    return _after_save(services, lambda: clients_of_assignment(services.admin, before, after), "assignment")


def customer_saved(services: ChangeServices, before: Customer | None, after: Customer) -> list[ExportMessage]:
    """After a customer's save: queue the clients it changes (never raises); the messages queued."""
    return _after_save(services, lambda: clients_of_customer(services.admin, before, after), "customer")


def _after_save(services: ChangeServices, affected: Callable[[], list[Customer]], record: str) -> list[ExportMessage]:
    try:
        clients = affected()
    except Exception as exc:  # noqa: BLE001 - the record is saved; the hourly run sends it
        # The exception's type only: its message or traceback may quote the saved record (a PIN, an SSN).
        fields = {"record": record, "error": type(exc).__name__}
        logger.error("the clients a saved change affects could not be read", extra=fields)
        count_not_queued()
        return []
    if not clients:
        return []
    settings = services.settings
    return queue_client_updates(
        clients,
        pending=services.pending_exports,
        runs=services.export_runs,
        queue=services.export_queue,
        destination=settings.export_destination,
        delay_seconds=settings.export_change_delay_seconds,
    )


def queue_client_updates(
    clients: Sequence[Customer],
    *,
    pending: PendingExports,
    runs: ExportRuns,
    queue: ExportQueue,
    destination: str,
    delay_seconds: int,
    now: datetime | None = None,
) -> list[ExportMessage]:
    """Queue one update of each client unless one is pending already; the messages queued.

    Never raises: a client that could not be queued is logged and counted, and the others still go.
    """
    queued: list[ExportMessage] = []
    for customer in clients:
        try:
            if not pending.claim(customer.customer_id):
                # An update is pending (its marker now dirty): it reads the client's data when it runs, this
                # change too; or it is being exported, and the worker queues the client once more when done.
                continue
        except Exception as exc:  # noqa: BLE001 - the record is saved; the hourly run sends it
            fields = {"customer_id": customer.customer_id, "error": type(exc).__name__}
            logger.error("a pending marker could not be taken", extra=fields)
            _not_queued(customer, None, "its pending marker could not be taken")
            continue
        message = queue_change_run(
            customer, runs=runs, queue=queue, destination=destination, delay_seconds=delay_seconds, now=now
        )
        if message is None:
            _release(pending, customer)
        else:
            queued.append(message)
    return queued


def queue_change_run(
    customer: Customer,
    *,
    runs: ExportRuns,
    queue: ExportQueue,
    destination: str,
    delay_seconds: int,
    now: datetime | None = None,
) -> ExportMessage | None:
    """A one-client run (trigger "change"), recorded queued, then its message on the priority lane,
    `delay_seconds` from now; None when it could not be queued (logged, counted, the run says why).
    The caller holds the client's pending marker (and lets it go when this fails)."""
    run = ExportRun(started_at=now or datetime.now(UTC), destination=destination, trigger=CHANGE)
    outcome = ClientOutcome(
        client_key=customer.timerack_client_key or "",
        customer_id=customer.customer_id,
        hierarchy_node_id=customer.hierarchy_node_id,
        status="queued",
    )
    message = ExportMessage(run_id=run.run_id, customer_id=customer.customer_id, trigger=CHANGE, change=True)
    try:
        runs.start(run)
        runs.add_outcomes(run.run_id, [outcome])
        runs.dispatched(run.run_id)
        refused = queue.send([message], lane="priority", delay_seconds=delay_seconds)
    except Exception as exc:  # noqa: BLE001 - the record is saved; the hourly run sends it
        fields = {"run_id": run.run_id, "error": type(exc).__name__}
        logger.error("a change's export could not be recorded or queued", extra=fields)
        reason = "the export queue or the run record could not be reached"
    else:
        if not refused:
            return message
        reason = "the export queue refused the message"
    _not_queued(customer, run.run_id, reason)
    failed = outcome.model_copy(update={"status": "failed", "error": f"could not be queued: {reason}"})
    try:
        runs.settle(run.run_id, failed)
    except Exception:  # noqa: BLE001 - the run may not even be recorded; the log and the metric say it
        logger.warning("the run of a change not queued could not be marked failed", extra={"run_id": run.run_id})
    return None


def _release(pending: PendingExports, customer: Customer) -> None:
    """Let the marker go, so the next save tries again (if this fails too, the marker expires)."""
    try:
        pending.release(customer.customer_id)
    except Exception:  # noqa: BLE001 - it expires on its own after a few minutes
        logger.warning("a pending marker could not be released", extra={"customer_id": customer.customer_id})


def _not_queued(customer: Customer, run_id: str | None, reason: str) -> None:
    logger.error(
        "a saved change's client was not queued for export; the hourly run sends it",
        extra={"customer_id": customer.customer_id, "run_id": run_id, "reason": reason},
    )
    count_not_queued()


def count_not_queued() -> None:
    """One EMF metric, written at once (the API function publishes no metrics of its own at the end)."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "TimerackBridge"
    try:
        with single_metric(name=NOT_QUEUED_METRIC, unit=MetricUnit.Count, value=1, namespace=namespace):
            pass
    except Exception:  # noqa: BLE001 - a metric is never worth failing a save
        logger.warning("the metric of a change not queued could not be written")
