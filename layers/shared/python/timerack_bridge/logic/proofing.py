"""Proofing a week: the current timecards of a week at or below a node, a page at a time or all at once.

The week's unit headers come from the index by week (ten shards, one Query page at a time); each
header names its node, customer, lock and pay codes, so the filters are applied to the headers and
only the timecards of the units kept are read (BatchGetItem by pay code), with their employees'
and customers' names in bulk.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date

from timerack_bridge.domain.hierarchy import HierarchyTree
from timerack_bridge.domain.proofing import (
    PayCodeTotal,
    ProofedTimecard,
    ProofingSelection,
    WeekUnit,
    pay_code_totals,
    proofed,
)
from timerack_bridge.domain.types import PayrollStatus
from timerack_bridge.domain.weeks import week_ending_problem
from timerack_bridge.exceptions import NotFoundError, PayloadTooLargeError, UnprocessableError
from timerack_bridge.logic.admin_checks import node_missing
from timerack_bridge.logic.ports import ProofingAdminData, WeekTimecards

# Headers one page reads at most: a node with few units in a large week answers in bounded time
# (a short or even empty page with a nextToken) instead of reading the whole week in one request.
MAX_UNITS_READ_PER_PAGE = 2000
# The CSV is one Lambda reply (6 MB at most): past this many timecards the clerk narrows the selection.
MAX_CSV_TIMECARDS = 5000
CSV_PAGE = 500


@dataclass(frozen=True)
class ProofingRequest:
    weekend_bill: date
    hierarchy_node_id: str
    client_key: str | None = None
    payroll_status: PayrollStatus | None = None


@dataclass(frozen=True)
class ProofingPage:
    items: list[ProofedTimecard]
    totals: list[PayCodeTotal]  # of this page's items
    next_token: str | None


def selection_of(admin: ProofingAdminData, request: ProofingRequest) -> ProofingSelection:
    """The node (422 if it does not exist) and the client's customers (404 for a key no customer has)."""
    tree = HierarchyTree.of(admin.list_nodes())
    if request.hierarchy_node_id not in tree.nodes:
        raise UnprocessableError(node_missing(request.hierarchy_node_id))
    customer_ids = None
    if request.client_key is not None:
        customer = admin.get_customer_by_client_key(request.client_key)
        if customer is None:
            raise NotFoundError(f"The Timerack Client Key {request.client_key} could not be found.")
        customer_ids = admin.customer_tree_ids(customer.customer_id)
    return ProofingSelection.under(
        tree, request.hierarchy_node_id, customer_ids=customer_ids, payroll_status=request.payroll_status
    )


def _require_a_week(units: WeekTimecards, weekend_bill: date, week_ending_day: str) -> None:
    """A day that ends no week is refused, unless timecards were stored for it before the weekday check."""
    problem = week_ending_problem(weekend_bill, week_ending_day)
    if problem and next(iter(units.week_units(weekend_bill)), None) is None:
        raise UnprocessableError(problem)


def _pick_units(
    found: Iterator[tuple[WeekUnit, str]], selection: ProofingSelection, limit: int
) -> tuple[list[WeekUnit], str | None]:
    """The selected units until they hold `limit` timecards (a unit is never split) or the read budget is spent."""
    picked: list[WeekUnit] = []
    cards = 0
    for read, (unit, after) in enumerate(found, start=1):
        if selection.takes(unit):
            picked.append(unit)
            cards += len(unit.pay_codes)
        if cards >= limit or read >= MAX_UNITS_READ_PER_PAGE:
            return picked, after
    return picked, None


def _proof(
    admin: ProofingAdminData, units: WeekTimecards, weekend_bill: date, picked: Sequence[WeekUnit]
) -> list[ProofedTimecard]:
    """The picked units' current timecards, named in bulk, by assignment and pay code."""
    if not picked:
        return []
    by_assignment = {unit.assignment_id: unit for unit in picked}
    cards = units.current_timecards(weekend_bill, picked)
    employees = admin.batch_get_employees(sorted({c.employee_id for c in cards}))
    customers = admin.batch_get_customers(sorted({c.customer_id for c in cards}))
    rows = [proofed(card, by_assignment[card.assignment_id], employees, customers) for card in cards]
    return sorted(rows, key=lambda row: (row.assignment_id, row.pay_code))


def proof_week_page(
    admin: ProofingAdminData,
    units: WeekTimecards,
    request: ProofingRequest,
    *,
    week_ending_day: str,
    limit: int,
    next_token: str | None = None,
) -> ProofingPage:
    """One page of the selection, with the totals of that page."""
    selection = selection_of(admin, request)
    if next_token is None:
        _require_a_week(units, request.weekend_bill, week_ending_day)
    picked, token = _pick_units(units.week_units(request.weekend_bill, next_token), selection, limit)
    items = _proof(admin, units, request.weekend_bill, picked)
    return ProofingPage(items=items, totals=pay_code_totals(items), next_token=token)


def proof_whole_week(
    admin: ProofingAdminData, units: WeekTimecards, request: ProofingRequest, *, week_ending_day: str
) -> list[ProofedTimecard]:
    """The whole selection (the CSV), the week's headers read once; 413 past MAX_CSV_TIMECARDS."""
    selection = selection_of(admin, request)
    _require_a_week(units, request.weekend_bill, week_ending_day)
    picked = [unit for unit, _ in units.week_units(request.weekend_bill) if selection.takes(unit)]
    count = sum(len(unit.pay_codes) for unit in picked)
    if count > MAX_CSV_TIMECARDS:
        raise PayloadTooLargeError(
            f"the selection holds {count} timecards, over the CSV's {MAX_CSV_TIMECARDS}: "
            "narrow it with a lower hierarchyNodeId, a clientKey or a payrollStatus"
        )
    items: list[ProofedTimecard] = []
    for start in range(0, len(picked), CSV_PAGE):
        items.extend(_proof(admin, units, request.weekend_bill, picked[start : start + CSV_PAGE]))
    return sorted(items, key=lambda row: (row.assignment_id, row.pay_code))
