"""The Timerack Feed file of the manual Timecard Import: read every row strictly, name every row it cannot read.

Columns: Assignment ID, Employee ID, Pay Code, Date, Hours, Punch In, Punch Out, Adjustment Code,
Adjustment Amount, Adjustment Description. A row with a date carries hours or one punch pair; a row
without a date carries an adjustment. Rows of one assignment and pay code make one timecard.

Rows are numbered as a spreadsheet shows them: the header is row 1 and every record of the CSV, a
blank one included, is the next row, even when a quoted cell holds line breaks (then the message also
names the line of the file the row starts on). A message never repeats a cell's text: a mistyped
cell can hold anything, an SSN included.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date

from timerack_bridge.domain.batch import AdjustmentIn, DayIn, PunchIn, TimecardIn
from timerack_bridge.domain.timecards import (
    MAX_HOURS_PER_DAY,
    ContentError,
    hours_of_punches,
    parse_military_time,
    week_dates,
)

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
# The limits of the timecard model (TimecardIn), checked per row so that a file never fails as a whole.
MAX_RECORD_ID = 2**53
MAX_ADJUSTMENT_AMOUNT = 1_000_000
MAX_ADJUSTMENTS = 50
MAX_PUNCHES_PER_DAY = 24
MAX_TEXT = {"Pay Code": 20, "Adjustment Code": 40, "Adjustment Description": 200}

# ASCII only: int() and float() also take "٣٠٠١", "1_000", " 8 ", "nan", "inf" and "1e3".
_DIGITS = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"-?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_BLANK = " \t"


@dataclass(frozen=True)
class RowError:
    row: int
    message: str


@dataclass
class FeedReading:
    rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    timecards: list[TimecardIn] = field(default_factory=list)
    # The rows each assignment was read from: a unit the pipeline refuses is reported on these rows.
    rows_of_assignment: dict[int, list[int]] = field(default_factory=dict)


class _RowProblem(ValueError):
    pass


def read_feed(content: str, *, weekend_bill: date | None = None, pay_codes: Sequence[str] | None = None) -> FeedReading:
    """Read a Timerack Feed; with a weekend bill, every Date must fall in that week."""
    reading = FeedReading()
    records = _records(content.removeprefix("\ufeff"))
    header = _read_header(next(records, None), reading)
    if header is None:
        return reading
    cards = _FeedCards(header, weekend_bill, pay_codes)
    for row, line, cells in records:
        if isinstance(cells, list) and not any(c.strip(_BLANK) for c in cells):
            continue  # a blank row carries nothing
        reading.rows += 1
        try:
            if isinstance(cells, csv.Error):
                raise _RowProblem(_csv_problem(cells, line, content, header))
            _check_shape(cells, header)
            cards.add(row, [c.strip(_BLANK) for c in cells])
        except (_RowProblem, ContentError) as exc:
            where = f" (line {line} of the file)" if line != row else ""
            reading.errors.append(RowError(row, f"{exc}{where}"))
    reading.timecards = cards.timecards()
    reading.rows_of_assignment = cards.rows_of_assignment
    return reading


def _records(text: str) -> Iterator[tuple[int, int, list[str] | csv.Error]]:
    """Each CSV record with its row (header = 1) and the line of the file it starts on."""
    reader = csv.reader(io.StringIO(text), strict=True)  # strict: an unclosed quote is an error, not a cell
    row = 0
    while True:
        line, row = reader.line_num + 1, row + 1
        try:
            yield row, line, next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield row, line, exc


def _read_header(record: tuple[int, int, list[str] | csv.Error] | None, reading: FeedReading) -> list[str] | None:
    problem = None
    if record is None:
        problem = "the file is empty; it needs the Timerack Feed header row"
    elif isinstance(record[2], csv.Error):
        problem = f"the header row is not CSV: {_csv_problem(record[2], 1, '', [])}"
    else:
        header = [h.strip(_BLANK) for h in record[2]]
        missing = [c for c in FEED_COLUMNS if c not in header]
        twice = [c for c in FEED_COLUMNS if header.count(c) > 1]
        if missing:
            problem = f"missing column(s): {', '.join(missing)}"
        elif twice:
            problem = f"the header names {', '.join(twice)} more than once"
        else:
            return header
    reading.errors.append(RowError(1, problem))
    return None


def _csv_problem(exc: csv.Error, line: int, content: str, header: list[str]) -> str:
    if "unexpected end of data" in str(exc):
        column = _unclosed_column(content, line, header)
        return (
            f'{column} opens a quote (") that is never closed: every line after it would be read into that one '
            "cell, so no row after it was read. Close the quote or remove it"
        )
    if "expected after" in str(exc):
        return 'a cell has text after its closing quote ("); a quoted cell ends at its quote (write "" for a quote)'
    if "new-line" in str(exc):
        return "the row holds a carriage return (CR) outside quotes; save the file with CRLF or LF line endings"
    return f"the row is not CSV ({exc})"


def _unclosed_column(content: str, line: int, header: list[str]) -> str:
    """The column whose quote never closes: read leniently, that cell runs to the end of the file."""
    rest = "\n".join(content.removeprefix("\ufeff").split("\n")[line - 1 :])
    cells = next(csv.reader(io.StringIO(rest)), [])
    index = len(cells) - 1
    return header[index] if 0 <= index < len(header) else "a cell"


def _check_shape(cells: list[str], header: list[str]) -> None:
    if len(cells) != len(header):
        raise _RowProblem(f"the row has {len(cells)} cells; the header has {len(header)}")
    for name, cell in zip(header, cells, strict=True):
        if "\x00" in cell:
            raise _RowProblem(f"{name or 'a cell'} holds a NUL character; the file may be damaged or not text")


def _record_id(value: str, column: str) -> int:
    if not value:
        raise _RowProblem(f"{column} is missing")
    if not _DIGITS.fullmatch(value) or not 1 <= int(value) <= MAX_RECORD_ID:
        raise _RowProblem(f"{column} is not an id (digits 0-9 only, at least 1)")
    return int(value)


def _decimal(value: str, column: str) -> float:
    if not _DECIMAL.fullmatch(value):
        raise _RowProblem(f"{column} is not a plain decimal number like 7.5 (digits 0-9, a point, no exponent)")
    return float(value) + 0.0  # + 0.0: "-0" is stored as 0


def _feed_date(value: str, week: tuple[date, date] | None) -> date:
    try:
        day = date.fromisoformat(value) if _ISO_DATE.fullmatch(value) else None
    except ValueError:
        day = None
    if day is None:
        raise _RowProblem("Date is not a date written YYYY-MM-DD")
    if week is not None and not week[0] <= day <= week[1]:
        raise _RowProblem(f"Date {day.isoformat()} is outside the week {week[0].isoformat()} to {week[1].isoformat()}")
    return day


@dataclass
class _Card:
    """One assignment and pay code's timecard as read so far."""

    days: dict[date, dict[str, object]] = field(default_factory=dict)
    day_hours: dict[date, float] = field(default_factory=dict)
    adjustments: list[AdjustmentIn] = field(default_factory=list)


