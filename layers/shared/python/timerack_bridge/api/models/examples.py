"""Example request bodies shown in Swagger: valid, made up, and not the demo data's.

schemathesis sends them to the hardening stack, so they name records the demo agency does not hold
(client NORTHWIND-1, nodes example-*, ids 9xxx); the SSN and PIN are obviously fake.
"""

from __future__ import annotations

from timerack_bridge.api.swagger import body_example

HIERARCHY_NODE = body_example(
    "A branch under a region", {"name": "Example Branch", "parentId": "example-region", "allowsMasterData": True}
)
SERVICE_REP = body_example(
    "A TempWorks user signing in as themselves",
    {"name": "Pat Example", "principal": "example-user-sub", "currentHierarchyNodeId": "example-branch"},
    "principal is the user's Cognito sub (or a machine client's id).",
)
SECURITY_GROUP = body_example(
    "The Timerack group",
    {
        "description": "Timerack integration",
        "hierarchyNodeId": "example-region",
        "permissions": ["Timerack"],
        "members": ["example-rep"],
    },
)
CUSTOMER = body_example(
    "A Primary Customer using Connect",
    {
        "name": "Northwind Traders",
        "hierarchyNodeId": "example-branch",
        "timerackClientKey": "NORTHWIND-1",
        "timerackMode": "connect",
    },
)
EMPLOYEE = body_example(
    "An employee (fake SSN)",
    {
        "firstName": "Sam",
        "lastName": "Sample",
        "birthDate": "1990-01-01",
        "ssn": "000-00-0000",
        "hierarchyNodeId": "example-branch",
    },
    "ssn is write-only: only its last four are kept. Or leave it out and give a six-digit pinOverride.",
)
ASSIGNMENT = body_example(
    "An active assignment",
    {
        "employeeId": 9501,
        "customerId": 9100,
        "hierarchyNodeId": "example-branch",
        "status": "Active",
        "startDate": "2026-11-02",
        "jobTitle": "Machine Operator",
    },
)
WEEK = body_example("Open a week", {"hierarchyNodeId": "example-branch", "status": "open"})
SEND_TO_PAYROLL = body_example("Lock a branch's week", {"hierarchyNodeId": "example-branch"})
PAYROLL_EMAIL = body_example(
    "Email the error file to payroll", {"recipients": ["payroll@northwind.example"], "receiveErrorFile": True}
)
TIMECARD_BATCH = body_example(
    "One week of one assignment",
    {
        "clientKey": "NORTHWIND-1",
        "payPeriod": {"start": "2026-11-16", "end": "2026-11-22"},
        "timecards": [
            {
                "assignmentId": 9001,
                "employeeId": 9501,
                "payCode": "REG",
                "days": [
                    {"date": "2026-11-16", "punches": [{"in": "2200", "out": "0630"}]},
                    {"date": "2026-11-17", "hours": 8},
                ],
                "adjustments": [{"code": "BONUS", "amount": 25.0, "description": "Safety award"}],
            }
        ],
    },
)
TIMECARD_IMPORT = body_example(
    "A Timerack Feed file",
    {
        "feedType": "Timerack Feed",
        "parentCustomerId": 9100,
        "weekendBill": "2026-11-22",
        "fileName": "timerack-feed-2026-11-22.csv",
        "content": (
            "Assignment ID,Employee ID,Pay Code,Date,Hours,Punch In,Punch Out,"
            "Adjustment Code,Adjustment Amount,Adjustment Description\n"
            "9001,9501,REG,2026-11-16,8,,,,,\n"
            "9001,9501,REG,2026-11-17,,0700,1530,,,\n"
            "9001,9501,,,,,,BONUS,25.00,Safety award\n"
        ),
    },
    "content is the file's text (section 6 of docs/contract.md).",
)
