"""Pydantic v2 models: what the API takes in, what it gives back, and what the domain works on.

JSON is camelCase; Python names are snake_case.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import Enum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict, StringConstraints
from pydantic.alias_generators import to_camel

from timerack_bridge.domain.pin import ssn_last_four, validate_pin_override

TIMERACK_PERMISSION = "Timerack"

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@\-]+$")]
# JSON numbers and booleans are taken as sent: lax pydantic would read "12", 12.0 or true as 12, and 0 as false.
RecordId = Annotated[int, Strict(), Field(ge=1, le=2**53)]
JsonBool = Annotated[bool, Strict()]
JsonNumber = Annotated[float, Strict()]
# Security group names are free text ("Timerack", "Open API Timerack"), but never a path or control character.
GroupName = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^/\\\x00-\x1f]+$")]
ShortText = Annotated[str, StringConstraints(max_length=200)]
# A plain address check: one @, a dotted domain, no spaces or angle brackets (no DNS look-ups in Lambda).
EmailAddress = Annotated[
    str,
    StringConstraints(max_length=254, pattern=r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"),
]
ClientKey = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._\-]+$")]


# ASCII digits, matched whole: \d takes other scripts' digits and $ a trailing newline.
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date_text(value: object) -> object:
    # pydantic reads a number (or digits as text) as a Unix time: birthDate 0 would be 1970-01-01.
    if isinstance(value, date) or (isinstance(value, str) and _ISO_DATE.fullmatch(value)):
        return value
    raise ValueError("a date is written YYYY-MM-DD")


IsoDate = Annotated[date, BeforeValidator(_iso_date_text)]

_ID_DIGITS = re.compile(r"[0-9]{1,16}")


def _id_text(value: object) -> object:
    # A query or path is text, and int() reads "1_001", " 1001", "1001.0" and "+1001" as 1001 too.
    if (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, str) and _ID_DIGITS.fullmatch(value)
    ):
        return value
    raise ValueError("an id is written with the digits 0-9")


# An id in a query or path (bounds go on the Query/Path: ge=1, le=2**53).
IdText = Annotated[int, BeforeValidator(_id_text)]


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class TimerackModel(CamelModel):
    """What Timerack sends: fields we do not know are ignored, so a new Timerack field never fails a batch."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class AssignmentStatus(str, Enum):
    ACTIVE = "Active"
    COMPLETE = "Complete"
    DELETED = "Deleted/Mistakenly Entered"
    CANCELLED = "Cancelled"

    @property
    def allows_timecards(self) -> bool:
        return self in (AssignmentStatus.ACTIVE, AssignmentStatus.COMPLETE)


class TimerackMode(str, Enum):
    CONNECT = "connect"
    MANUAL_IMPORT = "manual-import"


class WeekStatus(str, Enum):
    OPEN = "open"
    CLOSED = "closed"


class PayrollStatus(str, Enum):
    OPEN = "open"
    SENT = "sent"


# ---------------------------------------------------------------- admin data


