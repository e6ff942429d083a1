"""Hours, punches and the content checks of one assignment's timecards (docs/contract.md)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from timerack_bridge.domain import errors
from timerack_bridge.domain.batch import DayIn, TimecardIn
from timerack_bridge.domain.entities import Adjustment, Day, Punch

MAX_HOURS_PER_DAY = 24.0
# ASCII digits, matched whole ("0800\n" or other scripts' digits are not military time).
_HHMM = re.compile(r"([01][0-9]|2[0-3])([0-5][0-9])")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class ContentError(ValueError):
    """Bad content inside one assignment: the assignment's error, the rest of the batch goes on."""

    def for_assignment(self, assignment_id: int) -> str:
        """The assignment's error as its result shows it."""
        return f"Assignment {assignment_id}: {self}"


class PunchOverlapError(ContentError):
    """Two punch pairs of one assignment's week share time: that time would be paid twice."""

    def __init__(self, on: date, first: str, second: str) -> None:
        super().__init__(f"punches overlap on {on.isoformat()}: {first} and {second}")
        self.on, self.first, self.second = on, first, second

    def for_assignment(self, assignment_id: int) -> str:
        return errors.punches_overlap(assignment_id, self.on, self.first, self.second)


def parse_military_time(value: str) -> int:
    """Minutes after midnight of an HHMM military time ("0800", "1630"); anything else is refused."""
    match = _HHMM.fullmatch(value)
    if not match:
        raise ContentError(f'punch time "{value[:10]}" is not military time HHMM (0000 to 2359)')
    return int(match.group(1)) * 60 + int(match.group(2))


def punch_minutes(punch_in: str, punch_out: str) -> int:
    """Minutes worked by one punch pair; an out earlier than its in crosses midnight."""
    start, end = parse_military_time(punch_in), parse_military_time(punch_out)
    if start == end:
        raise ContentError(f"punch in {punch_in} and punch out {punch_out} are the same time")
    return end - start if end > start else end + 24 * 60 - start


def hours_of_punches(punches: Sequence[tuple[str, str]]) -> float:
    return round(sum(punch_minutes(i, o) for i, o in punches) / 60, 4)


def week_dates(weekend_bill: date) -> tuple[date, date]:
    """The seven days that end on the weekend bill date."""
    return weekend_bill - timedelta(days=6), weekend_bill


@dataclass(frozen=True)
class TimecardDraft:
    """One pay code's timecard of a replacement unit, checked and ready to store."""

    pay_code: str
    days: tuple[Day, ...]
    total_hours: float
    adjustments: tuple[Adjustment, ...]


@dataclass(frozen=True)
class CheckedUnit:
    """An assignment's week that passed the checks: its timecards and what the sender should look at."""

    drafts: list[TimecardDraft]
    warnings: list[str]


def read_day_date(text: str, field: str) -> date:
    """A day's date, written exactly YYYY-MM-DD (3.11's fromisoformat also takes "20261116", "2026-W47-1")."""
    if _ISO_DATE.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    # The value is not repeated: a mistyped field can hold anything, an SSN included.
    raise ContentError(f"{field} is not a date written YYYY-MM-DD")


def check_day(entry: DayIn, *, field: str, pay_code: str, first: date, last: date) -> Day:
    """One day of one pay code: a date of the week, and hours or punches (never both), at most 24 hours."""
    day = read_day_date(entry.date, f"{field}.date of pay code {pay_code}")
    if not first <= day <= last:
        raise ContentError(f"date {day.isoformat()} is outside the week {first.isoformat()} to {last.isoformat()}")
    if entry.hours is not None and entry.punches:
        raise ContentError(f"{day.isoformat()} has both hours and punches; send one or the other")
    if entry.punches:
        hours = hours_of_punches([(p.in_, p.out) for p in entry.punches])
        punches = [Punch(in_=p.in_, out=p.out) for p in entry.punches]
    elif entry.hours is not None:
        if entry.hours < 0:
            raise ContentError(f"{day.isoformat()} has negative hours ({entry.hours:g})")
        hours, punches = round(entry.hours, 4) + 0.0, None  # + 0.0: -0.0 hours are stored as 0
    else:
        raise ContentError(f"{day.isoformat()} has neither hours nor punches")
    if hours > MAX_HOURS_PER_DAY:
        raise ContentError(
            f"{day.isoformat()} has {hours:g} hours on pay code {pay_code}; no pay code may exceed 24 hours a day"
        )
    return Day(date=day, hours=hours, punches=punches)


