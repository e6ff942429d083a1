"""The export dispatcher: a run's clients put on the export queue, one message each; it never sends one.

The clients are read page by page and handled a hundred at a time: their outcomes are recorded
("queued", or skipped at once) before their messages go, so a worker never settles a client the run
has not recorded; then the messages go out ten to a SendMessageBatch. Memory holds a hundred clients
however many there are, and the run costs a few DynamoDB calls per hundred clients.

A dispatch that fails part way (the run record or the queue failing for good) still ends its run: the
clients it did not queue are recorded failed with the reason, and the run is marked dispatched, so it
never stays "queuing". The hourly dispatcher first sweeps the runs of the last day for clients whose
export was lost (`settle_lost_exports`): still queued, with no news for longer than every retry takes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from typing import Protocol

from aws_lambda_powertools import Logger

from timerack_bridge.domain.entities import Customer
from timerack_bridge.domain.export_models import (
    NO_NODE,
    ClientOutcome,
    DispatchRequest,
    ExportMessage,
    ExportRun,
    ExportRunRecord,
    ExportRunSummary,
    RunCounts,
    RunTrigger,
)
from timerack_bridge.exceptions import NotFoundError
from timerack_bridge.logic.export_worker import NOT_PRIMARY
from timerack_bridge.logic.ports import ExportQueue, ExportRuns, ExportSource, Lane

logger = Logger(child=True)

# Clients recorded and queued together: one UpdateItem of the run's counts, four BatchWriteItems of
# outcomes, ten SendMessageBatch calls.
CLIENTS_PER_CHUNK = 100

REFUSED = "could not be queued: the export queue refused the message or could not be reached; the next run exports it"
# How far back the sweep of lost exports looks, and at most how many runs (newest first) it reads.
SWEEP_LOOK_BACK = timedelta(days=1)
SWEEP_MAX_RUNS = 500


class QueueUnavailable(Exception):
    """The export queue took none of a full chunk's messages: the dispatch stops rather than fail the
    rest one by one (they are recorded failed all at once)."""


class LostExports(ExportRuns, Protocol):
    """The run records as the sweep of lost exports reads them (adapters/dynamodb/export_runs.py)."""

    def runs_started_between(self, earliest: datetime, latest: datetime, *, limit: int) -> list[ExportRunRecord]:
        """The runs started from `earliest` to `latest`, newest first, `limit` at most."""

    def queued_unchanged_since(self, run_id: str, moment: datetime) -> Iterable[ClientOutcome]:
        """The run's clients still queued whose outcome has not changed since `moment`."""


def dispatch(
    source: ExportSource,
    queue: ExportQueue,
    runs: ExportRuns,
    *,
    trigger: RunTrigger,
    destination: str,
    as_of: date | None = None,
    client_key: str | None = None,
    include: Callable[[Customer], bool] | None = None,
    started: ExportRun | None = None,
    hierarchy_node_ids: Collection[str] | None = None,
) -> ExportRunSummary:
    """Queue every client (or the one `client_key` names: NotFoundError, before any run is recorded, if
    none has it) and record the run; the run as dispatched.

    `started`: a run already recorded (the API's, handed over: `continue_dispatch`) whose clients are
    queued under its id, instead of a new run. `include` narrows the clients; so does
    `hierarchy_node_ids` (only the clients at those nodes: a rep's run). One client goes on the
    priority lane, many on the bulk lane. `as_of` is the day the workers export as (the hourly tick's);
    None: the day each worker takes its message. A dispatch that fails part way (the run record or the
    queue failing for good, a full chunk of which the queue took none) records the clients it did not
    queue failed, marks the run dispatched, and raises.
    """
    clients = _clients(source, client_key)
    run = _Dispatch(
        started or ExportRun(started_at=datetime.now(UTC), destination=destination, trigger=trigger),
        queue,
        runs,
        lane="priority" if client_key is not None else "bulk",
        as_of=as_of,
    )
    if started is None:
        runs.start(run.run)
    nodes = None if hierarchy_node_ids is None else frozenset(hierarchy_node_ids)
    chosen = (
        customer
        for customer in clients
        if (include is None or include(customer)) and (nodes is None or customer.hierarchy_node_id in nodes)
    )
    try:
        while chunk := list(islice(chosen, CLIENTS_PER_CHUNK)):
            run.queue_chunk(chunk)
    except Exception as exc:
        run.give_up(chosen, exc)  # the clients not reached recorded failed, the run marked dispatched
        raise
    return run.finish()


