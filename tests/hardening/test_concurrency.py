"""Twenty senders re-sending overlapping batches of one client at once, with some units locked first.

Each sender is one Lambda instance: `submit_batch` in its own thread, against one DynamoDB (moto,
each call atomic as in AWS), so sends interleave between calls, exactly where races can happen.
"""

from __future__ import annotations

import random
import threading
from datetime import date
from typing import Any

from tests.conftest import CLIENT_KEY, WEEKEND_BILL, Agency, ApiCall, timecard
from tests.hardening.test_faults import assert_whole, header, rep_access, unit_view
from timerack_bridge.domain.batch import TimecardIn
from timerack_bridge.domain.entities import Assignment

SENDERS = 20
OPEN_UNITS = [2001, 2002, 2003, 2004, 2005, 2006]
LOCKED_UNITS = [2101, 2102]
EMPLOYEE = {2001: 501, 2002: 502, 2003: 503, 2004: 504, 2005: 501, 2006: 502, 2101: 503, 2102: 504}


def sends_for(seed: int) -> list[list[TimecardIn]]:
    """Overlapping batches: each sender picks units and pay codes, with hours that name the sender."""
    chooser = random.Random(seed)
    sends: list[list[TimecardIn]] = []
    for sender in range(SENDERS):
        units = chooser.sample(OPEN_UNITS, k=chooser.randint(2, len(OPEN_UNITS))) + LOCKED_UNITS
        rows = []
        for unit in units:
            for code in chooser.sample(["REG", "OT", "DT"], k=chooser.randint(1, 3)):
                hours = round(1 + sender / 4, 2)  # 1.0 .. 5.75: which sender wrote a timecard shows in it
                rows.append(TimecardIn.model_validate(timecard(unit, EMPLOYEE[unit], code, hours)))
        sends.append(rows)
    return sends


def test_twenty_concurrent_senders_leave_every_unit_exactly_one_send(
    services: Any, agency: Agency, api: ApiCall
) -> None:
    from timerack_bridge.logic.intake import submit_batch

    # Given eight assignments of the client; two of them sent and then sent to payroll (locked)
    for assignment_id, employee_id in EMPLOYEE.items():
        node = "sub" if assignment_id in LOCKED_UNITS else "branch"
        services.admin.put_assignment(
            Assignment(
                assignment_id=assignment_id,
                employee_id=employee_id,
                customer_id=100,
                hierarchy_node_id=node,
                status="Active",
                start_date=date(2026, 1, 5),
            )
        )
    access = rep_access(services)
    customer = services.admin.get_customer_by_client_key(CLIENT_KEY)
    submit_batch(
        services,
        access,
        customer,
        [TimecardIn.model_validate(timecard(a, EMPLOYEE[a], "REG", 9.0)) for a in LOCKED_UNITS],
    )
    locked = api("POST", "/v1/weeks/2026-11-22/send-to-payroll", {"hierarchyNodeId": "sub"}, admin=True)
    assert locked.json["lockedUnits"] == 2
    locked_before = {a: unit_view(services, a) for a in LOCKED_UNITS}
    # When twenty senders send overlapping batches at the same moment
    sends = sends_for(seed=9)
    results: dict[int, Any] = {}
    failures: list[BaseException] = []
    barrier = threading.Barrier(SENDERS)

    def run(sender: int) -> None:
        barrier.wait()
        try:
            results[sender] = submit_batch(services, access, customer, sends[sender])
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures and len(results) == SENDERS
    sender_of = {results[n].batch_id: n for n in results}

    for assignment_id in OPEN_UNITS:
        # Then no unit is half-written or holds a timecard twice or one of an older send
        assert_whole(services, assignment_id)
        stored = services.timecards.timecards(assignment_id, WEEKEND_BILL)
        assert len({c.pay_code for c in stored}) == len(stored)
        # And the unit is exactly one send's rows for it, all of them
        [winner_batch] = {c.source_batch_id for c in stored}
        winner = sender_of[winner_batch]
        sent = {tc.pay_code: tc.days[0].hours for tc in sends[winner] if tc.assignment_id == assignment_id}
        assert {c.pay_code: c.total_hours for c in stored} == sent
        # And that send is the newest of those that report writing it; every other sender either
        # wrote before it (replaced, kept as history) or was told why not
        wrote = [
            n
            for n, r in results.items()
            for u in r.results
            if u.assignment_id == assignment_id and u.status in ("created", "replaced")
        ]
        assert winner in wrote
        unit = header(services, assignment_id)
        assert unit is not None and all(results[n].submitted_at <= results[winner].submitted_at for n in wrote)
        versions = {v["batch_id"] for v in services.timecards.versions(assignment_id, WEEKEND_BILL)}
        assert {results[n].batch_id for n in wrote} <= versions  # nothing that was written is lost
        for result in results.values():
            for u in result.results:
                if u.assignment_id == assignment_id and u.status == "error":
                    assert "newer send" in (u.error or "") or "re-send to finish" in (u.error or "")

    # And no locked timecard changed; every sender was told the unit is sent to payroll
    for assignment_id in LOCKED_UNITS:
        assert unit_view(services, assignment_id) == locked_before[assignment_id]
        for result in results.values():
            [u] = [u for u in result.results if u.assignment_id == assignment_id]
            assert u.status == "error" and "already been sent to payroll" in (u.error or "")
    # And Payroll History holds every send, completed
    history = api("GET", f"/v1/payroll-history?clientKey={CLIENT_KEY}&limit=50").json["items"]
    assert {h["batchId"] for h in history} >= set(sender_of)
    assert all(h["status"] == "completed" for h in history)
