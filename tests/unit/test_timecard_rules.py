from datetime import date

import pytest

from timerack_bridge.domain.batch import TimecardIn
from timerack_bridge.domain.replacement import UnitState, apply_plan, plan_replacement
from timerack_bridge.domain.timecards import ContentError, check_unit, hours_of_punches, punch_minutes

WB = date(2026, 11, 22)


def card(**overrides: object) -> TimecardIn:
    data = {"assignmentId": 1, "employeeId": 7, "payCode": "REG", "days": [{"date": "2026-11-16", "hours": 8}]}
    data.update(overrides)
    return TimecardIn.model_validate(data)


def check(*cards: TimecardIn):  # type: ignore[no-untyped-def]
    return check_unit(cards, weekend_bill=WB, pay_codes=("REG", "OT", "DT"), expected_employee_id=7).drafts


def test_punches_in_military_time() -> None:
    assert punch_minutes("0800", "1630") == 510
    assert hours_of_punches([("0800", "1200"), ("1230", "1630")]) == 8.0


def test_out_before_in_crosses_midnight() -> None:
    assert punch_minutes("2200", "0600") == 480


@pytest.mark.parametrize("value", ["800", "24:00", "2400", "0860", "08:00", "abcd", ""])
def test_punch_not_hhmm_is_refused(value: str) -> None:
    with pytest.raises(ContentError, match="military time"):
        punch_minutes(value, "1200")


def test_hours_and_punches_add_up_per_day() -> None:
    [draft] = check(
        card(
            days=[
                {"date": "2026-11-16", "hours": 8},
                {"date": "2026-11-17", "punches": [{"in": "2200", "out": "0630"}]},
            ]
        )
    )
    assert draft.total_hours == 16.5
    assert [d.hours for d in draft.days] == [8.0, 8.5]


def test_exactly_24_hours_is_allowed_and_more_is_not() -> None:
    assert check(card(days=[{"date": "2026-11-16", "hours": 24}]))[0].total_hours == 24
    with pytest.raises(ContentError, match="exceed 24 hours"):
        check(card(days=[{"date": "2026-11-16", "hours": 24.01}]))
    with pytest.raises(ContentError, match="exceed 24 hours"):
        check(
            card(
                days=[{"date": "2026-11-16", "punches": [{"in": "0000", "out": "2300"}, {"in": "2300", "out": "0100"}]}]
            )
        )


@pytest.mark.parametrize(
    ("days", "message"),
    [
        ([{"date": "2026-11-15", "hours": 8}], "outside the week"),
        ([{"date": "2026-11-23", "hours": 8}], "outside the week"),
        ([{"date": "2026-11-16", "hours": 8, "punches": [{"in": "0800", "out": "1600"}]}], "both hours and punches"),
        ([{"date": "2026-11-16", "hours": -1}], "negative hours"),
        ([{"date": "16/11/2026", "hours": 8}], "not a date"),
        ([{"date": "2026-11-16"}], "neither hours nor punches"),
    ],
)
def test_bad_day_content(days: list[dict[str, object]], message: str) -> None:
    with pytest.raises(ContentError, match=message):
        check(card(days=days))


@pytest.mark.parametrize(
    "written",
    [
        "20261116",
        "2026-W47-1",
        "2026-320",
        "2026-11-16T00:00",
        "2026-11-16\n",
        " 2026-11-16",
        "\u0662\u0660\u0662\u0666-11-16",
    ],
)
def test_a_day_date_is_exactly_yyyy_mm_dd(written: str) -> None:
    # Python 3.11 reads "20261116" and "2026-W47-1" as dates; the contract says YYYY-MM-DD only
    with pytest.raises(ContentError) as refused:
        check(card(days=[{"date": "2026-11-17", "hours": 8}, {"date": written, "hours": 8}]))
    assert "days[1].date" in str(refused.value) and "YYYY-MM-DD" in str(refused.value)
    assert written.strip() not in str(refused.value)  # the value itself is never repeated


def test_minus_zero_hours_are_stored_as_zero() -> None:
    [draft] = check(card(days=[{"date": "2026-11-16", "hours": -0.0}]))
    assert str(draft.days[0].hours) == "0.0" and str(draft.total_hours) == "0.0"


def test_minus_zero_amount_is_stored_as_zero() -> None:
    [draft] = check(card(adjustments=[{"code": "BONUS", "amount": -0.0}]))
    assert str(draft.adjustments[0].amount) == "0.0"


def test_unknown_pay_code_pay_code_twice_and_wrong_employee() -> None:
    with pytest.raises(ContentError, match="is not one of"):
        check(card(payCode="XYZ"))
    with pytest.raises(ContentError, match="appears twice"):
        check(card(), card())
    with pytest.raises(ContentError, match="is not the employee"):
        check(card(employeeId=8))


def test_adjustments_are_employee_adjustments() -> None:
    [draft] = check(card(adjustments=[{"code": "BONUS", "amount": 25.0, "description": "safety"}]))
    assert [(a.type, a.code, a.amount) for a in draft.adjustments] == [("employee", "BONUS", 25.0)]


def test_replacement_plan_creates_replaces_and_drops_pay_codes() -> None:
    created = plan_replacement(None, assignment_id=1, weekend_bill=WB, new_version="v2", new_pay_codes=["REG", "OT"])
    assert created.action == "create"
    replaced = plan_replacement(
        UnitState("v1", False, ("OT", "REG")), assignment_id=1, weekend_bill=WB, new_version="v2", new_pay_codes=["REG"]
    )
    assert (replaced.action, replaced.delete_pay_codes, replaced.expected_version) == ("replace", ("OT",), "v1")


def test_replacement_plan_refuses_locked_and_older_sends() -> None:
    locked = plan_replacement(
        UnitState("v1", True, ("REG",)), assignment_id=1, weekend_bill=WB, new_version="v2", new_pay_codes=["REG"]
    )
    assert locked.action == "refuse"
    assert locked.error == (
        "The timecard for Assignment 1 for the week ending 2026-11-22 has already been sent "
        "to payroll and cannot be replaced."
    )
    stale = plan_replacement(
        UnitState("v3", False, ("REG",)), assignment_id=1, weekend_bill=WB, new_version="v2", new_pay_codes=["REG"]
    )
    assert stale.action == "refuse" and "newer send" in (stale.error or "")
    assert apply_plan(UnitState("v3", False, ("REG",)), stale, "v2") == UnitState("v3", False, ("REG",))
