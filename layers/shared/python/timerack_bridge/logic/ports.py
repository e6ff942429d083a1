"""The ports: what each flow needs of its stores, destination and sender, and the values that cross them.

The flows talk only to these; the adapters (DynamoDB, SES, S3, Timerack HTTPS) implement them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from email.message import EmailMessage
from typing import Any, Literal, Protocol

from timerack_bridge.domain.batch import BatchResult
from timerack_bridge.domain.entities import (
    Assignment,
    Customer,
    Employee,
    HierarchyNode,
    PayrollEmail,
    SecurityGroup,
    ServiceRep,
    Timecard,
)
from timerack_bridge.domain.export_models import (
    ClientOutcome,
    DispatchRequest,
    ExportMessage,
    ExportPayload,
    ExportRun,
    ExportRunRecord,
)
from timerack_bridge.domain.proofing import WeekUnit
from timerack_bridge.domain.replacement import UnitState
from timerack_bridge.domain.weeks import NodeWeeks

# ---------------------------------------------------------------- failures the flows name


class EmailSendError(RuntimeError):
    """SES refused the message or could not be reached: it was certainly not sent, a retry may send it."""

    def __init__(self, batch_id: str, reason: str) -> None:
        super().__init__(f"error file of batch {batch_id} not sent: {reason}")
        self.batch_id = batch_id
        self.reason = reason


class DestinationError(Exception):
    """Sending one client's export failed. The message names the client and the cause, never the payload."""


# ---------------------------------------------------------------- intake (a batch of timecards)

UnitKey = tuple[int, date]

# What became of a unit in a transaction of one unit or several: "written" (with all the others);
# "condition-failed": its header changed since it was read (read it again, plan again);
# "retry-later": DynamoDB throttled it or could not finish the transaction for now;
# "not-written": its own actions were fine, another unit's cancelled the transaction (send it again).
WriteOutcome = Literal["written", "condition-failed", "retry-later", "not-written"]


@dataclass(frozen=True)
class UnitWrite:
    """One unit's replacement, written whole or not at all, if the unit is still at `expected_version`."""

    assignment_id: int
    weekend_bill: date
    version: str
    batch_id: str
    customer_id: int
    employee_id: int
    hierarchy_node_id: str
    timecards: Sequence[Timecard]
    delete_pay_codes: Sequence[str]
    expected_version: str | None

    @property
    def send_result(self) -> Literal["created", "replaced"]:
        """What this send reports for the unit, kept on its header: a new unit is created, one found, replaced."""
        return "created" if self.expected_version is None else "replaced"


class IntakeSettings(Protocol):
    @property
    def pay_codes(self) -> Sequence[str]: ...
    @property
    def write_parallelism(self) -> int: ...


class WeeksReader(Protocol):
    def weeks_of_node(self, node_id: str) -> NodeWeeks: ...


class IntakeReferenceData(WeeksReader, Protocol):
    """The admin data a batch is checked against."""

    def batch_get_assignments(self, assignment_ids: Sequence[int], *, workers: int = 1) -> dict[int, Assignment]: ...
    def customer_tree_ids(self, customer_id: int) -> set[int]: ...
    def payroll_email_of(self, customer: Customer) -> PayrollEmail: ...


class PayrollHistory(Protocol):
    def put_batch(
        self, batch: BatchResult, *, error_file: PayrollEmail | None = None, over_processing: bool = False
    ) -> bool:
        """Keep the batch; with `over_processing`, only over its `processing` record (False if it is not)."""

    def get_batch(self, batch_id: str) -> BatchResult | None: ...


class TimecardUnits(Protocol):
    """The stored units (assignment, weekend bill): read their state, replace them conditionally."""

    def unit_states(self, keys: Sequence[UnitKey], *, workers: int = 1) -> dict[UnitKey, UnitState]: ...
    def unit_state(self, assignment_id: int, weekend_bill: date) -> UnitState | None: ...
    def write_unit(self, unit: UnitWrite) -> WriteOutcome: ...
    def write_units(self, units: Sequence[UnitWrite]) -> list[WriteOutcome]:
        """The units in one transaction (all or none), each with its outcome, in order."""

    def actions_of(self, unit: UnitWrite) -> int:
        """How many of a transaction's actions the unit takes (never split across two transactions)."""


class IntakeServices(Protocol):
    @property
    def admin(self) -> IntakeReferenceData: ...
    @property
    def batches(self) -> PayrollHistory: ...
    @property
    def timecards(self) -> TimecardUnits: ...
    @property
    def settings(self) -> IntakeSettings: ...


# ---------------------------------------------------------------- feed import


class ImportSettings(IntakeSettings, Protocol):
    @property
    def week_ending_day(self) -> str: ...
    @property
    def sync_batch_timecards(self) -> int: ...


class ImportServices(IntakeServices, Protocol):
    @property
    def settings(self) -> ImportSettings: ...


# ---------------------------------------------------------------- admin data checks


