"""A batch of timecards: what it carries (as Timerack sends it, or as a Timerack Feed is read) and what it
gives back (one result per assignment, kept as Payroll History)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from timerack_bridge.domain.types import CamelModel, JsonNumber, RecordId, ShortText, TimerackModel

# ---------------------------------------------------------------- what a batch carries


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


# ---------------------------------------------------------------- what it gives back

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
    # "failed": an accepted batch its worker gave up on (every attempt failed): re-send it.
    status: Literal["processing", "completed", "failed", "dry-run"] = "completed"
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


@dataclass(frozen=True)
class SubmittedRange:
    """Payroll History's submitted-at filter: both ends included, None open on that side (aware datetimes)."""

    start: datetime | None = None
    end: datetime | None = None


class AcceptedBatch(CamelModel):
    """A batch over the synchronous size, taken for the intake worker: what its 202 answers (and a replay too)."""

    batch_id: str
    client_key: str
    customer_id: int
    submitted_at: datetime
    timecards: int
