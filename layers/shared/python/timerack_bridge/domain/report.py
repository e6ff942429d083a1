"""The Payroll History CSV report (also the emailed error file)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from timerack_bridge.domain.batch import AssignmentResult

REPORT_HEADER = ("Assignment ID", "Employee ID", "Pay Code", "Weekend Bill", "Status", "Error Message")
# OWASP's and ASVS 1.2.10's list, the NUL and line feed too, and the full-width forms some locales read alike.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\0", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def neutralise(cell: str) -> str:
    """Prefix a cell a spreadsheet would run as a formula with a quote, so it shows as text.

    Leading blanks are looked through: some spreadsheets drop them and read " =1+1" as a formula.
    """
    return "'" + cell if cell.startswith(_FORMULA_START) or cell.lstrip().startswith(_FORMULA_START) else cell


def report_rows(results: Iterable[AssignmentResult], *, errors_only: bool = False) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for result in results:
        if errors_only and result.status != "error":
            continue
        for pay_code in result.pay_codes or [""]:
            rows.append(
                (
                    str(result.assignment_id),
                    "" if result.employee_id is None else str(result.employee_id),
                    pay_code,
                    result.weekend_bill.isoformat() if result.weekend_bill else "",
                    result.status,
                    result.error or "",
                )
            )
    return rows


def render_csv(results: Iterable[AssignmentResult], *, errors_only: bool = False) -> str:
    """CSV with the report's header (docs/contract.md), every cell neutralised against formula injection."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(REPORT_HEADER)
    for row in report_rows(results, errors_only=errors_only):
        writer.writerow([neutralise(cell) for cell in row])
    return buffer.getvalue()
