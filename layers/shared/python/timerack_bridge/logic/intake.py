"""The batch pipeline shared by "Send to TempWorks" and the manual Timecard Import.

Checks every assignment in the contract's order (docs/contract.md: hierarchy level, visibility, status, open
week, content, payroll lock), then writes each unit with one conditional transaction, with bounded
parallelism. Reference data for the whole batch is read in bulk (BatchGetItem, Query).
"""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from timerack_bridge.adapters.dynamodb.timecards import UnitWrite
from timerack_bridge.api.auth import TimerackAccess
from timerack_bridge.domain import errors
from timerack_bridge.domain.replacement import ReplacementPlan, UnitState, plan_replacement, send_version
from timerack_bridge.domain.timecards import ContentError, TimecardDraft, check_unit, timecard_id
from timerack_bridge.domain.weeks import NodeWeeks, resolve_open_week
from timerack_bridge.models import (
    Assignment,
    AssignmentResult,
    BatchCounts,
    BatchResult,
    Customer,
    Timecard,
    TimecardIn,
)

if TYPE_CHECKING:
    from timerack_bridge.api.deps import Services

MAX_WRITE_ATTEMPTS = 6


@dataclass
class _Unit:
    """One assignment of the batch on its way through the checks."""

    assignment_id: int
    rows: list[TimecardIn]
    assignment: Assignment | None = None
    weekend_bill: date | None = None
    drafts: list[TimecardDraft] = field(default_factory=list)
    plan: ReplacementPlan | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    content_warnings: list[str] = field(default_factory=list)  # from the checks; kept when the plan is redone


def new_batch_id(now: datetime) -> str:
    return f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}"


