"""Demo data: one agency; ACME-1 (Connect to TempWorks, with a child customer) and INITECH-1 (manual import)."""

from __future__ import annotations

from datetime import date, timedelta

from timerack_bridge.adapters.dynamodb.admin import AdminStore
from timerack_bridge.api.deps import Services
from timerack_bridge.domain.entities import (
    Assignment,
    Customer,
    Employee,
    HierarchyNode,
    PayrollEmail,
    SecurityGroup,
    ServiceRep,
    Week,
)
from timerack_bridge.domain.pin import ssn_last_four
from timerack_bridge.domain.types import AssignmentStatus, WeekStatus
from timerack_bridge.domain.weeks import WEEKDAYS

DEMO_PRINCIPAL = "timerack-portal"
DEMO_CLIENT_KEY = "ACME-1"


def current_weekend_bill(today: date, week_ending_day: str = "Sunday") -> date:
    """The agency's week-ending day (Sunday by default) that ends the week holding today."""
    return today + timedelta(days=(WEEKDAYS.index(week_ending_day) - today.weekday()) % 7)


# The demo agency's employees: the article's two PIN examples, an override, and the manual-import client's.
DEMO_EMPLOYEES = (
    (501, "April", "Seven", date(1990, 4, 7), ssn_last_four("111-11-2345"), None),
    (502, "December", "Twelve", date(1985, 12, 12), ssn_last_four("123-45-6789"), None),
    (503, "Olive", "Override", date(1979, 1, 30), None, "654321"),
    (504, "Ima", "Importer", date(1992, 6, 3), "4321", None),
    (505, "Feed", "Worker", date(1988, 9, 21), "8765", None),
)
DEMO_ASSIGNMENTS = (
    (1001, 501, 100, AssignmentStatus.ACTIVE, "Machine Operator"),
    (1002, 502, 101, AssignmentStatus.ACTIVE, "Forklift Driver"),
    (1003, 503, 100, AssignmentStatus.ACTIVE, "Line Lead"),
    (1004, 501, 100, AssignmentStatus.CANCELLED, "Packer"),
    (3001, 504, 300, AssignmentStatus.ACTIVE, "Assembler"),
    (3002, 505, 300, AssignmentStatus.ACTIVE, "Inspector"),
)
BRANCH = "acme-branch"


def seed_demo(services: Services, today: date | None = None) -> dict[str, object]:
    """The demo agency: a branch, the portal's rep in the Timerack group, three clients, open weeks."""
    today = today or date.today()
    admin = services.admin
    _seed_access(admin)
    _seed_customers(admin)
    for employee_id, first, last, born, ssn_last4, override in DEMO_EMPLOYEES:
        admin.put_employee(
            Employee(
                employee_id=employee_id,
                first_name=first,
                last_name=last,
                birth_date=born,
                ssn_last4=ssn_last4,
                hierarchy_node_id=BRANCH,
                pin_override=override,
            )
        )
    for assignment_id, employee_id, customer_id, status, title in DEMO_ASSIGNMENTS:
        admin.put_assignment(
            Assignment(
                assignment_id=assignment_id,
                employee_id=employee_id,
                customer_id=customer_id,
                hierarchy_node_id=BRANCH,
                status=status,
                start_date=today - timedelta(days=30),
                job_title=title,
            )
        )
    weekend_bill = current_weekend_bill(today, services.settings.week_ending_day)
    for week in (weekend_bill - timedelta(days=7), weekend_bill):
        admin.put_week(Week(weekend_bill=week, hierarchy_node_id=BRANCH, status=WeekStatus.OPEN))
    admin.put_payroll_email(
        PayrollEmail(client_key=DEMO_CLIENT_KEY, recipients=["payroll@acme.example"], receive_error_file=True)
    )
    return {"principal": DEMO_PRINCIPAL, "clientKey": DEMO_CLIENT_KEY, "weekendBill": weekend_bill.isoformat()}


def _seed_access(admin: AdminStore) -> None:
    """The hierarchy, the portal's service rep and the Timerack security group."""
    admin.put_node(HierarchyNode(node_id="system", name="System", parent_id=None, allows_master_data=False))
    admin.put_node(HierarchyNode(node_id=BRANCH, name="Acme Branch", parent_id="system"))
    admin.put_rep(
        ServiceRep(rep_id="rep-1", name="Timerack Portal", principal=DEMO_PRINCIPAL, current_hierarchy_node_id=BRANCH)
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


def _seed_customers(admin: AdminStore) -> None:
    """Acme (Connect, with a child customer) and Initech (manual import)."""
    admin.put_customer(
        Customer(
            customer_id=100, name="Acme Manufacturing", hierarchy_node_id=BRANCH, timerack_client_key=DEMO_CLIENT_KEY
        )
    )
    admin.put_customer(Customer(customer_id=101, name="Acme Plant 2", parent_customer_id=100, hierarchy_node_id=BRANCH))
    admin.put_customer(
        Customer(
            customer_id=300,
            name="Initech",
            hierarchy_node_id=BRANCH,
            timerack_client_key="INITECH-1",
            timerack_mode="manual-import",
        )
    )
