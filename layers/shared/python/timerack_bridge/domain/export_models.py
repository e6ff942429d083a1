"""What the export sends (the payload of docs/contract.md) and what a run reports, per client."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

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


ClientStatus = Literal["exported", "failed", "skipped-locked", "skipped-not-primary"]


class ClientOutcome(CamelModel):
    """What happened to one client in a run; counts are of what was sent. Never holds a PIN."""

    client_key: str
    customer_id: int | None = None
    status: ClientStatus
    employees: int = 0
    assignments: int = 0
    problems: list[ExportProblem] = Field(default_factory=list)
    error: str | None = None


class ExportRun(CamelModel):
    started_at: datetime
    finished_at: datetime | None = None
    destination: str
    clients: list[ClientOutcome] = Field(default_factory=list)

    def count(self, status: ClientStatus) -> int:
        return sum(1 for outcome in self.clients if outcome.status == status)

    @property
    def failures(self) -> int:
        return self.count("failed")


class ExportRequest(CamelModel):
    """`POST /v1/exports` body and the direct invoke of the export function: one client, or all."""

    client_key: ClientKey | None = None
