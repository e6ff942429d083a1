"""The proofing CSV of a week: one row per day of each current timecard, formula-safe as the report is."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from timerack_bridge.domain.entities import Adjustment
from timerack_bridge.domain.proofing import ProofedTimecard
from timerack_bridge.domain.report import neutralise

PROOFING_HEADER = (
    "Assignment ID",
    "Employee ID",
    "Employee Name",
    "Customer",
    "Pay Code",
    "Date",
    "Hours",
    "Adjustments",
    "Payroll Status",
    "Last Batch",
)


def adjustments_text(adjustments: Iterable[Adjustment]) -> str:
    """'BONUS 50.00 description; MEAL 12.50', in the order sent."""
    return "; ".join(f"{a.code} {a.amount:.2f}" + (f" {a.description}" if a.description else "") for a in adjustments)


def proofing_rows(cards: Iterable[ProofedTimecard]) -> list[tuple[str, ...]]:
    """A row per day; the adjustments on the timecard's first row only, so a sum never counts them twice."""
    rows: list[tuple[str, ...]] = []
    for card in cards:
        days = [(d.date.isoformat(), f"{d.hours:g}") for d in card.days] or [("", "")]
        for index, (day, hours) in enumerate(days):
            rows.append(
                (
                    str(card.assignment_id),
                    str(card.employee_id),
                    card.employee_name,
                    card.customer_name,
                    card.pay_code,
                    day,
                    hours,
                    adjustments_text(card.adjustments) if index == 0 else "",
                    card.payroll_status.value,
                    card.source_batch_id,
                )
            )
    return rows


def render_proofing_csv(cards: Iterable[ProofedTimecard]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(PROOFING_HEADER)
    for row in proofing_rows(cards):
        writer.writerow([neutralise(cell) for cell in row])
    return buffer.getvalue()
