"""Send a week to payroll: lock its units at or below a node, so later sends cannot replace them.

Each unit is locked only if it is still as read; a send that replaced it meanwhile is read again and
what is there now is locked, so no send slips between the read and the lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from timerack_bridge.domain.hierarchy import HierarchyTree
from timerack_bridge.domain.weeks import week_ending_problem
from timerack_bridge.exceptions import UnprocessableError
from timerack_bridge.logic.admin_checks import node_missing
from timerack_bridge.logic.ports import NodeReader, WeekUnits


@dataclass(frozen=True)
class LockedWeek:
    locked_units: int
    locked_timecards: int


def lock_week(
    nodes: NodeReader, units: WeekUnits, weekend_bill: date, node_id: str, *, week_ending_day: str
) -> LockedWeek:
    """Lock the week's units at or below the node; 422 for a node that does not exist or a day that is no week's end."""
    tree = HierarchyTree.of(nodes.list_nodes())
    if node_id not in tree.nodes:
        raise UnprocessableError(node_missing(node_id))
    # A week on another weekday is refused, unless timecards were stored for it before the check.
    problem = week_ending_problem(weekend_bill, week_ending_day)
    if problem and next(iter(units.week_unit_headers(weekend_bill)), None) is None:
        raise UnprocessableError(problem)
    locked_units = locked_cards = 0
    for header in units.week_unit_headers(weekend_bill):
        locked = _lock_unit(units, tree, node_id, header)
        if locked is not None:
            locked_units += 1
            locked_cards += len(locked.get("pay_codes", []))
    return LockedWeek(locked_units=locked_units, locked_timecards=locked_cards)


def _lock_unit(units: WeekUnits, tree: HierarchyTree, node_id: str, header: dict[str, Any]) -> dict[str, Any] | None:
    """Lock the unit as it is now, reading it again while sends replace it; the header locked, if any."""
    current: dict[str, Any] | None = header
    while current is not None and tree.is_at_or_below(current["hierarchy_node_id"], node_id):
        outcome = units.lock_unit(current)
        if outcome == "locked":
            return current
        if outcome != "changed":
            return None
        # A send replaced it meanwhile: lock what is there now.
        current = units.unit_header(int(current["assignment_id"]), date.fromisoformat(current["weekend_bill"]))
    return None
