"""Hypothesis properties of the pure domain: PIN, punches across midnight, the 24-hour cap, the
replacement plan, the send order and the CSV neutralisation. No AWS, no mocks."""

from __future__ import annotations

import csv
import io
import string
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from timerack_bridge.domain import errors
from timerack_bridge.domain.batch import AssignmentResult, TimecardIn
from timerack_bridge.domain.pin import PinError, default_pin, effective_pin, ssn_last_four, validate_pin_override
from timerack_bridge.domain.replacement import UnitState, apply_plan, plan_replacement, send_version
from timerack_bridge.domain.report import neutralise, render_csv
from timerack_bridge.domain.timecards import (
    MAX_HOURS_PER_DAY,
    ContentError,
    check_timecard,
    parse_military_time,
    punch_minutes,
)

WEEKEND_BILL = date(2026, 11, 22)
PAY_CODES = ("REG", "OT", "DT")
ascii_digits = st.text(alphabet=string.digits, min_size=1, max_size=1)
birth_dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2015, 12, 31))
last_fours = st.text(alphabet=string.digits, min_size=4, max_size=4)
military_times = st.builds(lambda h, m: f"{h:02d}{m:02d}", st.integers(0, 23), st.integers(0, 59))
# Near misses a keypad cannot type: other scripts' digits (Arabic-Indic, full-width), a trailing newline.
other_digits = st.characters(categories=["Nd"]).filter(lambda c: not c.isascii())
near_six_digits = st.one_of(
    st.text(alphabet=other_digits, min_size=6, max_size=6),
    st.text(alphabet=string.digits, min_size=6, max_size=6).map(lambda t: t + "\n"),
    st.tuples(st.text(alphabet=string.digits, min_size=5, max_size=5), other_digits).map("".join),
)
not_six_ascii_digits = st.one_of(st.text(max_size=8), near_six_digits).filter(
    lambda t: not (len(t) == 6 and t.isascii() and t.isdigit())
)
near_ssns = st.one_of(
    st.text(max_size=14),
    st.text(alphabet=other_digits, min_size=9, max_size=9),
    st.tuples(
        st.text(alphabet=string.digits, min_size=5, max_size=5), st.text(alphabet=other_digits, min_size=4, max_size=4)
    ).map("".join),
)

PROPERTIES = settings(max_examples=200, deadline=None)


# ---------------------------------------------------------------- PIN


def test_the_articles_two_examples() -> None:
    assert default_pin(date(1990, 4, 7), ssn_last_four("111-11-2345")) == "72345"
    assert default_pin(date(1985, 12, 12), ssn_last_four("123-45-6789")) == "126789"


@PROPERTIES
@given(birth=birth_dates, last4=last_fours)
def test_default_pin_is_the_day_without_leading_zero_then_the_last_four(birth: date, last4: str) -> None:
    pin = default_pin(birth, last4)
    assert pin == f"{birth.day}{last4}" and not pin.startswith("0")
    assert len(pin) == (5 if birth.day < 10 else 6) and pin.isascii() and pin.isdigit()


@PROPERTIES
@given(
    area=st.text(string.digits, min_size=3, max_size=3),
    group=st.text(string.digits, min_size=2, max_size=2),
    serial=last_fours,
    dashed=st.booleans(),
)
def test_an_ssn_is_kept_as_its_last_four_only(area: str, group: str, serial: str, dashed: bool) -> None:
    ssn = f"{area}-{group}-{serial}" if dashed else f"{area}{group}{serial}"
    assert ssn_last_four(ssn) == serial


@PROPERTIES
@given(text=near_ssns)
def test_anything_but_nine_ascii_digits_is_no_ssn_and_the_error_never_repeats_it(text: str) -> None:
    """Found by this property: digits of other scripts passed the old \\d check (a PIN no keypad types)."""
    digits = text.strip().replace("-", "")
    assume(not (len(digits) == 9 and digits.isascii() and digits.isdigit()))
    with pytest.raises(PinError) as refused:
        ssn_last_four(text)
    assert not any(character.isdigit() for character in str(refused.value))  # nothing of the input echoed


@PROPERTIES
@given(
    override=st.text(alphabet=string.digits, min_size=6, max_size=6),
    birth=st.none() | birth_dates,
    last4=st.none() | last_fours,
)
def test_an_override_of_six_digits_always_wins(override: str, birth: date | None, last4: str | None) -> None:
    assert effective_pin(birth, last4, override) == override


@PROPERTIES
@given(override=not_six_ascii_digits)
def test_an_override_is_exactly_six_ascii_digits(override: str) -> None:
    """Found by this property: "123456\\n" and other scripts' digits passed the old ^\\d{6}$ check."""
    with pytest.raises(PinError):
        validate_pin_override(override)


