"""The API's replies that are not stored records (those are in domain/)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from timerack_bridge.domain.batch import AcceptedBatch, BatchResult, BatchSummary
from timerack_bridge.domain.entities import (
    Assignment,
    Customer,
    Employee,
    HierarchyNode,
    SecurityGroup,
    ServiceRep,
    Timecard,
    Week,
)
from timerack_bridge.domain.export_models import ClientOutcome, ExportRunSummary
from timerack_bridge.domain.proofing import PayCodeTotal, ProofedTimecard
from timerack_bridge.domain.types import CamelModel


class EmployeeOut(CamelModel):
    """What the API shows of an employee: no SSN, no PIN."""

    employee_id: int
    first_name: str
    last_name: str
    birth_date: date | None = None
    hierarchy_node_id: str
    has_ssn: bool
    has_pin_override: bool

    @classmethod
    def of(cls, employee: Employee) -> EmployeeOut:
        return cls(
            employee_id=employee.employee_id,
            first_name=employee.first_name,
            last_name=employee.last_name,
            birth_date=employee.birth_date,
            hierarchy_node_id=employee.hierarchy_node_id,
            has_ssn=bool(employee.ssn_last4),
            has_pin_override=employee.has_pin_override,
        )


class EmployeePage(CamelModel):
    items: list[EmployeeOut]
    next_token: str | None = None


class SendToPayrollOut(CamelModel):
    weekend_bill: date
    hierarchy_node_id: str
    locked_units: int
    locked_timecards: int


class TimecardList(CamelModel):
    items: list[Timecard]


class BatchSummaryList(CamelModel):
    items: list[BatchSummary]
    next_token: str | None = None


class BatchResultPage(BatchResult):
    """One batch as GET /v1/payroll-history/{batchId} answers it: its results a page at a time (a whole batch
    would pass Lambda's 6 MB response); counts and every other field are the whole batch's."""

    # Null on the last page; else the resultsToken of the next one.
    next_results_token: str | None = None


class RowErrorOut(CamelModel):
    row: int
    message: str


class TimecardImportOut(CamelModel):
    file_name: str
    parent_customer_id: int
    weekend_bill: date
    rows: int
    row_errors: list[RowErrorOut] = Field(default_factory=list)
    imported: bool
    batch: BatchResult | None = None


class BatchUploadOut(CamelModel):
    """Where to PUT a batch too big for one request (Lambda's 6 MB event), then send it by its upload id."""

    upload_id: str
    upload_url: str
    method: Literal["PUT"] = "PUT"
    # The headers the PUT must send (the URL is signed with them).
    headers: dict[str, str]
    expires_at: datetime
    max_bytes: int


class BatchAccepted(CamelModel):
    """A batch over SYNC_BATCH_TIMECARDS, accepted (202): the intake worker writes it; `location` (also the
    Location header) is its Payroll History, `processing` until it is `completed` with every result."""

    batch_id: str
    client_key: str
    customer_id: int
    submitted_at: datetime
    status: Literal["processing"] = "processing"
    timecards: int
    location: str

    @classmethod
    def of(cls, accepted: AcceptedBatch) -> BatchAccepted:
        return cls(**accepted.model_dump(), location=f"/v1/payroll-history/{accepted.batch_id}")


class Health(CamelModel):
    status: Literal["ok"] = "ok"
    version: str


# ---------------------------------------------------------------- admin data read back (no SSN, no PIN in any)


class HierarchyOut(CamelModel):
    """The whole hierarchy tree: every node with its parent."""

    items: list[HierarchyNode]


class ServiceRepPage(CamelModel):
    items: list[ServiceRep]
    next_token: str | None = None


class SecurityGroupPage(CamelModel):
    items: list[SecurityGroup]
    next_token: str | None = None


class CustomerPage(CamelModel):
    items: list[Customer]
    next_token: str | None = None


class AssignmentPage(CamelModel):
    items: list[Assignment]
    next_token: str | None = None


class WeekPage(CamelModel):
    items: list[Week]
    next_token: str | None = None


# ---------------------------------------------------------------- proofing a week (h11)


class WeekTimecardPage(CamelModel):
    """A page of a week's current timecards at or below a node, with the totals per pay code of this page."""

    weekend_bill: date
    hierarchy_node_id: str
    items: list[ProofedTimecard]
    totals: list[PayCodeTotal]
    next_token: str | None = None


class ExportRunList(CamelModel):
    """`GET /v1/exports`: the runs, newest first; a rep's counts are those of their clients."""

    items: list[ExportRunSummary]
    next_token: str | None = None


class ExportRunDetail(ExportRunSummary):
    """`GET /v1/exports/{runId}`: the run and a page of its clients' outcomes (a rep's: their clients')."""

    clients: list[ClientOutcome]
    next_token: str | None = None
