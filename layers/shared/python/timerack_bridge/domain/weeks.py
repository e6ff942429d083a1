"""Which open week a timecard goes to (DESIGN.md §3)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

from timerack_bridge.domain.hierarchy import HierarchyTree


def choose_week(open_weeks: Sequence[date], preferred: date | None, *, strict: bool = False) -> date | None:
    """The open week whose weekend bill equals the preferred date, else the earliest (unless strict)."""
    if not open_weeks:
        return None
    if preferred is not None and preferred in open_weeks:
        return preferred
    return None if strict else min(open_weeks)


def resolve_open_week(
    node_id: str,
    tree: HierarchyTree,
    open_weeks_of: Callable[[str], Sequence[date]],
    preferred: date | None,
    *,
    strict: bool = False,
) -> date | None:
    """The open week on the node or its nearest ancestor that has one."""
    for candidate in tree.ancestors_and_self(node_id):
        weeks = open_weeks_of(candidate)
        if weeks:
            return choose_week(weeks, preferred, strict=strict)
    return None
