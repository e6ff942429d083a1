"""Which open week a timecard goes to, and the agency's week-ending weekday.

The nearest node that has a week for a date decides that date: a week closed on the assignment's own
node is closed there, whatever its ancestors say (issue 13).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date

from timerack_bridge.domain.errors import NO_OPEN_WEEKS
from timerack_bridge.domain.hierarchy import HierarchyTree
from timerack_bridge.domain.types import WeekStatus

# Monday .. Sunday, as date.weekday() counts them (calendar.day_name would follow the locale).
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

NodeWeeks = Mapping[date, WeekStatus]  # one node's weeks, open and closed, by weekend bill
WeeksOf = Callable[[str], NodeWeeks]


def choose_week(open_weeks: Sequence[date], preferred: date | None, *, strict: bool = False) -> date | None:
    """The open week whose weekend bill equals the preferred date, else the earliest (unless strict)."""
    if not open_weeks:
        return None
    if preferred is not None and preferred in open_weeks:
        return preferred
    return None if strict else min(open_weeks)


def open_weeks_at(node_id: str, tree: HierarchyTree, weeks_of: WeeksOf) -> list[date]:
    """The node's open weeks, oldest first: its and its ancestors' weeks merged, the nearest deciding each date."""
    decided: dict[date, WeekStatus] = {}
    for candidate in tree.ancestors_and_self(node_id):
        for weekend_bill, status in weeks_of(candidate).items():
            decided.setdefault(weekend_bill, status)  # a nearer node already decided this date
    return sorted(day for day, status in decided.items() if status == WeekStatus.OPEN)


def resolve_open_week(
    node_id: str,
    tree: HierarchyTree,
    weeks_of: WeeksOf,
    preferred: date | None,
    *,
    strict: bool = False,
) -> date | None:
    """The week a timecard at this node goes to: the preferred one if open there, else the earliest open."""
    return choose_week(open_weeks_at(node_id, tree, weeks_of), preferred, strict=strict)


def week_ending_problem(weekend_bill: date, week_ending_day: str) -> str | None:
    """Why this date cannot be a weekend bill of an agency whose weeks end on that weekday (None if it can)."""
    actual = WEEKDAYS[weekend_bill.weekday()]
    if actual == week_ending_day:
        return None
    return f"{weekend_bill.isoformat()} is a {actual}; this agency's weeks end on a {week_ending_day}"


def no_open_week_for(weekend_bill: date, node_id: str, open_weeks: Sequence[date]) -> str:
    """The article's text, then the week asked for, where, and the weeks that are open there."""
    listed = ", ".join(day.isoformat() for day in sorted(open_weeks)) or "none"
    return (
        f"{NO_OPEN_WEEKS.removesuffix('.')} for the week ending {weekend_bill.isoformat()} "
        f"at hierarchy node {node_id}; open weeks: {listed}."
    )
