"""The Timerack Feed is read strictly (issue 13, points 2 and 3): every unreadable row is named, never
swallowed, and every value is exactly what the column says (ASCII digits, a plain decimal, YYYY-MM-DD)."""

from __future__ import annotations

from datetime import date

import pytest

from timerack_bridge.domain.feed import read_feed

HEADER = (
    "Assignment ID,Employee ID,Pay Code,Date,Hours,Punch In,Punch Out,"
    "Adjustment Code,Adjustment Amount,Adjustment Description\n"
)
WB = date(2026, 11, 22)
PAY_CODES = ("REG", "OT", "DT")


def read(*lines: str, weekend_bill: date | None = WB):  # type: ignore[no-untyped-def]
    return read_feed(HEADER + "".join(f"{line}\n" for line in lines), weekend_bill=weekend_bill, pay_codes=PAY_CODES)


def errors(*lines: str) -> dict[int, str]:
    return {e.row: e.message for e in read(*lines).errors}


# ---------------------------------------------------------------- 2. a row is never lost


def test_an_unclosed_quote_is_an_error_on_its_row_and_swallows_nothing() -> None:
    # Given an Adjustment Description that opens a quote and never closes it, followed by hour rows
    reading = read(
        "3001,504,REG,2026-11-16,8,,,,,",
        '3001,504,,,,,,BONUS,25,"Perfect attendance',
        "3002,505,REG,2026-11-17,9,,,,,",
        "3002,505,REG,2026-11-18,8,,,,,",
    )
    # Then row 3 is the error, naming the column, and no hours became a description
    assert [e.row for e in reading.errors] == [3]
    message = reading.errors[0].message
    assert "Adjustment Description" in message and "never closed" in message
    assert all(not a.description.startswith("Perfect") for t in reading.timecards for a in t.adjustments)


def test_an_unclosed_quote_in_the_header_is_row_1() -> None:
    reading = read_feed('Assignment ID,"Employee ID\n3001,504,REG,2026-11-16,8,,,,,\n')
    assert [e.row for e in reading.errors] == [1] and "never closed" in reading.errors[0].message


def test_text_after_a_closing_quote_is_an_error() -> None:
    assert "closing quote" in errors('3001,504,,,,,,BONUS,25,"Perfect" attendance')[2]


@pytest.mark.parametrize(
    ("line", "cells"),
    [("3001,504,REG,2026-11-16,8,,,,,,", 11), ("3001,504,REG,2026-11-16,8,,,,", 9), ("3001,504,REG", 3)],
)
def test_a_row_with_more_or_fewer_cells_than_the_header_is_an_error(line: str, cells: int) -> None:
    reading = read("3001,504,REG,2026-11-17,8,,,,,", line)
    assert [(e.row, e.message) for e in reading.errors] == [(3, f"the row has {cells} cells; the header has 10")]


def test_a_nul_character_is_an_error_naming_its_column() -> None:
    message = errors("3001,504,,,,,,BONUS,25,Perfect\x00attendance")[2]
    assert "NUL" in message and "Adjustment Description" in message


def test_rows_are_numbered_as_a_spreadsheet_shows_them_not_as_lines_of_the_file() -> None:
    # Given a description holding a line break (row 2 spans lines 2-3) and a blank line (row 3)
    reading = read('3001,504,,,,,,BONUS,25,"Perfect\nattendance"', "", "3001,504,REG,2026-11-16,eight,,,,,")
    # Then the bad row is row 4 (header = row 1), and the message also names its line of the file
    [error] = reading.errors
    assert error.row == 4 and "line 5 of the file" in error.message
    assert reading.timecards[0].adjustments[0].description == "Perfect\nattendance"


def test_the_rows_of_each_assignment_are_kept_to_name_them_later() -> None:
    reading = read("3001,504,REG,2026-11-16,8,,,,,", "3002,505,REG,2026-11-16,8,,,,,", "3001,504,,,,,,BONUS,5,")
    assert reading.rows_of_assignment == {3001: [2, 4], 3002: [3]}


def test_a_header_naming_a_column_twice_is_an_error() -> None:
    reading = read_feed(HEADER.replace("\n", ",Hours\n"))
    assert reading.errors[0].row == 1 and "Hours" in reading.errors[0].message


# ---------------------------------------------------------------- 3. a date is a date, a number is a number


@pytest.mark.parametrize("value", ["\u0663\u0660\u0660\u0661", "3_001", "+3001", "3001.0", "3 001", "0x1", "0", "1e3"])
def test_an_id_is_ascii_digits(value: str) -> None:
    message = errors(f"{value},504,REG,2026-11-16,8,,,,,")[2]
    assert message.startswith("Assignment ID")


def test_an_id_beyond_the_largest_record_id_is_a_row_error_not_a_crash() -> None:
    assert "Employee ID" in errors("3001,99999999999999999999,REG,2026-11-16,8,,,,,")[2]


@pytest.mark.parametrize("value", ["nan", "inf", "1e3", "1_0", "\u0668", "8,5", "0x8", "8h", "+8", "- 8"])
def test_hours_are_a_plain_decimal(value: str) -> None:
    line = f'3001,504,REG,2026-11-16,"{value}",,,,,'
    assert errors(line)[2].startswith("Hours")


