"""The unit writes on stock moto and on the project's stand-in leave the same items and reasons.

Every other test of the conditional unit write runs on local/moto_stand_in.py's TransactWriteItems
(moto's own deep-copies every table per action). Here the same sequence of transactions runs twice,
each in its own mock_aws: once on moto's own TransactWriteItems, once on the stand-in. Both must
give the same outcome per step, the same CancellationReasons, and leave the same items.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import boto3
from botocore.exceptions import ClientError
from moto import mock_aws

from local.moto_stand_in import install_fast_transactions, uninstall_fast_transactions
from timerack_bridge.adapters.dynamodb import tables
from timerack_bridge.adapters.dynamodb.timecards import TimecardStore, UnitWrite
from timerack_bridge.domain.entities import Day, Timecard

WEEKEND_BILL = date(2026, 11, 22)
ASSIGNMENT = 1001


class RecordingClient:
    """A DynamoDB client that keeps the CancellationReasons of every refused transaction."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.reasons: list[list[dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def transact_write_items(self, **kwargs: Any) -> Any:
        try:
            return self._client.transact_write_items(**kwargs)
        except ClientError as exc:
            self.reasons.append(exc.response.get("CancellationReasons", []))
            raise


@dataclass
class Run:
    outcomes: list[tuple[str, str]] = field(default_factory=list)
    reasons: list[list[dict[str, Any]]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)


def card(pay_code: str, hours: float, batch_id: str, assignment: int = ASSIGNMENT) -> Timecard:
    return Timecard(
        timecard_id=f"TC-{assignment}-20261122-{pay_code}",
        assignment_id=assignment,
        employee_id=501,
        customer_id=100,
        weekend_bill=WEEKEND_BILL,
        pay_code=pay_code,
        days=[Day(date=date(2026, 11, 16), hours=hours)],
        total_hours=hours,
        adjustments=[],
        source_batch_id=batch_id,
    )


def send(
    version: str, expected: str | None, *codes: str, delete: tuple[str, ...] = (), assignment: int = ASSIGNMENT
) -> UnitWrite:
    batch_id = f"batch-{version}"
    return UnitWrite(
        assignment_id=assignment,
        weekend_bill=WEEKEND_BILL,
        version=version,
        batch_id=batch_id,
        customer_id=100,
        employee_id=501,
        hierarchy_node_id="branch",
        timecards=[card(code, 8.0, batch_id, assignment) for code in codes],
        delete_pay_codes=delete,
        expected_version=expected,
    )


def header(store: TimecardStore, assignment: int = ASSIGNMENT) -> dict[str, Any]:
    return store.get(f"ASSIGNMENT#{assignment}", f"UNIT#{WEEKEND_BILL.isoformat()}", consistent=True)


def the_sequence(store: TimecardStore) -> list[tuple[str, str]]:
    """The unit writes of an intake and a payroll lock, including every refusal."""
    first = send("v1", None, "REG")
    steps: list[tuple[str, Any]] = [
        ("create", lambda: store.write_unit(first)),
        ("concurrent create, version conflict", lambda: store.write_unit(send("v1b", None, "REG", "OT"))),
        ("replace, adding a pay code", lambda: store.write_unit(send("v2", "v1", "REG", "OT"))),
        ("replace, dropping a pay code", lambda: store.write_unit(send("v3", "v2", "REG", delete=("OT",)))),
        ("older send read v2", lambda: store.write_unit(send("v2b", "v2", "REG", "DT"))),
        ("re-apply of the write that landed", lambda: store.write_unit(send("v3", "v2", "REG", delete=("OT",)))),
        ("same content sent again", lambda: store.write_unit(send("v4", "v3", "REG"))),
    ]
    outcomes = [(name, str(step())) for name, step in steps]
    read = header(store)
    outcomes.append(("send to payroll", store.lock_unit(read)))
    outcomes.append(("lock from a stale read", store.lock_unit(read)))
    outcomes.append(("send after the lock", store.write_unit(send("v5", "v4", "REG", "OT"))))
    return outcomes


@contextmanager
def moto_with(stand_in: bool) -> Iterator[None]:
    """A fresh mock_aws with moto's own TransactWriteItems, or with the stand-in's."""
    (install_fast_transactions if stand_in else uninstall_fast_transactions)()
    try:
        with mock_aws():
            yield
    finally:
        install_fast_transactions()  # the other tests' fixtures expect it (and install it anyway)