def submit_batch(
    services: Services,
    access: TimerackAccess,
    customer: Customer,
    timecards: Sequence[TimecardIn],
    *,
    preferred_weekend_bill: date | None = None,
    strict_week: bool = False,
    source: str = "timerack",
    dry_run: bool = False,
    now: datetime | None = None,
    before_unit_write: Callable[[int], None] | None = None,
) -> BatchResult:
    """Run one batch and keep it as Payroll History (unless a dry run)."""
    admin, batches, store, settings = services.admin, services.batches, services.timecards, services.settings
    submitted_at = (now or datetime.now(UTC)).astimezone(UTC)
    batch_id = new_batch_id(submitted_at)
    version = send_version(submitted_at.isoformat(timespec="microseconds"), batch_id)

    units: dict[int, _Unit] = {}
    for row in timecards:
        units.setdefault(row.assignment_id, _Unit(assignment_id=row.assignment_id, rows=[])).rows.append(row)

    def result_of(unit: _Unit) -> AssignmentResult:
        status = "error" if unit.error or unit.plan is None else unit.plan.result_status
        employee_id = unit.assignment.employee_id if unit.assignment else unit.rows[0].employee_id
        return AssignmentResult(
            assignment_id=unit.assignment_id,
            status=status,
            timecard_ids=(
                [timecard_id(unit.assignment_id, unit.weekend_bill, d.pay_code) for d in unit.drafts]
                if status != "error" and unit.weekend_bill
                else []
            ),
            error=unit.error,
            warnings=unit.warnings,
            employee_id=employee_id,
            pay_codes=[r.pay_code.strip().upper() for r in unit.rows],
            weekend_bill=unit.weekend_bill,
        )

    def batch(status: str) -> BatchResult:
        results = [result_of(u) for u in units.values()]
        tally = Counter(r.status for r in results)
        weeks = {r.weekend_bill for r in results if r.weekend_bill}
        weekend_bill = (
            next(iter(weeks)) if len(weeks) == 1 else preferred_weekend_bill or (min(weeks) if weeks else None)
        )
        return BatchResult(
            batch_id=batch_id,
            client_key=customer.timerack_client_key or "",
            customer_id=customer.customer_id,
            submitted_at=submitted_at,
            weekend_bill=weekend_bill,
            counts=BatchCounts(
                assignments=len(results), created=tally["created"], replaced=tally["replaced"], errors=tally["error"]
            ),
            results=results,
            source=source,  # type: ignore[arg-type]
            status=status,  # type: ignore[arg-type]
            dry_run=dry_run,
        )

    # The error-file setting in force now goes with the batch: a later change adds or removes no email.
    error_file = admin.payroll_email_of(customer) if not dry_run else None
    if not dry_run:
        # Written first, so an interrupted send still shows in Payroll History.
        batches.put_batch(batch("processing"), error_file=error_file)

    pending = list(units.values())
    if not access.may_create_timecards:
        for unit in pending:
            unit.error = errors.HIERARCHY_LEVEL
        pending = []

    # The bulk reads' 100-key calls run side by side, on as many threads as the unit writes below.
    readers = settings.write_parallelism
    assignments = admin.batch_get_assignments([u.assignment_id for u in pending], workers=readers) if pending else {}
    client_customers = admin.customer_tree_ids(customer.customer_id) if pending else set()
    week_cache: dict[str, date | None] = {}
    weeks_cache: dict[str, NodeWeeks] = {}

    def weeks_of(node_id: str) -> NodeWeeks:
        # Open and closed: a week closed on a node hides the same week open on its ancestors.
        if node_id not in weeks_cache:
            weeks_cache[node_id] = admin.weeks_of_node(node_id)
        return weeks_cache[node_id]

    checked: list[_Unit] = []
    for unit in pending:
        assignment = assignments.get(unit.assignment_id)
        if (
            assignment is None
            or assignment.customer_id not in client_customers
            or not access.sees(assignment.hierarchy_node_id)
        ):
            unit.error = errors.assignment_not_found(unit.assignment_id)
            continue
        unit.assignment = assignment
        if not assignment.status.allows_timecards:
            unit.error = errors.assignment_status_blocked(unit.assignment_id)
            continue
        node = assignment.hierarchy_node_id
        if node not in week_cache:
            week_cache[node] = resolve_open_week(
                node, access.tree, weeks_of, preferred_weekend_bill, strict=strict_week
            )
        unit.weekend_bill = week_cache[node]
        if unit.weekend_bill is None:
            unit.error = errors.NO_OPEN_WEEKS
            continue
        try:
            content = check_unit(
                unit.rows,
                weekend_bill=unit.weekend_bill,
                pay_codes=settings.pay_codes,
                expected_employee_id=assignment.employee_id,
            )
            unit.drafts, unit.content_warnings = content.drafts, content.warnings
        except ContentError as exc:
            unit.error = exc.for_assignment(unit.assignment_id)
            continue
        checked.append(unit)

    unit_keys = [(u.assignment_id, u.weekend_bill) for u in checked if u.weekend_bill is not None]
    states = store.unit_states(unit_keys, workers=readers) if unit_keys else {}

    def plan(unit: _Unit, state: UnitState | None) -> None:
        assert unit.weekend_bill is not None
        unit.plan = plan_replacement(
            state,
            assignment_id=unit.assignment_id,
            weekend_bill=unit.weekend_bill,
            new_version=version,
            new_pay_codes=[d.pay_code for d in unit.drafts],
        )
        unit.error = unit.plan.error
        removed = [f"pay code {code} was not in this send and was removed" for code in unit.plan.delete_pay_codes]
        unit.warnings = [*unit.content_warnings, *removed]

    for unit in checked:
        plan(unit, states.get((unit.assignment_id, unit.weekend_bill)))  # type: ignore[arg-type]

    def write(unit: _Unit) -> None:
        assert unit.assignment is not None and unit.weekend_bill is not None
        for attempt in range(MAX_WRITE_ATTEMPTS):
            if unit.plan is None or unit.plan.action == "refuse":
                return
            if before_unit_write is not None:
                before_unit_write(unit.assignment_id)
            outcome = store.write_unit(_unit_write(unit, version, batch_id, customer))
            if outcome == "written":
                return
            if outcome == "condition-failed":
                # Someone changed the unit since it was read: read it again and plan again.
                state = store.unit_state(unit.assignment_id, unit.weekend_bill)
                if state is not None and state.version == version:
                    # That someone was this send: an earlier attempt landed but its reply was lost
                    # (botocore retried it). The unit is written; planning again would call it superseded.
                    return
                plan(unit, state)
            time.sleep(min(0.02 * 2**attempt, 0.5) * (0.5 + random.random()))
        if unit.plan is None or unit.plan.action == "refuse":
            return  # the last read showed the unit locked or newer: that is its result, not a retry
        final = store.unit_state(unit.assignment_id, unit.weekend_bill)
        if final is not None and final.version == version:
            return  # the last attempt's reply was lost, but it landed
        unit.plan = None
        unit.error = (
            f"The timecard for Assignment {unit.assignment_id} for the week ending "
            f"{unit.weekend_bill.isoformat()} could not be written right now; re-send to finish."
        )

    writable = [u for u in checked if u.plan and u.plan.action != "refuse"]
    if not dry_run and writable:
        workers = min(settings.write_parallelism, len(writable))
        if workers == 1:
            for unit in writable:
                write(unit)
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(write, writable))

    if dry_run:
        return batch("dry-run")
    final = batch("completed")
    batches.put_batch(final, error_file=error_file)
    return final


def _unit_write(unit: _Unit, version: str, batch_id: str, customer: Customer) -> UnitWrite:
    assert unit.assignment is not None and unit.weekend_bill is not None and unit.plan is not None
    cards = [
        Timecard(
            timecard_id=timecard_id(unit.assignment_id, unit.weekend_bill, draft.pay_code),
            assignment_id=unit.assignment_id,
            employee_id=unit.assignment.employee_id,
            customer_id=unit.assignment.customer_id,
            weekend_bill=unit.weekend_bill,
            pay_code=draft.pay_code,
            days=list(draft.days),
            total_hours=draft.total_hours,
            adjustments=list(draft.adjustments),
            source_batch_id=batch_id,
        )
        for draft in unit.drafts
    ]
    return UnitWrite(
        assignment_id=unit.assignment_id,
        weekend_bill=unit.weekend_bill,
        version=version,
        batch_id=batch_id,
        customer_id=unit.assignment.customer_id,
        employee_id=unit.assignment.employee_id,
        hierarchy_node_id=unit.assignment.hierarchy_node_id,
        timecards=cards,
        delete_pay_codes=unit.plan.delete_pay_codes,
        expected_version=None if unit.plan.action == "create" else unit.plan.expected_version,
    )