def check_timecard(
    timecard: TimecardIn,
    *,
    weekend_bill: date,
    pay_codes: Sequence[str],
    expected_employee_id: int,
) -> TimecardDraft:
    """Check one timecard's content against its week and its assignment; raise ContentError if bad."""
    pay_code = timecard.pay_code.strip().upper()
    if pay_code not in pay_codes:
        raise ContentError(f'pay code "{timecard.pay_code[:20]}" is not one of {", ".join(pay_codes)}')
    if timecard.employee_id != expected_employee_id:
        raise ContentError(
            f"employee {timecard.employee_id} is not the employee of assignment {timecard.assignment_id}"
        )
    first, last = week_dates(weekend_bill)
    days: list[Day] = []
    for index, entry in enumerate(timecard.days):
        day = check_day(entry, field=f"days[{index}]", pay_code=pay_code, first=first, last=last)
        if any(d.date == day.date for d in days):
            raise ContentError(f"date {day.date.isoformat()} appears twice for pay code {pay_code}")
        days.append(day)
    days.sort(key=lambda d: d.date)
    adjustments = tuple(
        # + 0.0: an amount of -0.0 is stored as 0
        Adjustment(code=a.code.strip(), amount=a.amount + 0.0, description=a.description)
        for a in timecard.adjustments
    )
    total = round(sum(d.hours for d in days), 4)
    return TimecardDraft(pay_code=pay_code, days=tuple(days), total_hours=total, adjustments=adjustments)


@dataclass(frozen=True)
class _Shift:
    """One punch pair on the week's clock: minutes after the first midnight of the week."""

    start: int
    end: int
    day: date
    pay_code: str
    punch: Punch

    def named(self, on: date) -> str:
        text = f"{self.pay_code} {self.punch.in_}-{self.punch.out}"
        return text if self.day == on else f"{text} (punched in {self.day.isoformat()})"


def _shifts(drafts: Sequence[TimecardDraft], first: date) -> list[_Shift]:
    shifts = []
    for draft in drafts:
        for day in draft.days:
            for punch in day.punches or ():
                start = (day.date - first).days * 24 * 60 + parse_military_time(punch.in_)
                end = start + punch_minutes(punch.in_, punch.out)
                shifts.append(_Shift(start, end, day.date, draft.pay_code, punch))
    return shifts


def check_overlaps(drafts: Sequence[TimecardDraft], *, weekend_bill: date) -> None:
    """Time is paid once: no two punch pairs of one assignment's week may share a minute (touching is fine)."""
    latest: _Shift | None = None  # of the shifts so far, the one that ends last
    for shift in sorted(_shifts(drafts, week_dates(weekend_bill)[0]), key=lambda s: s.start):
        if latest is not None and shift.start < latest.end:
            on = shift.day
            raise PunchOverlapError(on, latest.named(on), shift.named(on))
        if latest is None or shift.end > latest.end:
            latest = shift


def stacked_day_warnings(drafts: Sequence[TimecardDraft]) -> list[str]:
    """Days whose pay codes add up to over 24 hours: allowed (holiday pay stacks), but worth a look."""
    codes_by_day: dict[date, dict[str, float]] = defaultdict(dict)
    for draft in drafts:
        for entry in draft.days:
            codes_by_day[entry.date][draft.pay_code] = entry.hours
    warnings = []
    for day, codes in sorted(codes_by_day.items()):
        total = round(sum(codes.values()), 4)
        if total > MAX_HOURS_PER_DAY:
            warnings.append(
                f"{day.isoformat()} adds up to {total:g} hours across pay codes {', '.join(sorted(codes))}, "
                "more than 24 hours in one day; check that they are meant to stack"
            )
    return warnings


def check_unit(
    timecards: Sequence[TimecardIn],
    *,
    weekend_bill: date,
    pay_codes: Sequence[str],
    expected_employee_id: int,
) -> CheckedUnit:
    """Check all timecards of one assignment for one week; a pay code may appear once, time is paid once."""
    drafts: list[TimecardDraft] = []
    seen: set[str] = set()
    for timecard in timecards:
        draft = check_timecard(
            timecard, weekend_bill=weekend_bill, pay_codes=pay_codes, expected_employee_id=expected_employee_id
        )
        if draft.pay_code in seen:
            raise ContentError(f"pay code {draft.pay_code} appears twice for assignment {timecard.assignment_id}")
        seen.add(draft.pay_code)
        drafts.append(draft)
    check_overlaps(drafts, weekend_bill=weekend_bill)
    return CheckedUnit(drafts=drafts, warnings=stacked_day_warnings(drafts))


def timecard_id(assignment_id: int, weekend_bill: date, pay_code: str) -> str:
    """Stable id: the same assignment, week and pay code is the same timecard across re-sends."""
    return f"TC-{assignment_id}-{weekend_bill.strftime('%Y%m%d')}-{pay_code}"
