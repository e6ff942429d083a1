"""Which week a timecard goes to (nearest node decides each date), the week-ending weekday, and the
pure tree checks behind the admin routes (issue 13, points 5 and 6)."""

from __future__ import annotations

from datetime import date

import pytest

from timerack_bridge.domain.entities import HierarchyNode
from timerack_bridge.domain.hierarchy import HierarchyTree
from timerack_bridge.domain.types import WeekStatus
from timerack_bridge.domain.weeks import open_weeks_at, resolve_open_week, week_ending_problem

NOV_22, NOV_29, DEC_6 = date(2026, 11, 22), date(2026, 11, 29), date(2026, 12, 6)
OPEN, CLOSED = WeekStatus.OPEN, WeekStatus.CLOSED

TREE = HierarchyTree.of(
    [
        HierarchyNode(node_id="system", name="System", allows_master_data=False),
        HierarchyNode(node_id="branch", name="Branch", parent_id="system"),
        HierarchyNode(node_id="sub", name="Sub-branch", parent_id="branch"),
    ]
)


def weeks(by_node: dict[str, dict[date, WeekStatus]]):
    return lambda node_id: by_node.get(node_id, {})


def test_a_closed_week_on_the_node_beats_an_open_week_of_the_same_date_above_it() -> None:
    # Given the branch opened Nov 22 but the sub-branch closed it
    by_node = weeks({"sub": {NOV_22: CLOSED}, "branch": {NOV_22: OPEN}})
    # Then the sub-branch has no open week at all
    assert resolve_open_week("sub", TREE, by_node, NOV_22) is None
    assert open_weeks_at("sub", TREE, by_node) == []


def test_dates_merge_across_the_ancestors_with_the_nearest_node_deciding_each() -> None:
    by_node = weeks(
        {
            "sub": {NOV_22: CLOSED},
            "branch": {NOV_22: OPEN, NOV_29: OPEN},
            "system": {NOV_29: CLOSED, DEC_6: OPEN},
        }
    )
    # Nov 22: sub closed it; Nov 29: branch (nearer than system) opened it; Dec 6: only system has it
    assert open_weeks_at("sub", TREE, by_node) == [NOV_29, DEC_6]
    # The pay period end, if open, else the earliest open, unless strict
    assert resolve_open_week("sub", TREE, by_node, DEC_6) == DEC_6
    assert resolve_open_week("sub", TREE, by_node, NOV_22) == NOV_29
    assert resolve_open_week("sub", TREE, by_node, NOV_22, strict=True) is None
    # The branch itself sees its own Nov 22
    assert resolve_open_week("branch", TREE, by_node, None) == NOV_22


def test_an_open_week_on_the_node_beats_a_closed_one_above_it() -> None:
    by_node = weeks({"sub": {NOV_29: OPEN}, "branch": {NOV_29: CLOSED, NOV_22: CLOSED}})
    assert open_weeks_at("sub", TREE, by_node) == [NOV_29]


@pytest.mark.parametrize(
    ("day", "week_ending", "problem"),
    [
        (NOV_22, "Sunday", None),
        (date(2026, 11, 25), "Sunday", "2026-11-25 is a Wednesday; this agency's weeks end on a Sunday"),
        (date(2026, 11, 28), "Saturday", None),
        (NOV_22, "Saturday", "2026-11-22 is a Sunday; this agency's weeks end on a Saturday"),
    ],
)
def test_a_weekend_bill_falls_on_the_agencys_week_ending_day(day: date, week_ending: str, problem: str | None) -> None:
    assert week_ending_problem(day, week_ending) == problem


def test_the_week_ending_day_is_sunday_by_default_and_a_bad_one_fails_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from timerack_bridge.config import ApiSettings, ConfigurationError

    base = {
        "TABLE_NAME": "t",
        "IDEMPOTENCY_TABLE_NAME": "i",
        "EXPORT_DESTINATION": "outbox",
        "EXPORT_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/bulk",
        "EXPORT_PRIORITY_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/priority",
    }
    for name, value in base.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("WEEK_ENDING_DAY", raising=False)
    assert ApiSettings.from_env().week_ending_day == "Sunday"
    monkeypatch.setenv("WEEK_ENDING_DAY", "saturday")
    assert ApiSettings.from_env().week_ending_day == "Saturday"
    monkeypatch.setenv("WEEK_ENDING_DAY", "Funday")
    with pytest.raises(ConfigurationError, match="WEEK_ENDING_DAY"):
        ApiSettings.from_env()


def test_a_parent_below_the_node_or_the_node_itself_would_make_a_cycle() -> None:
    assert TREE.would_cycle("branch", "sub") and TREE.would_cycle("branch", "branch")
    assert TREE.would_cycle("system", "sub")
    assert not TREE.would_cycle("sub", "system") and not TREE.would_cycle("new", "sub")


def test_a_customer_parent_chain_that_comes_back_is_a_cycle() -> None:
    from timerack_bridge.logic.admin_checks import customer_parent_problem

    parents = {100: None, 101: 100, 102: 101}
    lookup = parents.get

    def parent_of(customer_id: int) -> tuple[bool, int | None]:
        return customer_id in parents, lookup(customer_id)

    assert customer_parent_problem(100, 102, parent_of) is not None  # 102 < 101 < 100
    assert customer_parent_problem(100, 100, parent_of) is not None
    assert customer_parent_problem(102, 100, parent_of) is None
    assert customer_parent_problem(103, 999, parent_of) == "parent customer 999 does not exist"
