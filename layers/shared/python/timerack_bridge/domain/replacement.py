"""The replacement plan of one unit (assignment, weekend bill): pure, so it is tested without AWS.

A new send replaces every earlier Timerack timecard of the unit, pay codes that disappeared
included, unless the unit is sent to payroll; an older send never overwrites a newer one. A unit
this very send already wrote (the batch run again) is "written": it gives back that run's result.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Literal

from timerack_bridge.domain import errors

SendResult = Literal["created", "replaced"]


@dataclass(frozen=True)
class UnitState:
    """What is stored for a unit now: its version (send order), lock, and current pay codes; and what
    the send that wrote it reported (None and (): a header written before it kept them)."""

    version: str
    locked: bool
    pay_codes: tuple[str, ...]
    send_result: SendResult | None = None
    removed_pay_codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReplacementPlan:
    """What a send does to its unit. "written": this send already wrote it (nothing to write);
    `delete_pay_codes` are then the codes that write removed, `written_result` what it reported."""

    action: Literal["create", "replace", "written", "refuse"]
    put_pay_codes: tuple[str, ...] = ()
    delete_pay_codes: tuple[str, ...] = ()
    expected_version: str | None = None
    error: str | None = None
    written_result: SendResult = "replaced"

    @property
    def result_status(self) -> Literal["created", "replaced", "error"]:
        if self.action == "written":
            return self.written_result
        return {"create": "created", "replace": "replaced", "refuse": "error"}[self.action]  # type: ignore[return-value]


def send_version(submitted_at_iso: str, batch_id: str) -> str:
    """Sortable send order: arrival time first, the batch id breaks ties."""
    return f"{submitted_at_iso}#{batch_id}"


def plan_replacement(
    current: UnitState | None,
    *,
    assignment_id: int,
    weekend_bill: date,
    new_version: str,
    new_pay_codes: Iterable[str],
) -> ReplacementPlan:
    """Decide what a send does to its unit, given what is stored now."""
    codes = tuple(sorted(set(new_pay_codes)))
    if current is None:
        return ReplacementPlan(action="create", put_pay_codes=codes)
    if current.version == new_version:
        # This send wrote it (a run again, a lost reply), even if locked since. A header from before
        # `send_result` was kept reads as "replaced": its timecards exist either way.
        written = current.send_result or "replaced"
        return ReplacementPlan(action="written", delete_pay_codes=current.removed_pay_codes, written_result=written)
    if current.locked:
        return ReplacementPlan(action="refuse", error=errors.already_sent_to_payroll(assignment_id, weekend_bill))
    if current.version >= new_version:
        return ReplacementPlan(action="refuse", error=errors.superseded(assignment_id, weekend_bill))
    dropped = tuple(sorted(set(current.pay_codes) - set(codes)))
    return ReplacementPlan(
        action="replace", put_pay_codes=codes, delete_pay_codes=dropped, expected_version=current.version
    )


def apply_plan(state: UnitState | None, plan: ReplacementPlan, new_version: str) -> UnitState | None:
    """The unit's state after a plan is carried out (the model the store's transaction follows)."""
    if plan.action in ("refuse", "written"):
        return state
    result: SendResult = "created" if plan.action == "create" else "replaced"
    return UnitState(
        new_version, False, plan.put_pay_codes, send_result=result, removed_pay_codes=plan.delete_pay_codes
    )