class _FeedCards:
    """Gathers the rows into timecards; a row that fails any check changes nothing."""

    def __init__(self, header: list[str], weekend_bill: date | None, pay_codes: Sequence[str] | None) -> None:
        self.index = {name: header.index(name) for name in FEED_COLUMNS}
        self.week = week_dates(weekend_bill) if weekend_bill else None
        self.pay_codes = [c.upper() for c in pay_codes] if pay_codes else None
        self.cards: dict[tuple[int, str], _Card] = {}
        self.employee_of: dict[int, tuple[int, int]] = {}  # assignment -> (employee, first row)
        self.rows_of_assignment: dict[int, list[int]] = {}

    def add(self, row: int, cells: list[str]) -> None:
        values = {name: cells[i] for name, i in self.index.items()}
        for name, limit in MAX_TEXT.items():
            if len(values[name]) > limit:
                raise _RowProblem(f"{name} is longer than {limit} characters")
        assignment_id = _record_id(values["Assignment ID"], "Assignment ID")
        employee_id = _record_id(values["Employee ID"], "Employee ID")
        first = self.employee_of.get(assignment_id)
        if first is not None and first[0] != employee_id:
            raise _RowProblem(
                f"Employee ID {employee_id} differs from Employee ID {first[0]} on row {first[1]} "
                f"(assignment {assignment_id})"
            )
        if values["Date"]:
            self._add_day(assignment_id, values)
        else:
            self._add_adjustment(assignment_id, values)
        self.employee_of.setdefault(assignment_id, (employee_id, row))
        self.rows_of_assignment.setdefault(assignment_id, []).append(row)

    def _pay_code(self, value: str) -> str:
        pay_code = value.upper()
        if self.pay_codes is not None and pay_code not in self.pay_codes:
            raise _RowProblem(f"Pay Code is not one of {', '.join(self.pay_codes)}")
        return pay_code

    def _add_day(self, assignment_id: int, values: dict[str, str]) -> None:
        if not values["Pay Code"]:
            raise _RowProblem("Pay Code is missing")
        if values["Adjustment Code"] or values["Adjustment Amount"] or values["Adjustment Description"]:
            raise _RowProblem(
                "the row has a Date and an adjustment; put the adjustment on a row of its own, without Date"
            )
        pay_code = self._pay_code(values["Pay Code"])
        day = _feed_date(values["Date"], self.week)
        entry, hours = _day_entry(values)
        card = self.cards.get((assignment_id, pay_code)) or _Card()
        existing = card.days.get(day)
        if existing is not None and ("punches" in existing) != ("punches" in entry):
            raise _RowProblem(f"{day.isoformat()} has hours on one row and punches on another for pay code {pay_code}")
        total = card.day_hours.get(day, 0.0) + hours
        if total > MAX_HOURS_PER_DAY:
            raise _RowProblem(
                f"Hours on {day.isoformat()} come to more than 24 for pay code {pay_code}"
                f"{' with the rows above' if existing else ''}; no pay code may exceed 24 hours a day"
            )
        merged: dict[str, object] = {"date": day.isoformat(), "hours": total}
        if "punches" in entry:
            punches = [*(existing or {}).get("punches", []), *entry["punches"]]  # type: ignore[misc]
            if len(punches) > MAX_PUNCHES_PER_DAY:
                raise _RowProblem(
                    f"{day.isoformat()} has more than {MAX_PUNCHES_PER_DAY} punch pairs on pay code {pay_code}"
                )
            merged = {"date": day.isoformat(), "punches": punches}
        card.days[day], card.day_hours[day] = merged, total
        self.cards.setdefault((assignment_id, pay_code), card)

    def _add_adjustment(self, assignment_id: int, values: dict[str, str]) -> None:
        if values["Hours"] or values["Punch In"] or values["Punch Out"]:
            raise _RowProblem("Date is missing: a row with Hours or a punch needs its Date")
        if not values["Adjustment Code"]:
            raise _RowProblem("a row without a Date must carry an adjustment (Adjustment Code and Amount)")
        if not values["Adjustment Amount"]:
            raise _RowProblem("Adjustment Amount is missing")
        amount = _decimal(values["Adjustment Amount"], "Adjustment Amount")
        if abs(amount) > MAX_ADJUSTMENT_AMOUNT:
            raise _RowProblem(f"Adjustment Amount is beyond {MAX_ADJUSTMENT_AMOUNT:,} either way")
        if values["Pay Code"]:
            pay_code = self._pay_code(values["Pay Code"])
        else:  # the assignment's first pay code, as the adjustment belongs to the assignment's week
            pay_code = next((code for (a, code) in self.cards if a == assignment_id), DEFAULT_PAY_CODE)
        card = self.cards.get((assignment_id, pay_code)) or _Card()
        if len(card.adjustments) >= MAX_ADJUSTMENTS:
            raise _RowProblem(
                f"assignment {assignment_id} has more than {MAX_ADJUSTMENTS} adjustments on pay code {pay_code}"
            )
        card.adjustments.append(
            AdjustmentIn(code=values["Adjustment Code"], amount=amount, description=values["Adjustment Description"])
        )
        self.cards.setdefault((assignment_id, pay_code), card)

    def timecards(self) -> list[TimecardIn]:
        return [
            TimecardIn(
                assignment_id=assignment_id,
                employee_id=self.employee_of[assignment_id][0],
                pay_code=pay_code,
                days=[DayIn.model_validate(d) for _, d in sorted(card.days.items())],
                adjustments=card.adjustments,
            )
            for (assignment_id, pay_code), card in self.cards.items()
        ]