def continue_dispatch(
    source: ExportSource, queue: ExportQueue, runs: ExportRuns, request: DispatchRequest
) -> ExportRunSummary:
    """Queue the clients of a run the API recorded and handed over (its trigger and destination as recorded).

    Lambda delivers an async invoke at least once and retries a failed one: a run already dispatched is
    not queued again (its summary as recorded). A dispatch that fails part way ends its run (`dispatch`:
    the clients not reached recorded failed, the run marked dispatched) before it raises, so a retry
    queues and counts no client twice. LookupError: no such run.
    """
    record = runs.get_run(request.run_id)
    if record is None:
        raise LookupError(f"export run {request.run_id} is not recorded")
    if record.dispatched_at is not None:
        logger.info("export run already dispatched: nothing queued again", extra={"run_id": record.run_id})
        return record.summary()
    started = ExportRun(**record.model_dump(include={"run_id", "trigger", "destination", "started_at"}))
    return dispatch(
        source,
        queue,
        runs,
        trigger=record.trigger,
        destination=record.destination,
        started=started,
        hierarchy_node_ids=request.hierarchy_node_ids,
    )


def _clients(source: ExportSource, client_key: str | None) -> Iterable[Customer]:
    if client_key is None:
        return source.iter_clients()
    customer = source.get_customer_by_client_key(client_key)
    if customer is None:
        raise NotFoundError(f"no Primary Customer has the Timerack Client Key {client_key}")
    return [customer]


@dataclass
class _Dispatch:
    """One run being dispatched: its clients' outcomes as recorded, counted per node."""

    run: ExportRun
    queue: ExportQueue
    runs: ExportRuns
    lane: Lane
    as_of: date | None
    counts_by_node: dict[str, RunCounts] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return self.run.run_id

    def queue_chunk(self, customers: Sequence[Customer]) -> None:
        """Record the clients' first outcomes, then send the queued ones; a refused one is failed."""
        outcomes = {customer.customer_id: _first_outcome(customer) for customer in customers}
        try:
            self.runs.add_outcomes(self.run_id, list(outcomes.values()))
        except Exception as exc:
            # Not recorded (or only part of it), and not queued: recorded failed, if the table takes it now
            self._record_failed(outcomes.values(), _not_queued(exc, "the run record could not be written"))
            raise
        messages = [
            ExportMessage(run_id=self.run_id, customer_id=customer_id, trigger=self.run.trigger, as_of=self.as_of)
            for customer_id, outcome in outcomes.items()
            if outcome.status == "queued"
        ]
        try:
            refused = self.queue.send(messages, lane=self.lane) if messages else []
        except Exception as exc:
            # The queue could not be reached: its clients are failed with the reason, the dispatch ends here.
            self._tally(outcomes, [m.customer_id for m in messages], f"could not be queued: {exc}")
            raise
        self._tally(outcomes, [m.customer_id for m in refused], REFUSED)
        if messages and len(refused) == len(messages) and len(customers) == CLIENTS_PER_CHUNK:
            raise QueueUnavailable(f"the export queue took none of {len(messages)} messages")

    def give_up(self, rest: Iterator[Customer], exc: Exception) -> None:
        """The dispatch failed: the clients it did not reach are recorded failed, a hundred at a time, and
        the run is marked dispatched. Best effort: what fails here is logged, the dispatch's error raised."""
        reason = _not_queued(exc, "the dispatch stopped at an error")
        try:
            while chunk := list(islice(rest, CLIENTS_PER_CHUNK)):
                self._record_failed([_first_outcome(customer) for customer in chunk], reason)
            self.finish()
        except Exception as failure:  # noqa: BLE001 - the dispatch's own error is raised
            logger.error("a failed dispatch could not end its run", extra=self._fields(failure))

    def _record_failed(self, outcomes: Iterable[ClientOutcome], reason: str) -> None:
        """First outcomes of clients not queued: recorded failed (skipped ones as they are), and counted."""
        failed = [
            o if o.status != "queued" else o.model_copy(update={"status": "failed", "error": reason}) for o in outcomes
        ]
        try:
            self.runs.add_outcomes(self.run_id, failed)
        except Exception as exc:  # noqa: BLE001 - the run will show fewer clients; the dispatch's error is raised
            logger.error("clients not queued could not be recorded", extra=self._fields(exc))
            return
        for outcome in failed:
            self._count(outcome)

    def _fields(self, exc: Exception) -> dict[str, str]:
        return {"run_id": self.run_id, "error": type(exc).__name__}

    def _tally(self, outcomes: dict[int, ClientOutcome], customer_ids: Sequence[int], reason: str) -> None:
        """The clients of `customer_ids` failed for `reason` (recorded), then every outcome counted."""
        for customer_id in customer_ids:
            outcomes[customer_id] = outcomes[customer_id].model_copy(update={"status": "failed", "error": reason})
            self.runs.settle(self.run_id, outcomes[customer_id])
        for outcome in outcomes.values():
            self._count(outcome)

    def _count(self, outcome: ClientOutcome) -> None:
        node = outcome.hierarchy_node_id or NO_NODE
        self.counts_by_node[node] = self.counts_by_node.get(node, RunCounts()).plus(RunCounts.of([outcome.status]))

    def finish(self) -> ExportRunSummary:
        """Every client is queued (or failed, or skipped): the run is marked dispatched; its summary."""
        self.runs.dispatched(self.run_id)
        now = datetime.now(UTC)
        record = ExportRunRecord(
            **self.run.model_dump(include={"run_id", "trigger", "destination", "started_at"}),
            dispatched_at=now,
            updated_at=now,
            counts_by_node=self.counts_by_node,
        )
        summary = record.summary()
        fields = {"run_id": self.run_id, "trigger": self.run.trigger, "lane": self.lane, "state": summary.state}
        logger.info("export run dispatched", extra={**fields, **summary.counts.model_dump()})
        return summary


