"""Time that overlaps is not paid twice; one day's pay codes over 24 hours are a warning, not an error."""

from __future__ import annotations

from datetime import date

import pytest

from timerack_bridge.domain.batch import TimecardIn
from timerack_bridge.domain.timecards import ContentError, check_unit

WB = date(2026, 11, 22)  # Sunday; the week is Monday 2026-11-16 to Sunday 2026-11-22


def card(pay_code: str, *days: dict[str, object]) -> TimecardIn:
    return TimecardIn.model_validate({"assignmentId": 1001, "employeeId": 7, "payCode": pay_code, "days": list(days)})


def punches(day: str, *pairs: str) -> dict[str, object]:
    return {"date": day, "punches": [{"in": p[:4], "out": p[5:]} for p in pairs]}


def check(*cards: TimecardIn):  # type: ignore[no-untyped-def]
    return check_unit(cards, weekend_bill=WB, pay_codes=("REG", "OT", "DT", "HOL"), expected_employee_id=7)


@pytest.mark.parametrize(
    ("cards", "named"),
    [
        # the same punch pair sent three times on one day of one pay code
        (
            [card("REG", punches("2026-11-16", "0800-1600", "0800-1600", "0800-1600"))],
            "on 2026-11-16: REG 0800-1600 and REG 0800-1600",
        ),
        # the same interval on REG and OT
        (
            [card("REG", punches("2026-11-16", "0800-1600")), card("OT", punches("2026-11-16", "0800-1600"))],
            "on 2026-11-16: REG 0800-1600 and OT 0800-1600",
        ),
        # two intervals that share an hour
        (
            [card("REG", punches("2026-11-16", "0800-1600")), card("OT", punches("2026-11-16", "0900-1700"))],
            "on 2026-11-16: REG 0800-1600 and OT 0900-1700",
        ),
        # one interval inside another, sent in the other order
        (
            [card("REG", punches("2026-11-18", "1300-1400", "0800-1700"))],
            "on 2026-11-18: REG 0800-1700 and REG 1300-1400",
        ),
        # an overnight punch runs into the next day's first punch
        (
            [card("REG", punches("2026-11-16", "2200-0600"), punches("2026-11-17", "0500-1300"))],
            "on 2026-11-17: REG 2200-0600 (punched in 2026-11-16) and REG 0500-1300",
        ),
        # ... also when the next day's punch is on another pay code
        (
            [card("REG", punches("2026-11-20", "2200-0600")), card("OT", punches("2026-11-21", "0000-0100"))],
            "on 2026-11-21: REG 2200-0600 (punched in 2026-11-20) and OT 0000-0100",
        ),
    ],
)
def test_punches_that_overlap_are_the_assignments_error(cards: list[TimecardIn], named: str) -> None:
    with pytest.raises(ContentError) as refused:
        check(*cards)
    assert "punches overlap" in str(refused.value)
    assert named in str(refused.value)


@pytest.mark.parametrize(
    "cards",
    [
        [card("REG", punches("2026-11-16", "0800-1200", "1200-1600"))],
        [card("REG", punches("2026-11-16", "0800-1200")), card("OT", punches("2026-11-16", "1200-1600"))],
        [card("REG", punches("2026-11-16", "2200-0600"), punches("2026-11-17", "0600-1400"))],
        [card("REG", punches("2026-11-16", "0800-1600"), punches("2026-11-17", "0800-1600"))],
    ],
)
def test_punches_that_only_touch_are_paid(cards: list[TimecardIn]) -> None:
    checked = check(*cards)
    assert checked.warnings == []
    assert sum(d.total_hours for d in checked.drafts) in (8.0, 16.0)


def test_hours_sent_as_totals_are_not_intervals() -> None:
    # Given 8 hours on REG and 8 on HOL the same day (holiday pay stacks on worked time)
    checked = check(card("REG", {"date": "2026-11-16", "hours": 8}), card("HOL", {"date": "2026-11-16", "hours": 8}))
    # Then both are taken, no error and no warning
    assert [d.total_hours for d in checked.drafts] == [8.0, 8.0]
    assert checked.warnings == []


def test_a_day_over_24_hours_across_pay_codes_is_a_warning() -> None:
    # Given punches 0600-2200 (16 h) on REG and 10 hours of holiday pay the same day
    checked = check(
        card("REG", punches("2026-11-19", "0600-2200"), {"date": "2026-11-20", "hours": 8}),
        card("HOL", {"date": "2026-11-19", "hours": 10}),
    )
    # Then both timecards are kept and the day is named in one warning
    assert [d.total_hours for d in checked.drafts] == [24.0, 10.0]
    [warning] = checked.warnings
    assert "2026-11-19" in warning and "26 hours" in warning and "HOL" in warning and "REG" in warning


def test_exactly_24_hours_across_pay_codes_is_no_warning() -> None:
    checked = check(card("REG", {"date": "2026-11-16", "hours": 16}), card("OT", {"date": "2026-11-16", "hours": 8}))
    assert checked.warnings == []


def test_one_pay_code_over_24_hours_a_day_stays_an_error() -> None:
    with pytest.raises(ContentError, match="no pay code may exceed 24 hours a day"):
        check(card("REG", {"date": "2026-11-16", "hours": 25}))


def test_overlap_is_found_whatever_order_the_pay_codes_come_in() -> None:
    first = [card("OT", punches("2026-11-16", "0900-1700")), card("REG", punches("2026-11-16", "0800-1600"))]
    with pytest.raises(ContentError, match="REG 0800-1600 and OT 0900-1700"):
        check(*first)
