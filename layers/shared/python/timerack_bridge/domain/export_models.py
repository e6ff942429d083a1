"""What the export sends (the payload of docs/contract.md) and what a run reports, per client."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Annotated, Literal
from uuid import uuid4

from pydantic import Field

from timerack_bridge.domain.types import AssignmentStatus, CamelModel, ClientKey


class ExportEmployee(CamelModel):
    employee_id: int
    first_name: str
    last_name: str
    # The punch PIN: only ever in the payload sent to Timerack, never in a log, a problem or the run result.
    pin: str = Field(repr=False)


class ExportAssignment(CamelModel):
    assignment_id: int
    employee_id: int
    customer_id: int
    status: AssignmentStatus
    start_date: date
    end_date: date | None
    job_title: str


class MissingPinProblem(CamelModel):
    type: Literal["missing-pin"] = "missing-pin"
    employee_id: int
    message: str


class PinCollisionProblem(CamelModel):
    type: Literal["pin-collision"] = "pin-collision"
    employee_ids: list[int]
    message: str


class MissingEmployeeProblem(CamelModel):
    type: Literal["missing-employee"] = "missing-employee"
    employee_id: int
    message: str


ExportProblem = Annotated[MissingPinProblem | PinCollisionProblem | MissingEmployeeProblem, Field(discriminator="type")]


class ExportPayload(CamelModel):
    """One client's export: the Primary Customer, its employees with PINs, their assignments, the problems."""

    client_key: str
    customer_id: int
    customer_name: str
    generated_at: datetime
    employees: list[ExportEmployee]
    assignments: list[ExportAssignment]
    problems: list[ExportProblem]

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True)


# queued: waiting in the export queue, or waiting to be retried (`error` then says what failed and when it is
# tried again); exported; failed: every attempt failed and the message went to the dead-letter queue (or could
# not be queued); skipped: not a Primary Customer with a key (any more) when its turn came.
# "skipped-locked" is kept for runs recorded before the queue (a whole run skipped a client another run held).
ClientStatus = Literal["queued", "exported", "failed", "skipped-locked", "skipped-not-primary", "skipped-not-client"]


class ClientOutcome(CamelModel):
    """What happened to one client in a run; counts are of what was sent. Never holds a PIN."""

    client_key: str
    customer_id: int | None = None
    status: ClientStatus
    employees: int = 0
    assignments: int = 0
    problems: list[ExportProblem] = Field(default_factory=list)
    error: str | None = None
    # The Primary Customer's node: which reps see this outcome.
    hierarchy_node_id: str | None = None
    # How many times the export of this client was tried in this run (0 while it waits its first turn).
    attempts: int = 0


# Who started a run: the hourly rule, a direct invoke, "Update From TempWorks", a saved change to
# admin data (a PIN override, an assignment, a customer), the local runtime.
RunTrigger = Literal["hourly", "invoke", "update-from-tempworks", "change", "local-schedule", "local-cli"]


class RunCounts(CamelModel):
    """A run's clients by status."""

    queued: int = 0
    exported: int = 0
    failed: int = 0
    skipped_locked: int = 0
    skipped_not_primary: int = 0
    skipped_not_client: int = 0

    @classmethod
    def of(cls, statuses: Iterable[ClientStatus]) -> RunCounts:
        counts = cls()
        for status in statuses:
            field = status.replace("-", "_")
            setattr(counts, field, getattr(counts, field) + 1)
        return counts

    def plus(self, other: RunCounts) -> RunCounts:
        return RunCounts(**{name: getattr(self, name) + getattr(other, name) for name in RunCounts.model_fields})


# The counts of outcomes without a node (none today): an admin's only. Not empty: DynamoDB map keys.
NO_NODE = "-"


def new_run_id() -> str:
    return uuid4().hex


