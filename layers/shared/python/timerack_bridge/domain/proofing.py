"""Proofing a week: which units a clerk asked for, what each timecard shows, and the totals per pay code."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from timerack_bridge.domain.entities import Customer, Employee, Timecard
from timerack_bridge.domain.hierarchy import HierarchyTree
from timerack_bridge.domain.types import CamelModel, PayrollStatus


@dataclass(frozen=True)
class WeekUnit:
    """A unit (assignment, week) as its header keeps it: whose it is, where, its lock, its pay codes."""

    assignment_id: int
    employee_id: int
    customer_id: int
    hierarchy_node_id: str
    payroll_status: PayrollStatus
    pay_codes: tuple[str, ...]


@dataclass(frozen=True)
class ProofingSelection:
    """The units at or below a node, of some customers (a client's tree) and in one payroll status, if asked."""

    node_ids: frozenset[str]
    customer_ids: frozenset[int] | None = None
    payroll_status: PayrollStatus | None = None

    @classmethod
    def under(
        cls,
        tree: HierarchyTree,
        node_id: str,
        *,
        customer_ids: Iterable[int] | None = None,
        payroll_status: PayrollStatus | None = None,
    ) -> ProofingSelection:
        below = frozenset(n for n in tree.nodes if tree.is_at_or_below(n, node_id))
        customers = None if customer_ids is None else frozenset(customer_ids)
        return cls(node_ids=below, customer_ids=customers, payroll_status=payroll_status)

    def takes(self, unit: WeekUnit) -> bool:
        return (
            unit.hierarchy_node_id in self.node_ids
            and (self.customer_ids is None or unit.customer_id in self.customer_ids)
            and (self.payroll_status is None or unit.payroll_status == self.payroll_status)
        )


class ProofedTimecard(Timecard):
    """A current timecard as a clerk proofs it: with the employee's and customer's names and the unit's node."""

    employee_name: str
    customer_name: str
    hierarchy_node_id: str


class PayCodeTotal(CamelModel):
    pay_code: str
    timecards: int
    hours: float
    adjustments: float


def employee_name(employee: Employee | None) -> str:
    """'Last, First', as payroll lists people; empty for an employee no longer stored."""
    return f"{employee.last_name}, {employee.first_name}" if employee else ""


def proofed(
    card: Timecard, unit: WeekUnit, employees: dict[int, Employee], customers: dict[int, Customer]
) -> ProofedTimecard:
    customer = customers.get(card.customer_id)
    return ProofedTimecard(
        **card.model_dump(),
        employee_name=employee_name(employees.get(card.employee_id)),
        customer_name=customer.name if customer else "",
        hierarchy_node_id=unit.hierarchy_node_id,
    )


def pay_code_totals(cards: Iterable[Timecard]) -> list[PayCodeTotal]:
    """Timecards, hours and adjustment amounts per pay code, in pay-code order."""
    counts: dict[str, int] = {}
    hours: dict[str, float] = {}
    amounts: dict[str, float] = {}
    for card in cards:
        counts[card.pay_code] = counts.get(card.pay_code, 0) + 1
        hours[card.pay_code] = hours.get(card.pay_code, 0.0) + card.total_hours
        amounts[card.pay_code] = amounts.get(card.pay_code, 0.0) + sum(a.amount for a in card.adjustments)
    return [
        PayCodeTotal(
            pay_code=code, timecards=counts[code], hours=round(hours[code], 2), adjustments=round(amounts[code], 2)
        )
        for code in sorted(counts)
    ]
