"""The export run: client by client, each under its lock, each failure kept to its own client."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from timerack_bridge.exceptions import NotFoundError
from timerack_bridge.export.destinations import DestinationError, ExportDestination
from timerack_bridge.export.lock import ExportLock
from timerack_bridge.export.models import ClientOutcome, ExportRun
from timerack_bridge.export.payload import build_client_export, in_export_window
from timerack_bridge.models import Assignment, Customer
from timerack_bridge.store.admin import AdminStore

logger = Logger(service="timerack-bridge", child=True)

# Time kept back for reading one client's data and finishing the run (metrics, reply).
RESERVE_SECONDS = 10.0

# What one client's export may fail with; anything else is a bug and stops the run loudly.
CLIENT_FAILURES = (DestinationError, ClientError, BotoCoreError, ValidationError, ValueError)


def _window_assignments(admin_store: AdminStore, customer: Customer, today: date) -> Iterator[Assignment]:
    """The assignments of the customer and its child customers that are in the window, page by page."""
    for customer_id in sorted(admin_store.customer_tree_ids(customer.customer_id)):
        for assignment in admin_store.iter_customer_assignments(customer_id):
            if in_export_window(assignment, today):
                yield assignment


def export_client(
    admin_store: AdminStore,
    destination: ExportDestination,
    customer: Customer,
    *,
    today: date,
    now: datetime,
) -> ClientOutcome:
    """Build one client's payload and send it; raises what CLIENT_FAILURES lists."""
    assignments = list(_window_assignments(admin_store, customer, today))
    employees = admin_store.batch_get_employees(sorted({a.employee_id for a in assignments}))
    payload = build_client_export(customer, assignments, employees, today=today, generated_at=now)
    destination.send(payload)
    return ClientOutcome(
        client_key=payload.client_key,
        customer_id=customer.customer_id,
        status="exported",
        employees=len(payload.employees),
        assignments=len(payload.assignments),
        problems=payload.problems,
    )


def _clients(admin_store: AdminStore, client_key: str | None) -> Iterable[Customer]:
    if client_key is None:
        return admin_store.iter_clients()
    customer = admin_store.get_customer_by_client_key(client_key)
    if customer is None:
        raise NotFoundError(f"no Primary Customer has the Timerack Client Key {client_key}")
    return [customer]


def run_export(
    admin_store: AdminStore,
    destination: ExportDestination,
    *,
    lock: ExportLock | None = None,
    client_key: str | None = None,
    include: Callable[[Customer], bool] | None = None,
    today: date | None = None,
    progress: Callable[[ClientOutcome], None] | None = None,
    seconds_left: Callable[[], float] | None = None,
) -> ExportRun:
    """Export every client (or the one `client_key` names; NotFoundError if none has it).

    Clients are read one index page at a time and exported one at a time, so memory holds one
    client's data however many clients there are. `include` narrows the clients (the API passes
    the caller's visibility); `lock` defaults to the lock items of the admin store's table;
    `progress` is called with each client's outcome as soon as it is known. With `seconds_left`
    (the Lambda's remaining time), a client is only started while a worst-case send still fits;
    the clients after that are reported failed ("not started") rather than cut off mid-send.
    """
    lock = lock or ExportLock(admin_store.client, admin_store.table_name)
    started = datetime.now(UTC)
    today = today or started.date()
    run = ExportRun(started_at=started, destination=destination.name)
    for customer in _clients(admin_store, client_key):
        if include is not None and not include(customer):
            continue
        if seconds_left is not None and seconds_left() < destination.longest_send_seconds + RESERVE_SECONDS:
            outcome = ClientOutcome(
                client_key=customer.timerack_client_key or "",
                customer_id=customer.customer_id,
                status="failed",
                error="not started: the run ran out of time; the next run exports it",
            )
        else:
            outcome = _export_locked(admin_store, destination, lock, customer, today=today)
        run.clients.append(outcome)
        _log_outcome(outcome)
        if progress is not None:
            progress(outcome)
    run.finished_at = datetime.now(UTC)
    return run


def _export_locked(
    admin_store: AdminStore,
    destination: ExportDestination,
    lock: ExportLock,
    customer: Customer,
    *,
    today: date,
) -> ClientOutcome:
    client_key = customer.timerack_client_key or ""
    try:
        with lock.held(client_key) as taken:
            if not taken:
                return ClientOutcome(client_key=client_key, customer_id=customer.customer_id, status="skipped-locked")
            return export_client(admin_store, destination, customer, today=today, now=datetime.now(UTC))
    except CLIENT_FAILURES as exc:
        return ClientOutcome(
            client_key=client_key,
            customer_id=customer.customer_id,
            status="failed",
            error=_describe(exc),
        )


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
    else:
        logger.info("client exported", extra=fields)
