"""The ports: what each flow needs of its stores, destination and sender, and the values that cross them.

The flows talk only to these; the adapters (DynamoDB, SES, S3, Timerack HTTPS) implement them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date
from email.message import EmailMessage
from typing import Any, Literal, Protocol

from timerack_bridge.domain.batch import BatchResult
from timerack_bridge.domain.entities import (
    Assignment,
    Customer,
    Employee,
    HierarchyNode,
    PayrollEmail,
    ServiceRep,
    Timecard,
)
from timerack_bridge.domain.export_models import ClientOutcome, ExportPayload, ExportRun
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

# "retry-later": DynamoDB throttled the unit's transaction or could not finish it for now.
WriteOutcome = Literal["written", "condition-failed", "retry-later"]


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
    def put_batch(self, batch: BatchResult, *, error_file: PayrollEmail | None = None) -> None: ...


class TimecardUnits(Protocol):
    """The stored units (assignment, weekend bill): read their state, replace them conditionally."""

    def unit_states(self, keys: Sequence[UnitKey], *, workers: int = 1) -> dict[UnitKey, UnitState]: ...
    def unit_state(self, assignment_id: int, weekend_bill: date) -> UnitState | None: ...
    def write_unit(self, unit: UnitWrite) -> WriteOutcome: ...


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
    def max_batch_timecards(self) -> int: ...


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


# ---------------------------------------------------------------- export run


@dataclass
class RunLease:
    """A whole run's lease: its owner token and when it expires (epoch seconds)."""

    owner: str
    expires_at: int


class ExportLeases(Protocol):
    """One run at a time per client: a lease for a whole run, or one per client."""

    def run_held(self) -> AbstractContextManager[RunLease | None]: ...
    def leased_clients(self) -> set[int]: ...
    def ensure_run(self, lease: RunLease, needed_seconds: float) -> bool: ...
    def held(self, customer_id: int) -> AbstractContextManager[bool]: ...


class ExportSource(Protocol):
    """The clients and what the export of one reads."""

    def iter_clients(self) -> Iterable[Customer]: ...
    def get_customer_by_client_key(self, client_key: str) -> Customer | None: ...
    def iter_customer_contents(self, customer_id: int) -> Iterator[Assignment | Customer]: ...
    def batch_get_employees(self, employee_ids: Sequence[int]) -> dict[int, Employee]: ...
    def export_leases(self) -> ExportLeases: ...


class ExportRuns(Protocol):
    """Where each run is recorded: the run when it starts and ends, its clients' outcomes as they come."""

    def start(self, run: ExportRun) -> None: ...
    def add_outcomes(self, run_id: str, outcomes: Sequence[ClientOutcome]) -> None: ...
    def finish(self, run: ExportRun) -> None: ...


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
