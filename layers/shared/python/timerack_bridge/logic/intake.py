"""The batch pipeline shared by "Send to TempWorks" and the manual Timecard Import.

Four steps: check every assignment in the contract's order (docs/contract.md: hierarchy level,
visibility, status, open week, content), plan each unit's replacement against what is stored (the
payroll lock, send order), write the units (conditional transactions of up to 100 actions, a unit
never split, with bounded parallelism), and summarise the batch as Payroll History. Reference data
for the whole batch is read in bulk (BatchGetItem, Query).
"""

from __future__ import annotations

import gc
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from timerack_bridge.domain import errors
from timerack_bridge.domain.access import TimerackAccess
from timerack_bridge.domain.batch import AssignmentResult, BatchCounts, BatchResult, TimecardIn
from timerack_bridge.domain.entities import Assignment, Customer, Timecard
from timerack_bridge.domain.replacement import ReplacementPlan, UnitState, plan_replacement, send_version
from timerack_bridge.domain.timecards import ContentError, TimecardDraft, check_unit, timecard_id
from timerack_bridge.domain.weeks import NodeWeeks, resolve_open_week
from timerack_bridge.logic.ports import (
    AcceptedRecord,
    IntakeServices,
    TimecardUnits,
    UnitKey,
    UnitWrite,
    WriteOutcome,
)

MAX_WRITE_ATTEMPTS = 6


class WeeksChangedError(RuntimeError):
    """Two runs of one accepted batch resolved different open weeks; the later retries as a re-run."""


@dataclass
class _Unit:
    """One assignment of the batch on its way through the steps."""

    assignment_id: int
    rows: list[TimecardIn]
    assignment: Assignment | None = None
    weekend_bill: date | None = None
    drafts: list[TimecardDraft] = field(default_factory=list)
    plan: ReplacementPlan | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    content_warnings: list[str] = field(default_factory=list)  # from the checks; kept when the plan is redone
    staged: UnitWrite | None = None  # what its transaction writes, built from the plan (dropped when replanned)

    @property
    def writable(self) -> bool:
        # A refused unit is not written; nor is one this send already wrote ("written": a run again).
        return self.plan is not None and self.plan.action in ("create", "replace")

    @property
    def unit_key(self) -> UnitKey:
        assert self.weekend_bill is not None
        return (self.assignment_id, self.weekend_bill)


@dataclass(frozen=True)
class _Send:
    """One run of the pipeline: its batch id, its place in the send order, and how it was asked for."""

    batch_id: str
    version: str
    submitted_at: datetime
    customer: Customer
    preferred_weekend_bill: date | None
    source: str
    dry_run: bool


def new_batch_id(now: datetime) -> str:
    return f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}"


class _FewFullCollections:
    """For the length of a batch, the collector's full (gen-2) collections wait.

    A full collection walks every object the process holds, and a batch builds some hundred objects per
    timecard that live until it ends: at the default threshold a 5,000-timecard batch ran several, a
    third of its CPU (docs/benchmarks.md). Young collections go on; cyclic garbage waits for the end of
    the batch. Batches running side by side (tests, the local runtime) share one raise.
    """

    GEN2_THRESHOLD = 1_000  # gen-1 collections between two full ones (Python's default: 10)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._batches = 0
        self._saved = gc.get_threshold()

    def __enter__(self) -> None:
        with self._lock:
            if self._batches == 0:
                self._saved = gc.get_threshold()
                gen0, gen1, gen2 = self._saved
                gc.set_threshold(gen0, gen1, max(gen2, self.GEN2_THRESHOLD))
            self._batches += 1

    def __exit__(self, *_: object) -> None:
        with self._lock:
            self._batches -= 1
            if self._batches == 0:
                gc.set_threshold(*self._saved)


# The API handler holds it for a whole request too (the body's parse and the reply's dump are a batch's).
deferred_full_collections = _FewFullCollections()


