"""The export run: client by client under one lease for the run (or one per client); failures kept to their client."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from timerack_bridge.domain.entities import Assignment, Customer
from timerack_bridge.domain.export_models import ClientOutcome, ClientStatus, ExportRun, RunTrigger
from timerack_bridge.domain.export_payload import build_client_export, in_export_window
from timerack_bridge.exceptions import NotFoundError
from timerack_bridge.logic.ports import (
    DestinationError,
    ExportLeases,
    ExportRuns,
    ExportSource,
    ExportTarget,
    RunLease,
)

logger = Logger(service="timerack-bridge", child=True)

# Time kept back for reading one client's data and finishing the run (metrics, reply).
RESERVE_SECONDS = 10.0

# Outcomes are recorded in groups of this size (one BatchWriteItem each), so memory and retries stay small.
OUTCOMES_PER_WRITE = 25

# What one client's export may fail with; anything else is a bug and stops the run loudly.
CLIENT_FAILURES = (DestinationError, ClientError, BotoCoreError, ValidationError, ValueError)


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


def _clients(admin_store: ExportSource, client_key: str | None) -> Iterable[Customer]:
    if client_key is None:
        return admin_store.iter_clients()
    customer = admin_store.get_customer_by_client_key(client_key)
    if customer is None:
        raise NotFoundError(f"no Primary Customer has the Timerack Client Key {client_key}")
    return [customer]


def run_export(
    admin_store: ExportSource,
    destination: ExportTarget,
    *,
    lock: ExportLeases | None = None,
    client_key: str | None = None,
    include: Callable[[Customer], bool] | None = None,
    today: date | None = None,
    progress: Callable[[ClientOutcome], None] | None = None,
    seconds_left: Callable[[], float] | None = None,
    runs: ExportRuns | None = None,
    trigger: RunTrigger = "invoke",
) -> ExportRun:
    """Export every client (or the one `client_key` names; NotFoundError if none has it).

    Clients are read one index page at a time and exported one at a time, so memory holds one
    client's data however many clients there are. `include` narrows the clients (the API passes
    the caller's visibility); `lock` defaults to the lease items of the admin store's table (a run
    of every client holds one lease, a narrower run one per client: see `export_lease`);
    `progress` is called with each client's outcome as soon as it is known. With `seconds_left`
    (the Lambda's remaining time), a client is only started while a worst-case send still fits;
    the clients after that are reported failed ("not started") rather than cut off mid-send.
    With `runs`, the run and each client's outcome are recorded under the run's id, as `trigger`.
    """
    started = datetime.now(UTC)
    exporter = _Exporter(
        admin_store,
        destination,
        lock or admin_store.export_leases(),
        ExportRun(started_at=started, destination=destination.name, trigger=trigger),
        today=today or started.date(),
        progress=progress,
        seconds_left=seconds_left,
        runs=runs,
    )
    clients = _clients(admin_store, client_key)  # an unknown client key is refused before a run is recorded
    if runs is not None:
        runs.start(exporter.result)
    customers = exporter.primary_customers(clients, include)
    if client_key is None and include is None:
        exporter.export_under_run_lease(customers)
    else:
        exporter.export_under_client_leases(customers)
    exporter.finish()
    return exporter.result


class _Exporter:
    """One export run: its clients' outcomes, recorded as they come."""

    def __init__(
        self,
        admin_store: ExportSource,
        destination: ExportTarget,
        lock: ExportLeases,
        result: ExportRun,
        *,
        today: date,
        progress: Callable[[ClientOutcome], None] | None,
        seconds_left: Callable[[], float] | None,
        runs: ExportRuns | None = None,
    ) -> None:
        self.admin_store, self.destination, self.lock, self.result = admin_store, destination, lock, result
        self.today, self.progress, self.seconds_left = today, progress, seconds_left
        self.needed = destination.longest_send_seconds + RESERVE_SECONDS
        self.runs, self.unrecorded = runs, list[ClientOutcome]()

    def record(self, outcome: ClientOutcome) -> None:
        self.result.clients.append(outcome)
        _log_outcome(outcome)
        if self.progress is not None:
            self.progress(outcome)
        if self.runs is not None:
            self.unrecorded.append(outcome)
            if len(self.unrecorded) >= OUTCOMES_PER_WRITE:
                self._write_outcomes()

    def _write_outcomes(self) -> None:
        if self.runs is not None and self.unrecorded:
            self.runs.add_outcomes(self.result.run_id, self.unrecorded)
            self.unrecorded = []

    def finish(self) -> None:
        """The run's end: its last outcomes, then the run with its counts."""
        self.result.finished_at = datetime.now(UTC)
        self._write_outcomes()
        if self.runs is not None:
            self.runs.finish(self.result)

    def out_of_time(self) -> bool:
        return self.seconds_left is not None and self.seconds_left() < self.needed

    def primary_customers(
        self, clients: Iterable[Customer], include: Callable[[Customer], bool] | None
    ) -> Iterator[Customer]:
        """The clients to export; a child customer still holding a key (stored before that was refused) is skipped."""
        for customer in clients:
            if include is not None and not include(customer):
                continue
            if customer.parent_customer_id is None:
                yield customer
            else:
                self.record(_outcome(customer, "skipped-not-primary", NOT_PRIMARY))

    def export_under_run_lease(self, customers: Iterator[Customer]) -> None:
        """A run of every client: one lease for the run, clients that a narrower run holds skipped."""
        with self.lock.run_held() as lease:
            if lease is None:
                for customer in customers:
                    self.record(_outcome(customer, "skipped-locked", "another run is exporting every client"))
                return
            leased = self.lock.leased_clients()
            lost = False
            for customer in customers:
                if self.out_of_time():
                    self.record(_outcome(customer, "failed", NOT_STARTED_TIME))
                elif customer.customer_id in leased:
                    self.record(_outcome(customer, "skipped-locked", "another run is exporting this client"))
                elif lost:
                    self.record(_outcome(customer, "failed", NOT_STARTED_LEASE))
                else:
                    lost = self._export_while_leased(lease, customer)

    def _export_while_leased(self, lease: RunLease, customer: Customer) -> bool:
        """Export the client if the run's lease still covers it; True once the lease is lost."""
        check = _lease_check(self.lock, lease, self.needed, customer)
        if check.failure is not None:
            self.record(check.failure)  # the lease could not be checked (DynamoDB refused): this client only
        elif check.covered:
            export = partial(export_client, self.admin_store, self.destination, customer, today=self.today)
            self.record(_guarded(customer, export))
        else:
            # Another run holds every client now: start none of the rest.
            self.record(_outcome(customer, "failed", NOT_STARTED_LEASE))
            return True
        return False

    def export_under_client_leases(self, customers: Iterator[Customer]) -> None:
        """A run of some clients: one lease per client."""
        for customer in customers:
            if self.out_of_time():
                self.record(_outcome(customer, "failed", NOT_STARTED_TIME))
            else:
                self.record(_export_locked(self.admin_store, self.destination, self.lock, customer, today=self.today))


NOT_STARTED_TIME = "not started: the run ran out of time; the next run exports it"
NOT_STARTED_LEASE = "not started: the run lost its export lease to another run; the next run exports it"
NOT_PRIMARY = (
    "not exported: a child customer holds this Timerack Client Key; its assignments are exported with its "
    "Primary Customer's client. Move the key to the Primary Customer."
)


def _outcome(customer: Customer, status: ClientStatus, error: str | None = None) -> ClientOutcome:
    return ClientOutcome(
        client_key=customer.timerack_client_key or "",
        customer_id=customer.customer_id,
        hierarchy_node_id=customer.hierarchy_node_id,
        status=status,
        error=error,
    )


def _guarded(customer: Customer, export: Callable[[], ClientOutcome]) -> ClientOutcome:
    """The client's outcome; a failure it may have (CLIENT_FAILURES) is kept to it."""
    try:
        return export()
    except CLIENT_FAILURES as exc:
        return _outcome(customer, "failed", _describe(exc))


@dataclass(frozen=True)
class _LeaseCheck:
    """Whether the run's lease covers one more client, or why that could not be checked."""

    covered: bool
    failure: ClientOutcome | None = None


def _lease_check(lock: ExportLeases, lease: RunLease, needed: float, customer: Customer) -> _LeaseCheck:
    """Covered while the run's lease holds for one more client (renewed if need be), not once lost."""
    try:
        return _LeaseCheck(covered=lock.ensure_run(lease, needed))
    except CLIENT_FAILURES as exc:
        return _LeaseCheck(covered=False, failure=_outcome(customer, "failed", _describe(exc)))


def _export_locked(
    admin_store: ExportSource,
    destination: ExportTarget,
    lock: ExportLeases,
    customer: Customer,
    *,
    today: date,
) -> ClientOutcome:
    def export() -> ClientOutcome:
        with lock.held(customer.customer_id) as taken:
            if not taken:
                return _outcome(customer, "skipped-locked", "another run is exporting this client")
            return export_client(admin_store, destination, customer, today=today)

    return _guarded(customer, export)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"AWS error {error.get('Code', 'unknown')} ({exc.operation_name})"
    if isinstance(exc, ValidationError):
        # The pydantic message would echo stored values; the locations are enough to find the record.
        return f"stored data failed validation at {', '.join(str(e['loc']) for e in exc.errors())}"
    return str(exc) or type(exc).__name__


def _log_outcome(outcome: ClientOutcome) -> None:
    # Counts, ids and problem types only: a PIN or SSN digit never reaches a log line.
    fields = {
        "client_key": outcome.client_key,
        "customer_id": outcome.customer_id,
        "status": outcome.status,
        "employees": outcome.employees,
        "assignments": outcome.assignments,
        "problems": len(outcome.problems),
        "problem_types": sorted({p.type for p in outcome.problems}),
    }
    if outcome.status == "failed":
        logger.error("client export failed", extra={**fields, "error": outcome.error})
    elif outcome.status == "skipped-locked":
        logger.warning("client export skipped: another run holds its lock", extra=fields)
    elif outcome.status == "skipped-not-primary":
        logger.warning("client export skipped: a child customer holds the key", extra=fields)
    else:
        logger.info("client exported", extra=fields)