class ExportRun(CamelModel):
    run_id: str = Field(default_factory=new_run_id)
    trigger: RunTrigger = "invoke"
    started_at: datetime
    finished_at: datetime | None = None
    destination: str
    clients: list[ClientOutcome] = Field(default_factory=list)

    def counts_by_node(self) -> dict[str, RunCounts]:
        """The counts per Primary Customer node, so a rep's counts are those of the nodes they see."""
        nodes: dict[str, list[ClientStatus]] = {}
        for outcome in self.clients:
            nodes.setdefault(outcome.hierarchy_node_id or NO_NODE, []).append(outcome.status)
        return {node: RunCounts.of(statuses) for node, statuses in nodes.items()}

    def count(self, status: ClientStatus) -> int:
        return sum(1 for outcome in self.clients if outcome.status == status)

    @property
    def failures(self) -> int:
        return self.count("failed")


# queuing: the clients are still being put on the queue; running: some are queued; finished: none is.
RunState = Literal["queuing", "running", "finished"]


class ExportRunSummary(CamelModel):
    """A recorded run as listed: when, how started, and its clients by status (those the caller sees)."""

    run_id: str
    trigger: RunTrigger
    destination: str
    state: RunState = "finished"
    started_at: datetime
    finished_at: datetime | None = None
    counts: RunCounts


class ExportRunRecord(CamelModel):
    """A recorded run as stored: its counts kept per node (the outcomes are items of their own).

    A queued run is finished once every client is queued (`dispatched_at`) and none is still queued;
    it finished when its counts last changed (`updated_at`). A run recorded before the queue has
    `finished_at` set when it ended.
    """

    run_id: str
    trigger: RunTrigger
    destination: str
    started_at: datetime
    dispatched_at: datetime | None = None
    updated_at: datetime | None = None
    finished_at: datetime | None = None
    counts_by_node: dict[str, RunCounts] = Field(default_factory=dict)

    def state(self, counts: RunCounts) -> RunState:
        if self.finished_at is not None:
            return "finished"
        if self.dispatched_at is None:
            return "queuing"
        return "running" if counts.queued > 0 else "finished"

    def concerns(self, sees: Callable[[str], bool]) -> bool:
        """Whether the run exported (or tried) a client at a node `sees` allows: a rep learns of no other run."""
        return any(node != NO_NODE and sees(node) for node in self.counts_by_node)

    def summary(self, sees: Callable[[str], bool] | None = None) -> ExportRunSummary:
        """The run's counts over every node (an admin) or over the nodes `sees` allows (a rep)."""
        counts = RunCounts()
        for node, node_counts in self.counts_by_node.items():
            if sees is None or (node != NO_NODE and sees(node)):
                counts = counts.plus(node_counts)
        every = RunCounts()
        for node_counts in self.counts_by_node.values():
            every = every.plus(node_counts)
        state = self.state(every)  # of the whole run: a rep's clients may be done while others are queued
        finished_at = self.finished_at or (self.updated_at if state == "finished" else None)
        fields = self.model_dump(include={"run_id", "trigger", "destination", "started_at"})
        return ExportRunSummary(**fields, state=state, finished_at=finished_at, counts=counts)


class ExportMessage(CamelModel):
    """One client to export, as it travels on the export queue (the body of one SQS message, camelCase JSON).

    `as_of` is the hourly tick's day (a delayed message still exports the window it was queued for);
    None exports as of the day it is received. `change` marks a debounced change: the worker releases
    the client's pending marker before it reads the client's data, so a change saved while it sends
    queues the client again.
    """

    run_id: str = Field(min_length=1, max_length=64)
    customer_id: int
    trigger: RunTrigger
    as_of: date | None = None
    change: bool = False


class ExportRequest(CamelModel):
    """`POST /v1/exports` body and the direct invoke of the export function: one client, or all."""

    client_key: ClientKey | None = None


class DispatchRequest(CamelModel):
    """A run of many clients the API recorded (state queuing) and hands to the export dispatcher to queue:
    the payload of its async invoke (camelCase JSON), a third event shape besides the hourly schedule's
    and `{"clientKey"}`.

    `hierarchy_node_ids`: the nodes whose clients the run takes (those a rep saw when they asked);
    None: every client (an admin's run).
    """

    run_id: str = Field(min_length=1, max_length=64)
    trigger: RunTrigger
    hierarchy_node_ids: list[str] | None = None