def submit_batch(
    services: IntakeServices,
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
    submitted_at = (now or datetime.now(UTC)).astimezone(UTC)
    batch_id = new_batch_id(submitted_at)
    version = send_version(submitted_at.isoformat(timespec="microseconds"), batch_id)
    send = _Send(batch_id, version, submitted_at, customer, preferred_weekend_bill, source, dry_run)
    with deferred_full_collections:
        return _run(services, access, send, _units_of(timecards), strict_week, before_unit_write)


def _run(
    services: IntakeServices,
    access: TimerackAccess,
    send: _Send,
    units: list[_Unit],
    strict_week: bool,
    before_unit_write: Callable[[int], None] | None,
    *,
    accepted: AcceptedRecord | None = None,
    keep_weeks: Callable[[dict[str, date | None]], dict[str, date | None]] | None = None,
) -> BatchResult:
    """The batch's four steps, its Payroll History written before and after (unless a dry run).

    `accepted`: a batch the API accepted earlier (logic/intake_async.py): its `processing` record is written,
    and its error-file setting is the one kept on it. `keep_weeks`: keeps its run's open weeks before a unit is
    written, so that a later run of it (a redelivery) knows the units the first wrote."""
    dry_run, version, customer = send.dry_run, send.version, send.customer
    # The error-file setting in force now goes with the batch: a later change adds or removes no email.
    error_file = services.admin.payroll_email_of(customer) if not dry_run and accepted is None else None
    if accepted is not None:
        error_file = accepted.error_file
    elif not dry_run:
        # Written first, so an interrupted send still shows in Payroll History.
        services.batches.put_batch(summarise(send, units, "processing"), error_file=error_file)
    kept_weeks = accepted.weeks if accepted is not None else None
    checks = _UnitChecks(services, access, send, strict_week, rerun=kept_weeks is not None)
    checked = checks.run(units)
    plan_units(services.timecards, checked, version, workers=services.settings.write_parallelism)
    if dry_run:
        return summarise(send, units, "dry-run")
    if kept_weeks is None and keep_weeks is not None:
        ours = dict(checks.week_of_node)
        if keep_weeks(ours) != ours:
            # Another run of this batch kept other weeks first (a week changed between them): this run writes
            # nothing; the retry runs as a re-run against the weeks kept.
            raise WeeksChangedError(f"another run of batch {send.batch_id} resolved other open weeks")
    elif kept_weeks is not None:
        recover_written(services.timecards, checks, units, send, kept_weeks)
    writer = UnitWriter(services.timecards, send, before_unit_write)
    writer.write_all([u for u in checked if u.writable], parallelism=services.settings.write_parallelism)
    final = summarise(send, units, "completed")
    if not services.batches.put_batch(final, error_file=error_file, over_processing=accepted is not None):
        # Another delivery of this accepted batch completed it first: its record is the batch's one answer.
        return services.batches.get_batch(send.batch_id) or final
    return final


def _units_of(timecards: Iterable[TimecardIn]) -> list[_Unit]:
    """The batch's rows grouped by assignment, in the order each assignment first appears."""
    units: dict[int, _Unit] = {}
    for row in timecards:
        units.setdefault(row.assignment_id, _Unit(assignment_id=row.assignment_id, rows=[])).rows.append(row)
    return list(units.values())


# ---------------------------------------------------------------- 1. check


class _UnitChecks:
    """The contract's checks of each unit, against reference data read once for the whole batch."""

    def __init__(
        self,
        services: IntakeServices,
        access: TimerackAccess,
        send: _Send,
        strict_week: bool,
        *,
        rerun: bool = False,
    ) -> None:
        self.admin = services.admin
        self.settings = services.settings
        self.access = access
        self.send = send
        self.strict_week = strict_week
        # A re-run of an accepted batch: the assignments are read even when the rep may create nothing now.
        self.rerun = rerun
        self.week_of_node: dict[str, date | None] = {}
        self.assignments: dict[int, Assignment] = {}
        self.weeks_cache: dict[str, NodeWeeks] = {}

    def run(self, units: list[_Unit]) -> list[_Unit]:
        """The units that pass every check; the others carry their error."""
        # The bulk reads' 100-key calls run side by side, on as many threads as the unit writes.
        workers = self.settings.write_parallelism
        ids = [u.assignment_id for u in units]
        if not self.access.may_create_timecards:
            for unit in units:
                unit.error = errors.HIERARCHY_LEVEL
            if self.rerun and units:  # what an earlier run wrote is still told (recover_written)
                self.assignments = self.admin.batch_get_assignments(ids, workers=workers)
            return []
        self.assignments = self.admin.batch_get_assignments(ids, workers=workers) if units else {}
        self.client_customers = self.admin.customer_tree_ids(self.send.customer.customer_id) if units else set()
        return [unit for unit in units if self._passes(unit)]

    def _passes(self, unit: _Unit) -> bool:
        assignment = self.assignments.get(unit.assignment_id)
        if (
            assignment is None
            or assignment.customer_id not in self.client_customers
            or not self.access.sees(assignment.hierarchy_node_id)
        ):
            unit.error = errors.assignment_not_found(unit.assignment_id)
            return False
        unit.assignment = assignment
        if not assignment.status.allows_timecards:
            unit.error = errors.assignment_status_blocked(unit.assignment_id)
            return False
        unit.weekend_bill = self._open_week(assignment.hierarchy_node_id)
        if unit.weekend_bill is None:
            unit.error = errors.NO_OPEN_WEEKS
            return False
        try:
            content = check_unit(
                unit.rows,
                weekend_bill=unit.weekend_bill,
                pay_codes=self.settings.pay_codes,
                expected_employee_id=assignment.employee_id,
            )
        except ContentError as exc:
            unit.error = exc.for_assignment(unit.assignment_id)
            return False
        unit.drafts, unit.content_warnings = content.drafts, content.warnings
        return True

    def _open_week(self, node_id: str) -> date | None:
        if node_id not in self.week_of_node:
            self.week_of_node[node_id] = resolve_open_week(
                node_id, self.access.tree, self._weeks_of, self.send.preferred_weekend_bill, strict=self.strict_week
            )
        return self.week_of_node[node_id]

    def _weeks_of(self, node_id: str) -> NodeWeeks:
        # Open and closed: a week closed on a node hides the same week open on its ancestors.
        if node_id not in self.weeks_cache:
            self.weeks_cache[node_id] = self.admin.weeks_of_node(node_id)
        return self.weeks_cache[node_id]


# ---------------------------------------------------------------- 2. plan


def plan_units(store: TimecardUnits, checked: list[_Unit], version: str, *, workers: int) -> None:
    """Plan each checked unit against its stored state, read in bulk."""
    unit_keys = [(u.assignment_id, u.weekend_bill) for u in checked if u.weekend_bill is not None]
    states = store.unit_states(unit_keys, workers=workers) if unit_keys else {}
    for unit in checked:
        assert unit.weekend_bill is not None
        plan_unit(unit, states.get((unit.assignment_id, unit.weekend_bill)), version)


def plan_unit(unit: _Unit, state: UnitState | None, version: str) -> None:
    """The unit's replacement plan against what is stored now (the lock, the send order)."""
    assert unit.weekend_bill is not None
    unit.plan = plan_replacement(
        state,
        assignment_id=unit.assignment_id,
        weekend_bill=unit.weekend_bill,
        new_version=version,
        new_pay_codes=[d.pay_code for d in unit.drafts],
    )
    unit.error = unit.plan.error
    unit.staged = None
    removed = [f"pay code {code} was not in this send and was removed" for code in unit.plan.delete_pay_codes]
    unit.warnings = [*unit.content_warnings, *removed]


def recover_written(
    store: TimecardUnits, checks: _UnitChecks, units: list[_Unit], send: _Send, first_weeks: Mapping[str, date | None]
) -> None:
    """A re-run of an accepted batch: a unit its first run wrote (in the week that run resolved for its node)
    reports that ("written", its result), even where a check now fails (the rep left the group, the assignment
    ended, the week closed): its timecards are stored. Units not written yet keep what the checks say now."""
    candidates: dict[UnitKey, _Unit] = {}
    for unit in units:
        assignment = checks.assignments.get(unit.assignment_id)
        week = first_weeks.get(assignment.hierarchy_node_id) if assignment is not None else None
        # Planned in the first run's week: that plan already tells "written". Otherwise (a check fails now, or
        # another week is open now) the first run's week decides whether this send wrote the unit.
        if week is not None and not (unit.plan is not None and unit.weekend_bill == week):
            candidates[(unit.assignment_id, week)] = unit
    workers = checks.settings.write_parallelism
    states = store.unit_states(list(candidates), workers=workers) if candidates else {}
    for key, unit in candidates.items():
        state = states.get(key)
        if state is None or state.version != send.version:
            continue
        assignment = checks.assignments[unit.assignment_id]
        try:
            content = check_unit(
                unit.rows,
                weekend_bill=key[1],
                pay_codes=checks.settings.pay_codes,
                expected_employee_id=assignment.employee_id,
            )
        except ContentError:
            continue
        unit.assignment, unit.weekend_bill = assignment, key[1]
        unit.drafts, unit.content_warnings = content.drafts, content.warnings
        plan_unit(unit, state, send.version)


# ---------------------------------------------------------------- 3. write units


# DynamoDB's most actions in one TransactWriteItems: the units of a batch are written in groups up to it.
MAX_TRANSACTION_ACTIONS = 100


def _back_off(tries: int) -> None:
    time.sleep(min(0.02 * 2 ** (tries - 1), 0.5) * (0.5 + random.random()))


class UnitWriter:
    """Writes the units in transactions of several units; owns the retries and knowing whether a write landed.

    A unit is all or nothing: its actions are never split across two transactions. When a transaction is
    cancelled, the reasons of each unit's own actions say what became of it: a unit whose header changed
    is read again and planned again, a unit DynamoDB was too busy for waits its turn (backoff), and the
    others are sent again at once, without them. Each failure counts against that unit's own attempts.
    """

    def __init__(self, store: TimecardUnits, send: _Send, before_unit_write: Callable[[int], None] | None) -> None:
        self.store = store
        self.send = send
        self.before_unit_write = before_unit_write

    def write_all(self, units: list[_Unit], *, parallelism: int) -> None:
        groups = self.groups_of(units)
        if not groups:
            return
        workers = min(parallelism, len(groups))
        if workers == 1:
            for group in groups:
                self.write_group(group)
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(self.write_group, groups))

    def groups_of(self, units: list[_Unit]) -> list[list[_Unit]]:
        """The units in order, cut into transactions of at most MAX_TRANSACTION_ACTIONS actions each."""
        groups: list[list[_Unit]] = []
        size = 0
        for unit in units:
            actions = self.store.actions_of(self._staged(unit))
            if not groups or size + actions > MAX_TRANSACTION_ACTIONS:
                groups.append([])
                size = 0
            groups[-1].append(unit)
            size += actions
        return groups

    def write_group(self, units: list[_Unit]) -> None:
        """Write the units; each one's error says when it could not be written."""
        tries: Counter[int] = Counter()
        ready: list[_Unit] = units
        waiting: list[_Unit] = []
        while ready or waiting:
            if not ready:
                _back_off(max(tries[u.assignment_id] for u in waiting))
                ready, waiting = waiting, []
            again: list[_Unit] = []
            for group in self.groups_of([u for u in ready if u.writable]):
                not_written, failed = self._send(group)
                again.extend(not_written)
                waiting.extend(self._after_failures(failed, tries))
            ready = again

    def _send(self, group: list[_Unit]) -> tuple[list[_Unit], list[tuple[_Unit, WriteOutcome]]]:
        """One transaction of the group: the units to send again at once, and those that failed."""
        if self.before_unit_write is not None:
            for unit in group:
                self.before_unit_write(unit.assignment_id)
        outcomes = self.store.write_units([self._staged(u) for u in group])
        not_written = [u for u, o in zip(group, outcomes, strict=True) if o == "not-written"]
        failed: list[tuple[_Unit, WriteOutcome]] = [
            (u, o) for u, o in zip(group, outcomes, strict=True) if o in ("condition-failed", "retry-later")
        ]
        if not_written and not failed:
            # Cancelled with no unit to blame: each waits its turn as if DynamoDB had been busy.
            return [], [(u, "retry-later") for u in not_written]
        return not_written, failed

    def _after_failures(self, failed: list[tuple[_Unit, WriteOutcome]], tries: Counter[int]) -> list[_Unit]:
        """Plan again the units someone changed (one read for them all); the ones to try again after a wait."""
        changed = [u.unit_key for u, outcome in failed if outcome == "condition-failed"]
        states = self.store.unit_states(changed) if changed else {}
        waiting: list[_Unit] = []
        for unit, outcome in failed:
            tries[unit.assignment_id] += 1
            if outcome == "condition-failed":
                # Someone may be this send: an earlier attempt landed but its reply was lost (botocore
                # retried it); planned again, the unit is "written" with that attempt's result.
                plan_unit(unit, states.get(unit.unit_key), self.send.version)
                if not unit.writable:
                    continue  # written, locked or newer now: that is its result, not a retry
            if tries[unit.assignment_id] < MAX_WRITE_ATTEMPTS:
                waiting.append(unit)
            else:
                self._give_up(unit)
        return waiting

    def _give_up(self, unit: _Unit) -> None:
        assert unit.weekend_bill is not None
        state = self.store.unit_state(unit.assignment_id, unit.weekend_bill)
        if state is not None and state.version == self.send.version:
            plan_unit(unit, state, self.send.version)  # the last attempt's reply was lost, but it landed: "written"
            return
        unit.plan = None
        unit.error = (
            f"The timecard for Assignment {unit.assignment_id} for the week ending "
            f"{unit.weekend_bill.isoformat()} could not be written right now; re-send to finish."
        )

    def _staged(self, unit: _Unit) -> UnitWrite:
        """The unit's write as planned now (built once per plan)."""
        if unit.staged is None:
            unit.staged = unit_write(unit, self.send)
        return unit.staged