@PROPERTIES
@given(birth=st.none() | birth_dates, last4=st.none() | last_fours)
def test_no_usable_pin_without_a_birth_date_and_an_ssn(birth: date | None, last4: str | None) -> None:
    pin = effective_pin(birth, last4, None)
    assert (pin is None) == (birth is None or last4 is None)


# ---------------------------------------------------------------- punches and the 24-hour cap


@PROPERTIES
@given(start=military_times, end=military_times)
def test_a_punch_pair_lasts_the_clock_distance_forward_across_midnight(start: str, end: str) -> None:
    assume(start != end)
    minutes = punch_minutes(start, end)
    assert 1 <= minutes <= 24 * 60 - 1
    assert minutes == (parse_military_time(end) - parse_military_time(start)) % (24 * 60)
    # There and back is one whole day.
    assert minutes + punch_minutes(end, start) == 24 * 60
    assert (parse_military_time(end) < parse_military_time(start)) == (parse_military_time(start) + minutes >= 24 * 60)


@PROPERTIES
@given(
    text=st.one_of(
        st.text(max_size=6),
        military_times.map(lambda t: t + "\n"),
        st.tuples(st.sampled_from(["0", "1"]), other_digits, military_times).map(lambda p: p[0] + p[1] + p[2][2:]),
    )
)
def test_only_hhmm_of_ascii_digits_is_military_time(text: str) -> None:
    """Found by this property: "0800\\n", and "0", an Arabic-Indic eight, "00", read as 08:00."""
    valid = len(text) == 4 and text.isascii() and text.isdigit() and int(text[:2]) < 24 and int(text[2:]) < 60
    if valid:
        assert parse_military_time(text) == int(text[:2]) * 60 + int(text[2:])
    else:
        with pytest.raises(ContentError):
            parse_military_time(text)


def _card(days: list[dict[str, object]]) -> TimecardIn:
    return TimecardIn.model_validate({"assignmentId": 1001, "employeeId": 501, "payCode": "REG", "days": days})


@PROPERTIES
@given(pairs=st.lists(st.tuples(military_times, military_times).filter(lambda p: p[0] != p[1]), min_size=1, max_size=5))
def test_punches_of_a_day_are_capped_at_24_hours(pairs: list[tuple[str, str]]) -> None:
    card = _card([{"date": "2026-11-18", "punches": [{"in": i, "out": o} for i, o in pairs]}])
    minutes = sum(punch_minutes(i, o) for i, o in pairs)
    if minutes <= 24 * 60:
        draft = check_timecard(card, weekend_bill=WEEKEND_BILL, pay_codes=PAY_CODES, expected_employee_id=501)
        assert draft.total_hours == pytest.approx(minutes / 60, abs=1e-4)
    else:
        with pytest.raises(ContentError, match="no pay code may exceed 24 hours a day"):
            check_timecard(card, weekend_bill=WEEKEND_BILL, pay_codes=PAY_CODES, expected_employee_id=501)


@PROPERTIES
@given(hours=st.floats(min_value=0, max_value=1e6, allow_nan=False))
def test_hours_of_a_day_are_capped_at_24(hours: float) -> None:
    card = _card([{"date": "2026-11-22", "hours": hours}])
    if round(hours, 4) <= MAX_HOURS_PER_DAY:
        draft = check_timecard(card, weekend_bill=WEEKEND_BILL, pay_codes=PAY_CODES, expected_employee_id=501)
        assert 0 <= draft.total_hours <= MAX_HOURS_PER_DAY
    else:
        with pytest.raises(ContentError):
            check_timecard(card, weekend_bill=WEEKEND_BILL, pay_codes=PAY_CODES, expected_employee_id=501)


@PROPERTIES
@given(offset=st.integers(-400, 400))
def test_only_the_seven_days_of_the_week_are_taken(offset: int) -> None:
    day = WEEKEND_BILL + timedelta(days=offset)
    card = _card([{"date": day.isoformat(), "hours": 1}])
    if -6 <= offset <= 0:
        check_timecard(card, weekend_bill=WEEKEND_BILL, pay_codes=PAY_CODES, expected_employee_id=501)
    else:
        with pytest.raises(ContentError, match="outside the week"):
            check_timecard(card, weekend_bill=WEEKEND_BILL, pay_codes=PAY_CODES, expected_employee_id=501)


# ---------------------------------------------------------------- the replacement plan

versions = st.text(alphabet="0123456789abcdef", min_size=1, max_size=6)
code_sets = st.lists(st.sampled_from(PAY_CODES), max_size=3)
stored_codes = code_sets.map(lambda c: tuple(sorted(set(c))))
unit_states = st.none() | st.builds(
    UnitState,
    version=versions,
    locked=st.booleans(),
    pay_codes=stored_codes,
    send_result=st.sampled_from([None, "created", "replaced"]),
    removed_pay_codes=stored_codes,
)
locked_states = st.builds(UnitState, version=versions, locked=st.just(True), pay_codes=stored_codes)