class HierarchyNodeIn(CamelModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    parent_id: Identifier | None = None
    allows_master_data: JsonBool = True


class HierarchyNode(HierarchyNodeIn):
    node_id: Identifier


class ServiceRepIn(CamelModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    principal: Identifier
    current_hierarchy_node_id: Identifier


class ServiceRep(ServiceRepIn):
    rep_id: Identifier


class SecurityGroupIn(CamelModel):
    description: ShortText = ""
    hierarchy_node_id: Identifier
    permissions: list[Literal["Timerack"]] = Field(default_factory=list, max_length=10)
    members: list[Identifier] = Field(default_factory=list, max_length=1000)


class SecurityGroup(SecurityGroupIn):
    name: GroupName


class CustomerIn(CamelModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    parent_customer_id: RecordId | None = None
    hierarchy_node_id: Identifier
    timerack_client_key: ClientKey | None = None
    timerack_mode: TimerackMode = TimerackMode.CONNECT


class Customer(CustomerIn):
    customer_id: RecordId


def _reduce_ssn(value: str | None) -> str | None:
    return None if value is None else ssn_last_four(value)


def _check_override(value: str | None) -> str | None:
    return None if value is None else validate_pin_override(value)


class EmployeeIn(CamelModel):
    first_name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    last_name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    birth_date: IsoDate | None = None
    # Write-only: reduced to its last four digits before anything else sees it.
    ssn: Annotated[str | None, AfterValidator(_reduce_ssn)] = Field(default=None, repr=False)
    hierarchy_node_id: Identifier
    pin_override: Annotated[str | None, AfterValidator(_check_override)] = Field(default=None, repr=False)


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


class AssignmentIn(CamelModel):
    employee_id: RecordId
    customer_id: RecordId
    hierarchy_node_id: Identifier
    status: AssignmentStatus
    start_date: IsoDate
    end_date: IsoDate | None = None
    job_title: ShortText = ""


class Assignment(AssignmentIn):
    assignment_id: RecordId


class WeekIn(CamelModel):
    hierarchy_node_id: Identifier
    status: WeekStatus


class Week(WeekIn):
    weekend_bill: date


class SendToPayrollIn(CamelModel):
    hierarchy_node_id: Identifier


class SendToPayrollOut(CamelModel):
    weekend_bill: date
    hierarchy_node_id: str
    locked_units: int
    locked_timecards: int


class PayrollEmailIn(CamelModel):
    recipients: list[EmailAddress] = Field(default_factory=list, max_length=50)
    receive_error_file: JsonBool = False


class PayrollEmail(PayrollEmailIn):
    client_key: str


# ---------------------------------------------------------------- timecards


class PunchIn(TimerackModel):
    # Kept as text: a punch that is not HHMM is that assignment's error, not a malformed request.
    in_: str = Field(alias="in", max_length=10)
    out: str = Field(max_length=10)


class DayIn(TimerackModel):
    date: Annotated[str, StringConstraints(max_length=20)]
    hours: JsonNumber | None = Field(default=None, allow_inf_nan=False)
    punches: list[PunchIn] | None = Field(default=None, max_length=24)


class AdjustmentIn(TimerackModel):
    code: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    amount: JsonNumber = Field(allow_inf_nan=False, ge=-1_000_000, le=1_000_000)
    description: ShortText = ""


class TimecardIn(TimerackModel):
    assignment_id: RecordId
    employee_id: RecordId
    pay_code: Annotated[str, StringConstraints(min_length=1, max_length=20)]
    days: list[DayIn] = Field(default_factory=list, max_length=14)
    adjustments: list[AdjustmentIn] = Field(default_factory=list, max_length=50)


class PayPeriod(TimerackModel):
    start: IsoDate
    end: IsoDate


class TimecardBatchIn(TimerackModel):
    client_key: ClientKey
    pay_period: PayPeriod | None = None
    # The count limit is checked by the route (413 with the limit), not here (it would be a 422).
    timecards: list[TimecardIn]

    def __repr__(self) -> str:
        # Counts, not content: Powertools logs a route's arguments with an f-string whatever the log
        # level, so the full repr of a 5,000-timecard body was built on every batch (tens of ms), and
        # it would put employees' hours into a log if debug logging were ever on.
        period = f"{self.pay_period.start}..{self.pay_period.end}" if self.pay_period else None
        count = len(self.timecards)
        return f"TimecardBatchIn(client_key={self.client_key!r}, pay_period={period!r}, timecards=<{count} timecards>)"

    __str__ = __repr__


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


class TimecardList(CamelModel):
    items: list[Timecard]


ResultStatus = Literal["created", "replaced", "error"]


class AssignmentResult(CamelModel):
    assignment_id: int
    status: ResultStatus
    timecard_ids: list[str] = Field(default_factory=list)
    error: str | None = None
    warnings: list[str] = Field(default_factory=list)
    # Kept for the CSV report: the rows of the send that this result covers.
    employee_id: int | None = None
    pay_codes: list[str] = Field(default_factory=list)
    weekend_bill: date | None = None


class BatchCounts(CamelModel):
    assignments: int
    created: int
    replaced: int
    errors: int


class BatchResult(CamelModel):
    batch_id: str
    client_key: str
    # The Primary Customer the batch belongs to (absent on batches stored before it was kept).
    customer_id: int | None = None
    submitted_at: datetime
    weekend_bill: date | None = None
    counts: BatchCounts
    results: list[AssignmentResult]
    source: Literal["timerack", "manual-import"] = "timerack"
    status: Literal["processing", "completed", "dry-run"] = "completed"
    dry_run: bool = False


class BatchSummary(CamelModel):
    batch_id: str
    client_key: str
    customer_id: int | None = None
    submitted_at: datetime
    weekend_bill: date | None = None
    counts: BatchCounts | None = None
    source: str
    status: str


class BatchSummaryList(CamelModel):
    items: list[BatchSummary]
    next_token: str | None = None


class Health(CamelModel):
    status: Literal["ok"] = "ok"
    version: str


class ErrorBody(CamelModel):
    message: str
