"""The agency's records as they are stored: hierarchy, reps, groups, customers, employees, assignments, weeks,
payroll email settings and timecards.

A record's `...Fields` are what the agency says about it; the record adds its key (from the path).
The API's request bodies (api/models/input.py) are those fields.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from timerack_bridge.domain.email_address import EmailAddress
from timerack_bridge.domain.types import (
    AssignmentStatus,
    CamelModel,
    ClientKey,
    GroupName,
    Identifier,
    IsoDate,
    JsonBool,
    PayrollStatus,
    RecordId,
    ShortText,
    TimerackMode,
    WeekStatus,
)

# ---------------------------------------------------------------- admin data


class HierarchyNodeFields(CamelModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    parent_id: Identifier | None = None
    allows_master_data: JsonBool = True


class HierarchyNode(HierarchyNodeFields):
    node_id: Identifier


class ServiceRepFields(CamelModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    principal: Identifier
    current_hierarchy_node_id: Identifier


class ServiceRep(ServiceRepFields):
    rep_id: Identifier


class SecurityGroupFields(CamelModel):
    description: ShortText = ""
    hierarchy_node_id: Identifier
    permissions: list[Literal["Timerack"]] = Field(default_factory=list, max_length=10)
    members: list[Identifier] = Field(default_factory=list, max_length=1000)


class SecurityGroup(SecurityGroupFields):
    name: GroupName


class CustomerFields(CamelModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    parent_customer_id: RecordId | None = None
    hierarchy_node_id: Identifier
    timerack_client_key: ClientKey | None = None
    timerack_mode: TimerackMode = TimerackMode.CONNECT


class Customer(CustomerFields):
    customer_id: RecordId


class Employee(CamelModel):
    """The stored employee: the SSN's last four only, never the full number."""

    employee_id: RecordId
    first_name: str
    last_name: str
    birth_date: date | None = None
    ssn_last4: str | None = Field(default=None, repr=False)
    hierarchy_node_id: str
    pin_override: str | None = Field(default=None, repr=False)

    @property
    def has_pin_override(self) -> bool:
        return bool(self.pin_override)


class AssignmentFields(CamelModel):
    employee_id: RecordId
    customer_id: RecordId
    hierarchy_node_id: Identifier
    status: AssignmentStatus
    start_date: IsoDate
    end_date: IsoDate | None = None
    job_title: ShortText = ""


class Assignment(AssignmentFields):
    assignment_id: RecordId


class WeekFields(CamelModel):
    hierarchy_node_id: Identifier
    status: WeekStatus


class Week(WeekFields):
    weekend_bill: date


class PayrollEmailFields(CamelModel):
    recipients: list[EmailAddress] = Field(default_factory=list, max_length=50)
    receive_error_file: JsonBool = False


class PayrollEmail(PayrollEmailFields):
    client_key: str


# ---------------------------------------------------------------- timecards


class Punch(CamelModel):
    in_: str = Field(alias="in")
    out: str


class Day(CamelModel):
    date: date
    hours: float
    punches: list[Punch] | None = None


class Adjustment(CamelModel):
    type: Literal["employee"] = "employee"
    code: str
    amount: float
    description: str = ""


class Timecard(CamelModel):
    timecard_id: str
    assignment_id: int
    employee_id: int
    customer_id: int
    weekend_bill: date
    pay_code: str
    days: list[Day]
    total_hours: float
    adjustments: list[Adjustment]
    payroll_status: PayrollStatus = PayrollStatus.OPEN
    source_batch_id: str