def _plan(state: UnitState | None, version: str, codes: list[str]):  # type: ignore[no-untyped-def]
    return plan_replacement(
        state, assignment_id=1001, weekend_bill=WEEKEND_BILL, new_version=version, new_pay_codes=codes
    )


@PROPERTIES
@given(state=unit_states, version=versions, codes=code_sets)
def test_applying_a_send_twice_equals_applying_it_once(state: UnitState | None, version: str, codes: list[str]) -> None:
    once = apply_plan(state, _plan(state, version, codes), version)
    twice = apply_plan(once, _plan(once, version, codes), version)
    assert twice == once


@PROPERTIES
@given(state=locked_states, version=versions, codes=code_sets)
def test_a_locked_unit_is_never_touched(state: UnitState, version: str, codes: list[str]) -> None:
    assume(state.version != version)  # the send that wrote it, run again, is "written" (below)
    plan = _plan(state, version, codes)
    assert plan.action == "refuse" and not plan.put_pay_codes and not plan.delete_pay_codes
    assert plan.error == errors.already_sent_to_payroll(1001, WEEKEND_BILL)
    assert apply_plan(state, plan, version) == state


@PROPERTIES
@given(state=unit_states, codes=code_sets)
def test_a_unit_this_send_wrote_is_written_with_its_result_locked_or_not(
    state: UnitState | None, codes: list[str]
) -> None:
    assume(state is not None)
    assert state is not None
    plan = _plan(state, state.version, codes)
    assert plan.action == "written" and plan.error is None and not plan.put_pay_codes
    assert plan.result_status == (state.send_result or "replaced")
    assert plan.delete_pay_codes == state.removed_pay_codes
    assert apply_plan(state, plan, state.version) == state


@PROPERTIES
@given(state=unit_states, version=versions, codes=code_sets)
def test_a_replacement_drops_exactly_the_pay_codes_that_disappeared(
    state: UnitState | None, version: str, codes: list[str]
) -> None:
    plan = _plan(state, version, codes)
    if plan.action == "replace":
        assert state is not None and state.version < version and not state.locked
        assert set(plan.delete_pay_codes) == set(state.pay_codes) - set(codes)
        assert plan.expected_version == state.version
    if plan.action == "create":
        assert state is None and not plan.delete_pay_codes


@PROPERTIES
@given(sends=st.lists(st.tuples(versions, code_sets), min_size=1, max_size=8), lock_after=st.integers(0, 8))
def test_in_any_arrival_order_the_newest_unlocked_send_wins(
    sends: list[tuple[str, list[str]]], lock_after: int
) -> None:
    state: UnitState | None = None
    applied: list[str] = []
    for index, (version, codes) in enumerate(sends):
        if index == lock_after and state is not None:
            state = UnitState(state.version, True, state.pay_codes)
        plan = _plan(state, version, codes)
        state = apply_plan(state, plan, version)
        if plan.action != "refuse":
            applied.append(version)
    assert state is not None
    assert state.version == max(applied)
    winner = next(codes for version, codes in sends if version == state.version)
    assert state.pay_codes == tuple(sorted(set(winner)))


@PROPERTIES
@given(
    first=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
    gap=st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=400)),
    ids=st.tuples(st.text("0123456789abcdef-", max_size=20), st.text("0123456789abcdef-", max_size=20)),
)
def test_send_versions_sort_in_arrival_order(first: datetime, gap: timedelta, ids: tuple[str, str]) -> None:
    earlier = send_version(first.isoformat(timespec="microseconds"), ids[0])
    later = send_version((first + gap).isoformat(timespec="microseconds"), ids[1])
    assert earlier < later


# ---------------------------------------------------------------- report.csv and the emailed file


@PROPERTIES
@given(cell=st.text(max_size=30))
def test_no_cell_opens_as_a_formula_and_nothing_is_lost(cell: str) -> None:
    safe = neutralise(cell)
    assert safe == cell or safe == "'" + cell
    dangerous = ("=", "+", "-", "@", "\t", "\r", "\n", "\0", "\uff1d", "\uff0b", "\uff0d", "\uff20")
    assert not safe.lstrip().startswith(dangerous)


@PROPERTIES
@given(pay_code=st.text(min_size=1, max_size=20), error=st.text(max_size=60))
def test_every_rendered_cell_is_neutralised(pay_code: str, error: str) -> None:
    rendered = render_csv([AssignmentResult(assignment_id=1, status="error", error=error, pay_codes=[pay_code])])
    rows = list(csv.reader(io.StringIO(rendered, newline="")))
    assert rows[0][0] == "Assignment ID"
    for row in rows[1:]:
        for cell in row:
            assert not cell.lstrip().startswith(("=", "+", "-", "@")), row