class AdminRecords(WeeksReader, Protocol):
    """The reads that check a PUT of admin data against what is stored."""

    def get_node(self, node_id: str) -> HierarchyNode | None: ...
    def list_nodes(self) -> list[HierarchyNode]: ...
    def batch_get_reps(self, rep_ids: Sequence[str]) -> dict[str, ServiceRep]: ...
    def get_customer(self, customer_id: int) -> Customer | None: ...
    def get_employee(self, employee_id: int) -> Employee | None: ...


# ---------------------------------------------------------------- payroll lock

LockOutcome = Literal["locked", "already-locked", "changed"]


class NodeReader(Protocol):
    def list_nodes(self) -> list[HierarchyNode]: ...


class WeekUnits(Protocol):
    """A week's unit headers, and the lock that marks a unit sent to payroll if it is still as read."""

    def week_unit_headers(self, weekend_bill: date) -> list[dict[str, Any]]: ...
    def lock_unit(self, header: dict[str, Any]) -> LockOutcome: ...
    def unit_header(self, assignment_id: int, weekend_bill: date) -> dict[str, Any] | None: ...


# ---------------------------------------------------------------- proofing a week


class ProofingAdminData(NodeReader, Protocol):
    """The admin data proofing reads: the tree, a client's customers, and names in bulk."""

    def get_customer_by_client_key(self, client_key: str) -> Customer | None: ...
    def customer_tree_ids(self, customer_id: int) -> set[int]: ...
    def batch_get_employees(self, employee_ids: Sequence[int]) -> dict[int, Employee]: ...
    def batch_get_customers(self, customer_ids: Sequence[int]) -> dict[int, Customer]: ...


class WeekTimecards(Protocol):
    """A week's units in index order, each with the token that resumes after it; their current timecards."""

    def week_units(self, weekend_bill: date, next_token: str | None = None) -> Iterator[tuple[WeekUnit, str]]: ...
    def current_timecards(self, weekend_bill: date, units: Sequence[WeekUnit]) -> list[Timecard]: ...


# ---------------------------------------------------------------- export (queued, one client per message)

# The export queue's two lanes: "bulk" takes the runs of many clients (the hourly run, Update From
# TempWorks of every client); "priority" takes one client at a time (a saved change, a one-client
# update), so a PIN override is not stuck behind an hourly run still draining.
Lane = Literal["bulk", "priority"]


@dataclass(frozen=True)
class Delivery:
    """One received export message: the client to export, how many times the queue has handed it out
    (SQS's ApproximateReceiveCount, 1 the first time), and what hands it back to the queue later."""

    message: ExportMessage
    receive_count: int
    receipt_handle: str
    # The queue it came from: the record's eventSourceARN (on AWS) or the queue's URL (locally).
    source: str


class ExportQueue(Protocol):
    """The export queue: one message per client (SendMessageBatch), and a retry with a delay of our choosing."""

    def send(self, messages: Sequence[ExportMessage], *, lane: Lane, delay_seconds: int = 0) -> list[ExportMessage]:
        """Queue the messages; the ones the queue still refused after retries (empty when all were queued)."""

    def retry_later(self, delivery: Delivery, seconds: int) -> None:
        """Hand the message back to its queue after `seconds` (its visibility), not its full timeout."""


class PendingExports(Protocol):
    """The debounce of change-driven updates: one pending marker per client (its Primary Customer)."""

    def claim(self, customer_id: int) -> bool:
        """True when no update of this client is pending (the caller then queues one); False otherwise."""

    def release(self, customer_id: int) -> None:
        """The pending update is being exported: a change saved from now on queues another."""


class ClientLeases(Protocol):
    """One export of a client at a time, whichever run or worker it comes from."""

    def held(self, customer_id: int) -> AbstractContextManager[bool]: ...


class ExportSource(Protocol):
    """The clients and what the export of one reads."""

    def iter_clients(self) -> Iterable[Customer]: ...
    def get_customer(self, customer_id: int) -> Customer | None: ...
    def get_customer_by_client_key(self, client_key: str) -> Customer | None: ...
    def iter_customer_contents(self, customer_id: int) -> Iterator[Assignment | Customer]: ...
    def batch_get_employees(self, employee_ids: Sequence[int]) -> dict[int, Employee]: ...


class ChangeSource(Protocol):
    """What finds the clients a saved change affects, by Query and GetItem (never Scan)."""

    def get_customer(self, customer_id: int) -> Customer | None: ...
    def employee_assignments(self, employee_id: int) -> Iterator[Assignment]: ...


class ExportRuns(Protocol):
    """Where each run is recorded: the run, then each client's outcome, counted per node on the run."""

    def start(self, run: ExportRun) -> None:
        """The run's item, before any client is queued (state "queuing")."""

    def add_outcomes(self, run_id: str, outcomes: Sequence[ClientOutcome]) -> None:
        """First outcomes of clients (queued, or skipped at once), written and added to the run's counts."""

    def dispatched(self, run_id: str) -> None:
        """Every client of the run is queued (or skipped): the run finishes when none is still queued."""

    def settle(self, run_id: str, outcome: ClientOutcome) -> None:
        """Replace the client's outcome (by customer id) and move its count from the old status to the new."""

    def get_run(self, run_id: str) -> ExportRunRecord | None:
        """The run as recorded (None: no such run): a run handed to the dispatcher is continued once."""


