"""The Timerack Feed file of the manual Timecard Import: read every row, report what cannot be read.

Columns: Assignment ID, Employee ID, Pay Code, Date, Hours, Punch In, Punch Out, Adjustment Code,
Adjustment Amount, Adjustment Description. A row with a date carries hours or one punch pair; a row
without a date carries an adjustment. Rows of one assignment and pay code make one timecard.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from datetime import date, datetime

from timerack_bridge.domain.timecards import ContentError, parse_military_time
from timerack_bridge.models import AdjustmentIn, DayIn, PunchIn, TimecardIn

FEED_COLUMNS = (
    "Assignment ID",
    "Employee ID",
    "Pay Code",
    "Date",
    "Hours",
    "Punch In",
    "Punch Out",
    "Adjustment Code",
    "Adjustment Amount",
    "Adjustment Description",
)
DEFAULT_PAY_CODE = "REG"


@dataclass(frozen=True)
class RowError:
    row: int
    message: str


@dataclass
class FeedReading:
    rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    timecards: list[TimecardIn] = field(default_factory=list)


class _RowProblem(ValueError):
    pass


def _integer(value: str, column: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise _RowProblem(f'{column} "{value[:20]}" is not a whole number') from None
    if number < 1:
        raise _RowProblem(f"{column} must be a positive id")
    return number


def _number(value: str, column: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise _RowProblem(f'{column} "{value[:20]}" is not a number') from None
    if not math.isfinite(number):
        raise _RowProblem(f"{column} must be a finite number")
    return number


def _date(value: str) -> date:
    for layout in ("%Y-%m-%d", "%m/%d/%Y"):
        try:
            return datetime.strptime(value, layout).date()
        except ValueError:
            continue
    raise _RowProblem(f'Date "{value[:20]}" is not a date (YYYY-MM-DD or MM/DD/YYYY)')


def read_feed(content: str) -> FeedReading:
    """Read a Timerack Feed; row numbers count the header as row 1, as a spreadsheet shows them."""
    reading = FeedReading()
    reader = csv.reader(io.StringIO(content.lstrip("\ufeff")))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        reading.errors.append(RowError(1, "the file is empty; it needs the Timerack Feed header row"))
        return reading
    except csv.Error as exc:
        reading.errors.append(RowError(1, f"the header row is not CSV: {exc}"))
        return reading
    missing = [c for c in FEED_COLUMNS if c not in header]
    if missing:
        reading.errors.append(RowError(1, f"missing column(s): {', '.join(missing)}"))
        return reading
    index = {name: header.index(name) for name in FEED_COLUMNS}

    # (assignment, pay code) -> employee, days by date, adjustments; first-seen order kept
    cards: dict[tuple[int, str], dict[str, object]] = {}
    days: dict[tuple[int, str], dict[date, dict[str, object]]] = {}
    row_number = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            row_number += 1
            reading.errors.append(RowError(row_number, f"not CSV: {exc}"))
            continue
        row_number = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        reading.rows += 1
        values = {name: (cells[i].strip() if i < len(cells) else "") for name, i in index.items()}
        try:
            _read_row(values, cards, days)
        except (_RowProblem, ContentError) as exc:
            reading.errors.append(RowError(row_number, str(exc)))

    for (assignment_id, pay_code), card in cards.items():
        reading.timecards.append(
            TimecardIn(
                assignment_id=assignment_id,
                employee_id=card["employee_id"],  # type: ignore[arg-type]
                pay_code=pay_code,
                days=[DayIn.model_validate(d) for _, d in sorted(days[(assignment_id, pay_code)].items())],
                adjustments=card["adjustments"],  # type: ignore[arg-type]
            )
        )
    return reading


def _read_row(
    values: dict[str, str],
    cards: dict[tuple[int, str], dict[str, object]],
    days: dict[tuple[int, str], dict[date, dict[str, object]]],
) -> None:
    for column in ("Assignment ID", "Employee ID"):
        if not values[column]:
            raise _RowProblem(f"{column} is missing")
    assignment_id = _integer(values["Assignment ID"], "Assignment ID")
    employee_id = _integer(values["Employee ID"], "Employee ID")
    pay_code = (values["Pay Code"] or "").upper()
    if values["Date"]:
        if not pay_code:
            raise _RowProblem("Pay Code is missing")
        day = _date(values["Date"])
        has_hours = bool(values["Hours"])
        has_punch = bool(values["Punch In"] or values["Punch Out"])
        if has_hours and has_punch:
            raise _RowProblem("the row has both Hours and a punch; a row carries one or the other")
        entry: dict[str, object]
        if has_punch:
            if not (values["Punch In"] and values["Punch Out"]):
                raise _RowProblem("a punch needs both Punch In and Punch Out")
            parse_military_time(values["Punch In"])
            parse_military_time(values["Punch Out"])
            entry = {"punches": [{"in": values["Punch In"], "out": values["Punch Out"]}]}
        elif has_hours:
            entry = {"hours": _number(values["Hours"], "Hours")}
        else:
            raise _RowProblem("a row with a Date needs Hours or Punch In and Punch Out")
        card = cards.setdefault((assignment_id, pay_code), {"employee_id": employee_id, "adjustments": []})
        _same_employee(card, employee_id, assignment_id)
        existing = days.setdefault((assignment_id, pay_code), {}).get(day)
        if existing is None:
            days[(assignment_id, pay_code)][day] = {"date": day.isoformat(), **entry}
        elif "punches" in entry and "punches" in existing:
            existing["punches"] = [*existing["punches"], *entry["punches"]]  # type: ignore[list-item,misc]
        elif "hours" in entry and "hours" in existing:
            existing["hours"] = float(existing["hours"]) + float(entry["hours"])  # type: ignore[arg-type]
        else:
            raise _RowProblem(f"{day.isoformat()} has hours on one row and punches on another for pay code {pay_code}")
        return
    if not values["Adjustment Code"]:
        raise _RowProblem("a row without a Date must carry an adjustment (Adjustment Code and Amount)")
    if not values["Adjustment Amount"]:
        raise _RowProblem("Adjustment Amount is missing")
    amount = _number(values["Adjustment Amount"], "Adjustment Amount")
    pay_code = pay_code or next((code for (a, code) in cards if a == assignment_id), DEFAULT_PAY_CODE)
    card = cards.setdefault((assignment_id, pay_code), {"employee_id": employee_id, "adjustments": []})
    days.setdefault((assignment_id, pay_code), {})
    _same_employee(card, employee_id, assignment_id)
    card["adjustments"].append(  # type: ignore[attr-defined]
        AdjustmentIn(code=values["Adjustment Code"], amount=amount, description=values["Adjustment Description"][:200])
    )


def _same_employee(card: dict[str, object], employee_id: int, assignment_id: int) -> None:
    if card["employee_id"] != employee_id:
        raise _RowProblem(
            f"Employee ID {employee_id} differs from Employee ID {card['employee_id']} on earlier rows of "
            f"assignment {assignment_id}"
        )


__all__ = ["FEED_COLUMNS", "FeedReading", "PunchIn", "RowError", "read_feed"]