def the_group_sequence(store: TimecardStore) -> list[tuple[str, str]]:
    """Transactions of several units (as an intake writes a batch), each refused one naming its units."""

    def unit(n: int, version: str, expected: str | None, *codes: str, delete: tuple[str, ...] = ()) -> UnitWrite:
        return send(version, expected, *codes, delete=delete, assignment=n)

    steps: list[tuple[str, Any]] = [
        (
            "two units created",
            lambda: store.write_units([unit(1, "v1", None, "REG", "OT"), unit(2, "v1", None, "REG")]),
        ),
        (
            "a new unit beside one that exists and one read stale",
            lambda: store.write_units(
                [unit(3, "v2", None, "REG"), unit(1, "v2", None, "REG"), unit(2, "v2", "v0", "REG", "OT")]
            ),
        ),
        (
            "the same, planned again",
            lambda: store.write_units(
                [unit(3, "v2", None, "REG"), unit(1, "v2", "v1", "REG", delete=("OT",)), unit(2, "v2", "v1", "REG")]
            ),
        ),
    ]
    outcomes = [(name, str(step())) for name, step in steps]
    outcomes.append(("unit 2 sent to payroll", store.lock_unit(header(store, 2))))
    outcomes.append(
        (
            "a send to a locked unit beside an open one",
            str(store.write_units([unit(3, "v3", "v2", "OT", delete=("REG",)), unit(2, "v3", "v2", "REG")])),
        )
    )
    return outcomes


def run_on(stand_in: bool, sequence: Callable[[TimecardStore], list[tuple[str, str]]] = the_sequence) -> Run:
    with moto_with(stand_in):
        client = RecordingClient(boto3.client("dynamodb", region_name="us-east-1"))
        tables.create_tables(client, "main", "idem")
        store = TimecardStore(client, "main")
        outcomes = sequence(store)
        items = client.scan(TableName="main", ConsistentRead=True)["Items"]
        return Run(
            outcomes=outcomes, reasons=client.reasons, items=sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))
        )


def test_stock_moto_and_the_stand_in_agree_on_every_unit_write() -> None:
    stock, stand_in = run_on(stand_in=False), run_on(stand_in=True)

    # The sequence covers each outcome: written, refused by its condition, and the lock's three.
    assert [outcome for _, outcome in stock.outcomes] == [
        "written",
        "condition-failed",
        "written",
        "written",
        "condition-failed",
        "condition-failed",
        "written",
        "locked",
        "changed",
        "condition-failed",
    ]
    assert stand_in.outcomes == stock.outcomes
    assert stand_in.reasons == stock.reasons
    assert len(stock.reasons) == 5 and all(r[0]["Code"] == "ConditionalCheckFailed" for r in stock.reasons)
    assert stand_in.items == stock.items
    # What is left: the locked header of v4, REG locked (OT deleted), and the four versions written.
    kinds = [item["sk"]["S"].split("#")[0] for item in stock.items]
    assert kinds == ["TC", "UNIT", "VERSION", "VERSION", "VERSION", "VERSION"]


def test_stock_moto_and_the_stand_in_agree_on_transactions_of_several_units() -> None:
    stock, stand_in = run_on(False, the_group_sequence), run_on(True, the_group_sequence)

    # Each refused transaction says, action by action, which unit stopped it: the others' actions are "None"
    assert [outcome for _, outcome in stock.outcomes] == [
        "['written', 'written']",
        "['not-written', 'condition-failed', 'condition-failed']",
        "['written', 'written', 'written']",
        "locked",
        "['not-written', 'condition-failed']",
    ]
    assert stand_in.outcomes == stock.outcomes
    assert stand_in.reasons == stock.reasons
    assert [[r["Code"] for r in reasons] for reasons in stock.reasons] == [
        [
            "None",
            "None",
            "None",
            "ConditionalCheckFailed",
            "None",
            "None",
            "ConditionalCheckFailed",
            "None",
            "None",
            "None",
        ],
        ["None", "None", "None", "None", "ConditionalCheckFailed", "None", "None"],
    ]
    assert stand_in.items == stock.items
