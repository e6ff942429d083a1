"""Benchmark data: one agency with many clients, assignments and employees, and Timerack batches.

Reference data is written through the stores' own item builders (captured, then written with
BatchWriteItem) so it has exactly the shape the product writes, without thousands of PutItem calls.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

WEEKEND_BILL = date(2026, 11, 22)  # a Sunday
PRINCIPAL = "bench-portal"
FIRST_ASSIGNMENT = 100_000
FIRST_EMPLOYEE = 500_000
FIRST_CUSTOMER = 10_000


class _CapturingClient:
    """Stands in for the DynamoDB client under a store: keeps the items a put would write (a transaction's
    puts too), and finds nothing stored (the data is new)."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def put_item(self, *, Item: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.items.append(Item)
        return {}

    def get_item(self, **_: Any) -> dict[str, Any]:
        return {}

    def transact_write_items(self, *, TransactItems: list[dict[str, Any]], **_: Any) -> dict[str, Any]:
        self.items.extend(action["Put"]["Item"] for action in TransactItems if "Put" in action)
        return {}


def client_key(index: int) -> str:
    return f"BENCH-{index}"


def seed_agency(stand: Any, *, clients: int, assignments_per_client: int, employees: bool = True) -> None:
    """System > Branch; one rep in the Timerack group; `clients` clients with their assignments.

    Assignment ids are FIRST_ASSIGNMENT + n (n counted over all clients), each with its own employee
    (FIRST_EMPLOYEE + n) who has a birth date and SSN, so every one has a usable, distinct PIN.
    """
    from benchmarks.common import MAIN_TABLE, batch_write
    from timerack_bridge.adapters.dynamodb.admin import AdminStore
    from timerack_bridge.domain.entities import (
        Assignment,
        Customer,
        Employee,
        HierarchyNode,
        SecurityGroup,
        ServiceRep,
        Week,
    )

    log_was = stand.log.enabled
    stand.log.enabled = False
    try:
        admin = stand.services.admin
        admin.put_node(HierarchyNode(node_id="system", name="System", allows_master_data=False))
        admin.put_node(HierarchyNode(node_id="branch", name="Branch", parent_id="system"))
        admin.put_rep(
            ServiceRep(rep_id="rep-1", name="Portal", principal=PRINCIPAL, current_hierarchy_node_id="branch")
        )
        admin.put_group(
            SecurityGroup(
                name="Timerack",
                description="Timerack integration",
                hierarchy_node_id="system",
                permissions=["Timerack"],
                members=["rep-1"],
            )
        )
        admin.put_week(Week(weekend_bill=WEEKEND_BILL, hierarchy_node_id="branch", status="open"))
        capture = _CapturingClient()
        builder = AdminStore(capture, MAIN_TABLE)
        for c in range(clients):  # each with its key's claim, as put_customer writes them
            builder.put_customer(
                Customer(
                    customer_id=FIRST_CUSTOMER + c,
                    name=f"Client {c}",
                    hierarchy_node_id="branch",
                    timerack_client_key=client_key(c),
                )
            )
        n = 0
        for c in range(clients):
            for _ in range(assignments_per_client):
                builder.put_assignment(
                    Assignment(
                        assignment_id=FIRST_ASSIGNMENT + n,
                        employee_id=FIRST_EMPLOYEE + n,
                        customer_id=FIRST_CUSTOMER + c,
                        hierarchy_node_id="branch",
                        status="Active",
                        start_date=date(2026, 1, 5),
                        job_title="Forklift operator",
                    )
                )
                if employees:
                    day = 1 + n % 28
                    builder.put_employee(
                        Employee(
                            employee_id=FIRST_EMPLOYEE + n,
                            first_name="Pat",
                            last_name=f"Worker{n}",
                            birth_date=date(1990, 1 + n % 12, day),
                            ssn_last4=f"{n % 10_000:04d}",
                            hierarchy_node_id="branch",
                        )
                    )
                n += 1
        batch_write(stand.client, MAIN_TABLE, capture.items)
    finally:
        stand.log.enabled = log_was


def batch_body(assignments: int, *, first: int = FIRST_ASSIGNMENT, client: int = 0) -> dict[str, Any]:
    """A Timerack batch: per assignment a REG card (hours and punches, Mon-Fri) and an OT card (Sat)."""
    cards: list[dict[str, Any]] = []
    for n in range(assignments):
        assignment_id, employee_id = first + n, FIRST_EMPLOYEE + (first - FIRST_ASSIGNMENT) + n
        cards.append(
            {
                "assignmentId": assignment_id,
                "employeeId": employee_id,
                "payCode": "REG",
                "days": [
                    {"date": "2026-11-16", "hours": 8},
                    {"date": "2026-11-17", "punches": [{"in": "0800", "out": "1630"}]},
                    {"date": "2026-11-18", "hours": 8},
                    {"date": "2026-11-19", "punches": [{"in": "0700", "out": "1130"}, {"in": "1200", "out": "1530"}]},
                    {"date": "2026-11-20", "hours": 7.5},
                ],
            }
        )
        cards.append(
            {
                "assignmentId": assignment_id,
                "employeeId": employee_id,
                "payCode": "OT",
                "days": [{"date": "2026-11-21", "hours": 4}],
                "adjustments": [{"code": "BONUS", "amount": 25.0, "description": "weekend shift"}],
            }
        )
    return {
        "clientKey": client_key(client),
        "payPeriod": {"start": "2026-11-16", "end": WEEKEND_BILL.isoformat()},
        "timecards": cards,
    }


def batch_event(body: dict[str, Any]) -> dict[str, Any]:
    """The API Gateway proxy event of a "Send to TempWorks" post, after the Cognito authorizer."""
    from local.proxy import build_proxy_event

    return build_proxy_event(
        "POST",
        "/v1/timecard-batches",
        headers={"Content-Type": "application/json"},
        body=json.dumps(body),
        claims={"sub": PRINCIPAL, "scope": "timerack/timecards.write"},
    )