@pytest.mark.parametrize("value", ["-8", "-0.5"])
def test_hours_are_at_least_0(value: str) -> None:
    assert "at least 0" in errors(f"3001,504,REG,2026-11-16,{value},,,,,")[2]


@pytest.mark.parametrize("value", ["-0", "-0.0", "0"])
def test_minus_zero_hours_are_stored_as_0(value: str) -> None:
    [card] = read(f"3001,504,REG,2026-11-16,{value},,,,,").timecards
    assert str(card.days[0].hours) == "0.0"


@pytest.mark.parametrize("value", ["nan", "1e3", "1_0", "\u0662\u0665", "25.", "$25", "1000001"])
def test_an_adjustment_amount_is_a_plain_decimal_within_a_million(value: str) -> None:
    assert errors(f"3001,504,,,,,,BONUS,{value},")[2].startswith("Adjustment Amount")


@pytest.mark.parametrize(("value", "amount"), [("-25.50", -25.5), ("25", 25.0), (".5", 0.5), ("-0", 0.0)])
def test_an_adjustment_amount_may_be_negative(value: str, amount: float) -> None:
    [card] = read(f"3001,504,,,,,,BONUS,{value},").timecards
    assert str(card.adjustments[0].amount) == str(amount)


@pytest.mark.parametrize(
    "value", ["11/16/2026", "20261116", "2026-W47-1", "2026-320", "2026-11-16T00:00", "2026-13-01", "\u0662026-11-16"]
)
def test_a_date_is_yyyy_mm_dd(value: str) -> None:
    message = errors(f"3001,504,REG,{value},8,,,,,")[2]
    assert message.startswith("Date") and "YYYY-MM-DD" in message


def test_a_date_outside_the_import_week_is_an_error_on_its_row() -> None:
    message = errors("3001,504,REG,2026-11-16,8,,,,,", "3001,504,REG,2026-11-23,8,,,,,")[3]
    assert "outside the week 2026-11-16 to 2026-11-22" in message


def test_more_than_24_hours_on_a_day_is_an_error_on_the_row_that_crosses_it() -> None:
    found = errors(
        "3001,504,REG,2026-11-16,25,,,,,", "3001,504,REG,2026-11-17,20,,,,,", "3001,504,REG,2026-11-17,5,,,,,"
    )
    assert sorted(found) == [2, 4] and "24 hours" in found[2] and "24 hours" in found[4]


def test_a_pay_code_not_in_the_agencys_list_is_an_error_on_its_row() -> None:
    assert errors("3001,504,XYZ,2026-11-16,8,,,,,")[2] == "Pay Code is not one of REG, OT, DT"


def test_a_too_long_adjustment_code_or_description_is_an_error_not_cut() -> None:
    found = errors(f"3001,504,,,,,,{'B' * 41},5,", f"3001,504,,,,,,BONUS,5,{'d' * 201}")
    assert found[2].startswith("Adjustment Code") and found[3].startswith("Adjustment Description")


def test_punch_times_are_checked_on_their_row() -> None:
    found = errors("3001,504,REG,2026-11-16,,0800,0800,,,", "3001,504,REG,2026-11-17,,0800,\u0661\u0666\u0660\u0660,,,")
    assert "same time" in found[2] and "military time" in found[3]


def test_hours_on_a_row_without_a_date_or_an_adjustment_on_a_day_row_are_errors_not_dropped() -> None:
    found = errors("3001,504,REG,,8,,,BONUS,5,", "3001,504,REG,2026-11-16,8,,,BONUS,5,")
    assert found[2].startswith("Date is missing") and "adjustment on a row of its own" in found[3]


def test_rows_of_one_assignment_must_name_one_employee() -> None:
    message = errors("3001,504,REG,2026-11-16,8,,,,,", "3001,505,OT,2026-11-16,8,,,,,")[3]
    assert message == "Employee ID 505 differs from Employee ID 504 on row 2 (assignment 3001)"


@pytest.mark.parametrize(
    "line",
    [
        "123-45-6789,504,REG,2026-11-16,8,,,,,",
        "3001,123-45-6789,REG,2026-11-16,8,,,,,",
        "3001,504,123-45-6789,2026-11-16,8,,,,,",
        "3001,504,REG,123-45-6789,8,,,,,",
        "3001,504,REG,2026-11-16,123-45-6789,,,,,",
        "3001,504,REG,2026-11-16,123456789,,,,,",
        "3001,504,REG,2026-11-16,,123-45-6789,0800,,,",
        "3001,504,,,,,,BONUS,123-45-6789,",
        "3001,504,,,,,,BONUS,123456789,",
    ],
)
def test_a_message_never_repeats_the_cell_an_ssn_may_have_been_typed_into(line: str) -> None:
    [message] = errors(line).values()
    assert "6789" not in message


def test_a_bare_carriage_return_outside_quotes_is_an_error_on_its_row() -> None:
    assert "carriage return" in errors("3001,504,REG,2026-11-16,8,,,BONUS\rX,5,")[2]