def _day_entry(values: dict[str, str]) -> tuple[dict[str, object], float]:
    """A day row's hours or punch pair, and the hours it adds."""
    has_hours = bool(values["Hours"])
    has_punch = bool(values["Punch In"] or values["Punch Out"])
    if has_hours and has_punch:
        raise _RowProblem("the row has both Hours and a punch; a row carries one or the other")
    if has_punch:
        if not (values["Punch In"] and values["Punch Out"]):
            raise _RowProblem("a punch needs both Punch In and Punch Out")
        for column in ("Punch In", "Punch Out"):
            try:
                parse_military_time(values[column])
            except ContentError:
                raise _RowProblem(f"{column} is not military time HHMM (0000 to 2359)") from None
        if values["Punch In"] == values["Punch Out"]:
            raise _RowProblem("Punch In and Punch Out are the same time")
        hours = hours_of_punches([(values["Punch In"], values["Punch Out"])])
        return {"punches": [{"in": values["Punch In"], "out": values["Punch Out"]}]}, hours
    if not has_hours:
        raise _RowProblem("a row with a Date needs Hours or Punch In and Punch Out")
    hours = _decimal(values["Hours"], "Hours")
    if hours < 0:
        raise _RowProblem("Hours are negative; hours are at least 0")
    return {"hours": hours}, hours


__all__ = ["FEED_COLUMNS", "FeedReading", "PunchIn", "RowError", "read_feed"]