def _not_queued(exc: Exception, what: str) -> str:
    return f"could not be queued: {what} ({type(exc).__name__}); the next run exports it"


def lost_error(lost_after: timedelta) -> str:
    hours = round(lost_after.total_seconds() / 3600, 1)
    return (
        f"lost: nothing was heard of this client's export for more than {hours:g} h, longer than all its retries "
        "take (its last attempt may have timed out or run out of memory, or its message expired). Look for its "
        "message in the export queue's dead-letter queue (docs/export.md, Runbook); the next hourly run exports "
        "the client again"
    )


def settle_lost_exports(
    runs: LostExports,
    *,
    lost_after: timedelta,
    now: datetime | None = None,
    max_runs: int = SWEEP_MAX_RUNS,
) -> int:
    """Record failed the clients whose export was lost; how many.

    The runs started in the last day (newest first, `max_runs` at most) that are not finished: each
    client still queued whose outcome has not changed for longer than `lost_after` (every backoff and
    every receive's visibility timeout: no message of it can still be alive) is settled failed, saying
    where to look. A run still "queuing" that long (its dispatcher died) is marked dispatched.
    """
    now = now or datetime.now(UTC)
    cutoff = now - lost_after
    error, lost = lost_error(lost_after), 0
    for record in runs.runs_started_between(now - SWEEP_LOOK_BACK, cutoff, limit=max_runs):
        if record.summary().state == "finished":
            continue
        for outcome in runs.queued_unchanged_since(record.run_id, cutoff):
            runs.settle(record.run_id, outcome.model_copy(update={"status": "failed", "error": error}))
            lost += 1
        if record.dispatched_at is None:
            runs.dispatched(record.run_id)
    if lost:
        logger.warning("clients whose export was lost recorded failed", extra={"clients": lost})
    return lost


def _first_outcome(customer: Customer) -> ClientOutcome:
    """Queued; or skipped at once: a child customer still holding a key (stored before that was refused)."""
    primary = customer.parent_customer_id is None
    return ClientOutcome(
        client_key=customer.timerack_client_key or "",
        customer_id=customer.customer_id,
        hierarchy_node_id=customer.hierarchy_node_id,
        status="queued" if primary else "skipped-not-primary",
        error=None if primary else NOT_PRIMARY,
    )
