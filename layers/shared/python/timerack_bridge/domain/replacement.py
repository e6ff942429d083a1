"""The replacement plan of one unit (assignment, weekend bill): pure, so it is tested without AWS.

A new send replaces every earlier Timerack timecard of the unit, pay codes that disappeared
included, unless the unit is sent to payroll; an older send never overwrites a newer one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Literal

from timerack_bridge.domain import errors


@dataclass(frozen=True)
class UnitState:
    """What is stored for a unit now: its version (send order), lock, and current pay codes."""

    version: str
    locked: bool
    pay_codes: tuple[str, ...]


@dataclass(frozen=True)
class ReplacementPlan:
    action: Literal["create", "replace", "refuse"]
    put_pay_codes: tuple[str, ...] = ()
    delete_pay_codes: tuple[str, ...] = ()
    expected_version: str | None = None
    error: str | None = None

    @property
    def result_status(self) -> Literal["created", "replaced", "error"]:
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
    if plan.action == "refuse":
        return state
    return UnitState(version=new_version, locked=False, pay_codes=plan.put_pay_codes)