class DispatchStartError(RuntimeError):
    """The export dispatcher could not be handed a run (its invoke failed): no client of the run was queued.
    The message says why, never the payload."""


class DispatchStarter(Protocol):
    """Hands a run of many clients, already recorded (state queuing), to the export dispatcher, which reads,
    records and queues its clients on its own time (on AWS: an async invoke of the dispatcher function)."""

    def start(self, request: DispatchRequest) -> None:
        """Hand the run over and return at once; DispatchStartError when it could not be handed over."""


class ExportTarget(Protocol):
    """Where a client's export goes (Timerack HTTPS, S3, a local outbox)."""

    @property
    def name(self) -> str: ...
    @property
    def longest_send_seconds(self) -> float: ...
    def send(self, payload: ExportPayload) -> None: ...


# ---------------------------------------------------------------- error file mail


@dataclass(frozen=True)
class StoredBatch:
    """A completed batch as Payroll History keeps it, with the error-file setting in force when it was sent
    (None on a batch stored before that setting was kept)."""

    batch: BatchResult
    error_file: PayrollEmail | None


class ErrorFileCustomers(Protocol):
    def get_customer(self, customer_id: int) -> Customer | None: ...
    def legacy_owner(self, client_key: str) -> Customer | None: ...
    def payroll_email_of(self, customer: Customer) -> PayrollEmail: ...


class MailClaim(Protocol):
    @property
    def granted(self) -> bool: ...
    @property
    def already_sending(self) -> bool: ...


class MailMarkers(Protocol):
    """At most one error file per batch: a claim before the send, marked sent after it."""

    def claim(self, batch_id: str) -> MailClaim: ...
    def mark_sent(self, claim: Any, *, message_id: str, recipients: int) -> str | None:
        """None when recorded; else why not (the email is out either way)."""

    def release(self, claim: Any) -> None: ...


class EmailSender(Protocol):
    def send(self, message: EmailMessage, *, batch_id: str, sender: str, recipients: Sequence[str]) -> str: ...


# ---------------------------------------------------------------- asynchronous intake (a batch over the sync size)


@dataclass(frozen=True)
class AcceptedRecord:
    """A batch accepted for the intake worker, as Payroll History keeps it: the batch (processing, then
    completed), the error-file setting of the send, and what the worker needs to run it as it was sent."""

    batch: BatchResult
    error_file: PayrollEmail | None
    principal: str
    preferred_weekend_bill: date | None
    timecards: int
    accepted: bool  # False once completed (the completed record is written like any batch's)
    # The open week of each hierarchy node its first run resolved, kept before any unit was written: a
    # later run finds there the units the first wrote (None: no run got that far yet).
    weeks: dict[str, date | None] | None = None


class BatchBodies(Protocol):
    """Accepted bodies, as sent (JSON bytes), until the worker has written them."""

    def put_body(self, batch_id: str, body: bytes) -> None: ...
    def get_body(self, batch_id: str) -> bytes:
        """The body; the adapter's BatchObjectMissing (a LookupError) when it is gone."""

    def delete_body(self, batch_id: str) -> None: ...


class AcceptedBatches(Protocol):
    """The accepted batches' `processing` records: written at accept, read by the worker, swept when stuck."""

    def put_accepted(self, record: AcceptedRecord) -> None: ...
    def get_accepted(self, batch_id: str) -> AcceptedRecord | None: ...
    def stale_accepted(self, *, submitted_from: datetime, submitted_to: datetime) -> list[tuple[str, datetime | None]]:
        """The ids of batches accepted in that range and still processing (never a Scan)."""

    def keep_weeks(self, batch_id: str, weeks: dict[str, date | None]) -> dict[str, date | None]:
        """The run's open week of each node, kept on the record; the weeks kept (another run's if first)."""

    def mark_failed(self, batch_id: str, reason: str) -> None:
        """The batch's last attempt failed: its status `failed` (only while still processing)."""

    def claim_sweep(self, batch_id: str, now: datetime) -> bool:
        """True once per batch still processing: the sweep queues a batch again at most once."""


class IntakeQueue(Protocol):
    def send(self, batch_id: str) -> None: ...


class AccessReader(Protocol):
    """What a Timerack rep's access is read from."""

    def get_rep_by_principal(self, principal: str) -> ServiceRep | None: ...
    def list_nodes(self) -> list[HierarchyNode]: ...
    def list_groups(self) -> list[SecurityGroup]: ...


class AsyncIntakeReferenceData(IntakeReferenceData, AccessReader, Protocol):
    def get_customer(self, customer_id: int) -> Customer | None: ...


class AsyncIntakeServices(IntakeServices, Protocol):
    """The intake worker's services (and the API's, to accept a batch)."""

    @property
    def admin(self) -> AsyncIntakeReferenceData: ...
    @property
    def batch_objects(self) -> BatchBodies: ...
    @property
    def accepted_batches(self) -> AcceptedBatches: ...
    @property
    def intake_queue(self) -> IntakeQueue: ...
