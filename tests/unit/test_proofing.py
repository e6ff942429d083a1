"""Proofing a week's pure rules: which units are selected, the totals, the CSV rows."""

from __future__ import annotations

from datetime import date

from timerack_bridge.domain.entities import HierarchyNode
from timerack_bridge.domain.hierarchy import HierarchyTree
from timerack_bridge.domain.proofing import ProofedTimecard, ProofingSelection, WeekUnit, pay_code_totals
from timerack_bridge.domain.proofing_csv import proofing_rows, render_proofing_csv
from timerack_bridge.domain.types import PayrollStatus

TREE = HierarchyTree.of(
    [
        HierarchyNode(node_id="system", name="System"),
        HierarchyNode(node_id="branch", name="Branch", parent_id="system"),
        HierarchyNode(node_id="sub", name="Sub", parent_id="branch"),
        HierarchyNode(node_id="other", name="Other", parent_id="system"),
    ]
)


def unit(node: str, customer: int = 100, status: PayrollStatus = PayrollStatus.OPEN) -> WeekUnit:
    return WeekUnit(1, 501, customer, node, status, ("REG",))


def card(pay_code: str, hours: list[float], amounts: tuple[float, ...] = ()) -> ProofedTimecard:
    return ProofedTimecard(
        timecard_id=f"TC-1-{pay_code}",
        assignment_id=1,
        employee_id=501,
        customer_id=100,
        weekend_bill=date(2026, 11, 22),
        pay_code=pay_code,
        days=[{"date": date(2026, 11, 16 + i), "hours": h} for i, h in enumerate(hours)],
        total_hours=sum(hours),
        adjustments=[{"code": "BONUS", "amount": a} for a in amounts],
        source_batch_id="b-1",
        employee_name="=Doe, Jane",
        customer_name="Acme",
        hierarchy_node_id="branch",
    )


def test_the_selection_is_the_node_and_below_with_the_filters_asked() -> None:
    selection = ProofingSelection.under(TREE, "branch")
    assert selection.takes(unit("branch")) and selection.takes(unit("sub"))
    assert not selection.takes(unit("other")) and not selection.takes(unit("system"))
    narrow = ProofingSelection.under(TREE, "system", customer_ids={100}, payroll_status=PayrollStatus.SENT)
    assert narrow.takes(unit("other", 100, PayrollStatus.SENT))
    assert not narrow.takes(unit("other", 200, PayrollStatus.SENT))
    assert not narrow.takes(unit("other", 100, PayrollStatus.OPEN))


def test_totals_per_pay_code() -> None:
    totals = pay_code_totals([card("REG", [8, 8]), card("REG", [0.1, 0.2]), card("OT", [2.5], (50, 12.5))])
    assert [(t.pay_code, t.timecards, t.hours, t.adjustments) for t in totals] == [
        ("OT", 1, 2.5, 62.5),
        ("REG", 2, 16.3, 0.0),
    ]


def test_a_row_per_day_with_the_adjustments_once_and_formula_cells_neutralised() -> None:
    rows = proofing_rows([card("OT", [2.5, 3], (50,))])
    assert [r[5:8] for r in rows] == [("2026-11-16", "2.5", "BONUS 50.00"), ("2026-11-17", "3", "")]
    assert proofing_rows([card("REG", [])])[0][5:7] == ("", "")
    assert "'=Doe, Jane" in render_proofing_csv([card("REG", [8])])
