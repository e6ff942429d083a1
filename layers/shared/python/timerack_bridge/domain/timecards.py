"""Hours, punches and the content checks of one assignment's timecards (DESIGN.md §3)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from timerack_bridge.models import (
    Adjustment,
    Day,
    Punch,
    TimecardIn,
)

MAX_HOURS_PER_DAY = 24.0
# ASCII digits, matched whole ("0800\n" or other scripts' digits are not military time).
_HHMM = re.compile(r"([01][0-9]|2[0-3])([0-5][0-9])")


class ContentError(ValueError):
    """Bad content inside one assignment: the assignment's error, the rest of the batch goes on."""


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
    seen: set[date] = set()
    days: list[Day] = []
    for entry in timecard.days:
        try:
            day = date.fromisoformat(entry.date)
        except ValueError:
            raise ContentError(f'date "{entry.date[:20]}" is not a date (YYYY-MM-DD)') from None
        if not first <= day <= last:
            raise ContentError(f"date {day.isoformat()} is outside the week {first.isoformat()} to {last.isoformat()}")
        if day in seen:
            raise ContentError(f"date {day.isoformat()} appears twice for pay code {pay_code}")
        seen.add(day)
        if entry.hours is not None and entry.punches:
            raise ContentError(f"{day.isoformat()} has both hours and punches; send one or the other")
        if entry.punches:
            hours = hours_of_punches([(p.in_, p.out) for p in entry.punches])
            punches = [Punch(in_=p.in_, out=p.out) for p in entry.punches]
        elif entry.hours is not None:
            if entry.hours < 0:
                raise ContentError(f"{day.isoformat()} has negative hours ({entry.hours:g})")
            hours, punches = round(entry.hours, 4), None
        else:
            raise ContentError(f"{day.isoformat()} has neither hours nor punches")
        if hours > MAX_HOURS_PER_DAY:
            raise ContentError(
                f"{day.isoformat()} has {hours:g} hours on pay code {pay_code}; no pay code may exceed 24 hours a day"
            )
        days.append(Day(date=day, hours=hours, punches=punches))
    days.sort(key=lambda d: d.date)
    adjustments = tuple(
        Adjustment(code=a.code.strip(), amount=a.amount, description=a.description) for a in timecard.adjustments
    )
    total = round(sum(d.hours for d in days), 4)
    return TimecardDraft(pay_code=pay_code, days=tuple(days), total_hours=total, adjustments=adjustments)


def check_unit(
    timecards: Sequence[TimecardIn],
    *,
    weekend_bill: date,
    pay_codes: Sequence[str],
    expected_employee_id: int,
) -> list[TimecardDraft]:
    """Check all timecards of one assignment for one week; a pay code may appear once."""
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
    return drafts


def timecard_id(assignment_id: int, weekend_bill: date, pay_code: str) -> str:
    """Stable id: the same assignment, week and pay code is the same timecard across re-sends."""
    return f"TC-{assignment_id}-{weekend_bill.strftime('%Y%m%d')}-{pay_code}"
