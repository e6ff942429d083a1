"""A unit already written by this very send (a batch run again: SQS redelivery, a lost reply) is "written":
planned again it gives back the result that send got, never "superseded"."""

from __future__ import annotations

from datetime import date

from timerack_bridge.domain import errors
from timerack_bridge.domain.replacement import UnitState, apply_plan, plan_replacement

WB = date(2026, 11, 22)


def plan(state: UnitState | None, version: str = "v2", codes: tuple[str, ...] = ("REG",)):  # type: ignore[no-untyped-def]
    return plan_replacement(state, assignment_id=1, weekend_bill=WB, new_version=version, new_pay_codes=codes)


def test_a_unit_this_send_created_is_written_and_created_again() -> None:
    state = UnitState("v2", False, ("REG",), send_result="created")
    again = plan(state)
    assert again.action == "written" and again.result_status == "created"
    assert (again.put_pay_codes, again.delete_pay_codes, again.error) == ((), (), None)
    assert apply_plan(state, again, "v2") == state  # nothing is written


def test_a_unit_this_send_replaced_gives_back_the_pay_codes_it_removed() -> None:
    state = UnitState("v2", False, ("REG",), send_result="replaced", removed_pay_codes=("DT", "OT"))
    again = plan(state)
    assert (again.action, again.result_status, again.delete_pay_codes) == ("written", "replaced", ("DT", "OT"))


def test_a_unit_locked_after_this_send_wrote_it_is_still_this_sends_result() -> None:
    again = plan(UnitState("v2", True, ("REG",), send_result="created"))
    assert (again.action, again.result_status, again.error) == ("written", "created", None)


def test_a_header_written_before_it_kept_the_result_reads_as_replaced() -> None:
    again = plan(UnitState("v2", False, ("REG",)))
    assert (again.action, again.result_status, again.delete_pay_codes) == ("written", "replaced", ())


def test_applying_a_send_records_its_result_and_removed_pay_codes() -> None:
    created = apply_plan(None, plan(None), "v2")
    assert created == UnitState("v2", False, ("REG",), send_result="created")
    stored = UnitState("v1", False, ("OT", "REG"), send_result="created")
    replaced = apply_plan(stored, plan(stored), "v2")
    assert replaced == UnitState("v2", False, ("REG",), send_result="replaced", removed_pay_codes=("OT",))


def test_other_versions_keep_their_rules() -> None:
    newer = plan(UnitState("v3", False, ("REG",), send_result="created"))
    assert newer.action == "refuse" and newer.error == errors.superseded(1, WB)
    locked_other = plan(UnitState("v1", True, ("REG",), send_result="created"))
    assert locked_other.error == errors.already_sent_to_payroll(1, WB)
    older = plan(UnitState("v1", False, ("REG", "OT"), send_result="created"))
    assert (older.action, older.result_status, older.delete_pay_codes) == ("replace", "replaced", ("OT",))