def unit_write(unit: _Unit, send: _Send) -> UnitWrite:
    """What one unit's transaction writes: its timecards, the pay codes it drops, the version it expects."""
    assert unit.assignment is not None and unit.weekend_bill is not None and unit.plan is not None
    assignment, weekend_bill = unit.assignment, unit.weekend_bill
    cards = [
        Timecard(
            timecard_id=timecard_id(unit.assignment_id, weekend_bill, draft.pay_code),
            assignment_id=unit.assignment_id,
            employee_id=assignment.employee_id,
            customer_id=assignment.customer_id,
            weekend_bill=weekend_bill,
            pay_code=draft.pay_code,
            days=list(draft.days),
            total_hours=draft.total_hours,
            adjustments=list(draft.adjustments),
            source_batch_id=send.batch_id,
        )
        for draft in unit.drafts
    ]
    return UnitWrite(
        assignment_id=unit.assignment_id,
        weekend_bill=weekend_bill,
        version=send.version,
        batch_id=send.batch_id,
        customer_id=assignment.customer_id,
        employee_id=assignment.employee_id,
        hierarchy_node_id=assignment.hierarchy_node_id,
        timecards=cards,
        delete_pay_codes=unit.plan.delete_pay_codes,
        expected_version=None if unit.plan.action == "create" else unit.plan.expected_version,
    )


# ---------------------------------------------------------------- 4. summarise


def summarise(send: _Send, units: list[_Unit], status: str) -> BatchResult:
    """The batch as Payroll History keeps it: one result per assignment, and their counts."""
    results = [_result_of(u) for u in units]
    tally = Counter(r.status for r in results)
    weeks = {r.weekend_bill for r in results if r.weekend_bill}
    preferred = send.preferred_weekend_bill
    weekend_bill = next(iter(weeks)) if len(weeks) == 1 else preferred or (min(weeks) if weeks else None)
    return BatchResult(
        batch_id=send.batch_id,
        client_key=send.customer.timerack_client_key or "",
        customer_id=send.customer.customer_id,
        submitted_at=send.submitted_at,
        weekend_bill=weekend_bill,
        counts=BatchCounts(
            assignments=len(results), created=tally["created"], replaced=tally["replaced"], errors=tally["error"]
        ),
        results=results,
        source=send.source,  # type: ignore[arg-type]
        status=status,  # type: ignore[arg-type]
        dry_run=send.dry_run,
    )


def _result_of(unit: _Unit) -> AssignmentResult:
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
