"""The units of a batch written in transactions of up to 100 actions, a unit never split across two.

When DynamoDB cancels a transaction, the reasons of each unit's own actions say what became of it:
a unit changed since it was read is read again and planned again; the other units of the
transaction are sent again at once, without it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from tests.conftest import WEEKEND_BILL, Agency
from tests.hardening.test_faults import assert_whole, cards, submit, unit_view, units_of
from timerack_bridge.domain.entities import Assignment

# 25 units of a REG and an OT card: a header, two timecards and a version each, 100 actions in all.
FULL_GROUP = list(range(4001, 4026))


class _Capture:
    """Stands in for the client under a store: keeps the items its puts would write."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def put_item(self, *, Item: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.items.append(Item)
        return {}


def add_assignments(services: Any, assignment_ids: Iterable[int]) -> None:
    """Active assignments of the client (employee 501, Branch), written 25 a call."""
    from timerack_bridge.adapters.dynamodb.admin import AdminStore

    capture = _Capture()
    builder = AdminStore(capture, services.settings.table_name)
    for assignment_id in assignment_ids:
        builder.put_assignment(
            Assignment(
                assignment_id=assignment_id,
                employee_id=501,
                customer_id=100,
                hierarchy_node_id="branch",
                status="Active",
                start_date=date(2026, 1, 5),
            )
        )
    table = services.settings.table_name
    for start in range(0, len(capture.items), 25):
        chunk = capture.items[start : start + 25]
        services.dynamodb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": i}} for i in chunk]})


class TransactionLog:
    """The timecard store's client, keeping in order each unit transaction (its batch, units, actions and
    whether it landed) and each read of unit headers."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.events: list[tuple[Any, ...]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def transact_write_items(self, **kwargs: Any) -> Any:
        headers = [a["Put"]["Item"] for a in kwargs["TransactItems"] if "Put" in a and "batch_id" in a["Put"]["Item"]]
        batch_ids = {h["batch_id"]["S"] for h in headers}
        entry = (units_of(kwargs), len(kwargs["TransactItems"]), batch_ids)
        try:
            reply = self._client.transact_write_items(**kwargs)
        except ClientError:
            self.events.append(("cancelled", *entry))
            raise
        self.events.append(("written", *entry))
        return reply

    def batch_get_item(self, **kwargs: Any) -> Any:
        [request] = kwargs["RequestItems"].values()
        self._read([k for k in request["Keys"]])
        return self._client.batch_get_item(**kwargs)

    def get_item(self, **kwargs: Any) -> Any:
        self._read([kwargs["Key"]])
        return self._client.get_item(**kwargs)

    def _read(self, keys: list[dict[str, Any]]) -> None:
        units = [int(k["pk"]["S"].split("#")[1]) for k in keys if k["sk"]["S"].startswith("UNIT#")]
        if units:
            self.events.append(("read", units))

    def of_batch(self, batch_id: str) -> list[tuple[str, list[int], int]]:
        return [(e[0], e[1], e[2]) for e in self.events if e[0] != "read" and e[3] == {batch_id}]


def logged(services: Any) -> TransactionLog:
    log = TransactionLog(services.timecards.client)
    services.timecards.client = log
    return log


def test_one_unit_of_a_full_transaction_changed_meanwhile_the_others_land_on_the_first_resend(
    services: Any, agency: Agency
) -> None:
    # Given 25 assignments, each sent with a REG and an OT card: one transaction of 100 actions
    add_assignments(services, FULL_GROUP)
    ours = cards(*[(a, 501, code, hours) for a in FULL_GROUP for code, hours in (("REG", 8.0), ("OT", 2.0))])
    log = logged(services)
    earlier: list[Any] = []

    def an_earlier_send_of_4013_lands_first(assignment_id: int) -> None:
        # Between this batch's read and its write, a send made a minute earlier writes 4013 (REG only)
        if assignment_id == 4013 and not earlier:
            sent_at = datetime.now(UTC) - timedelta(minutes=1)
            earlier.append(submit(services, cards((4013, 501, "REG", 9.0)), now=sent_at))

    # When the batch is sent
    result = submit(services, ours, before_unit_write=an_earlier_send_of_4013_lands_first)
    events = list(log.events)
    # Then every unit is this send's: 4013 replaced the earlier send (kept as history), the others created
    statuses = {r.assignment_id: r.status for r in result.results}
    assert statuses == {a: ("replaced" if a == 4013 else "created") for a in FULL_GROUP}
    assert all(r.error is None for r in result.results)
    for assignment_id in FULL_GROUP:
        assert_whole(services, assignment_id)
        assert {c: v["totalHours"] for c, v in unit_view(services, assignment_id).items()} == {"REG": 8.0, "OT": 2.0}
    assert [v["batch_id"] for v in services.timecards.versions(4013, WEEKEND_BILL)] == [
        earlier[0].batch_id,
        result.batch_id,
    ]
    # And the batch took three transactions: the full one, cancelled by 4013 alone; the 24 others sent
    # again as they were; 4013, read again and planned again on its own
    others = [a for a in FULL_GROUP if a != 4013]
    assert log.of_batch(result.batch_id) == [
        ("cancelled", FULL_GROUP, 100),
        ("written", others, 96),
        ("written", [4013], 4),
    ]
    # And after the cancelled transaction only 4013 was read again
    first_write = next(n for n, e in enumerate(events) if e[0] != "read" and e[3] == {result.batch_id})
    assert [e for e in events[first_write:] if e[0] == "read"] == [("read", [4013])]


def test_a_unit_locked_after_its_check_is_left_alone_and_the_rest_of_its_transaction_lands(
    services: Any, agency: Agency
) -> None:
    # Given 4001 was sent before; the new batch writes 4001, 4002 and 4003 in one transaction
    add_assignments(services, [4001, 4002, 4003])
    submit(services, cards((4001, 501, "REG", 9.0)))
    before = unit_view(services, 4001)
    log = logged(services)

    def payroll_locks_4001(assignment_id: int) -> None:
        # The week is sent to payroll right after the batch read 4001 as open
        if assignment_id == 4001 and unit_view(services, 4001)["REG"]["payrollStatus"] == "open":
            [header] = [h for h in services.timecards.week_unit_headers(WEEKEND_BILL) if h["assignment_id"] == 4001]
            assert services.timecards.lock_unit(header) == "locked"

    # When the batch is sent
    result = submit(
        services,
        cards((4001, 501, "REG", 8.0), (4001, 501, "OT", 2.0), (4002, 501, "REG", 7.0), (4003, 501, "REG", 6.0)),
        before_unit_write=payroll_locks_4001,
    )
    # Then 4001 reports the lock and its timecard is untouched; 4002 and 4003 are written
    results = {r.assignment_id: r for r in result.results}
    assert results[4001].status == "error" and "already been sent to payroll" in (results[4001].error or "")
    assert results[4002].status == results[4003].status == "created"
    assert {code: {**card, "payrollStatus": "open"} for code, card in unit_view(services, 4001).items()} == before
    assert unit_view(services, 4001)["REG"]["payrollStatus"] == "sent"
    assert [unit_view(services, a)["REG"]["totalHours"] for a in (4002, 4003)] == [7.0, 6.0]
    # And the lock cost one cancelled transaction; 4001 was never sent again
    assert log.of_batch(result.batch_id) == [("cancelled", [4001, 4002, 4003], 10), ("written", [4002, 4003], 6)]
