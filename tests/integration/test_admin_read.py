"""Reading back the admin data (issue 15, item 1): by id and as pages, admin scope only, never an SSN or PIN."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.conftest import CLIENT_KEY, ApiCall

ADMIN = {"principal": "agency-admin", "admin": True}


def get(api: ApiCall, path: str) -> Any:
    reply = api("GET", path, **ADMIN)
    assert reply.status == 200, (path, reply.text)
    return reply.json


def every_page(api: ApiCall, path: str, limit: int) -> list[list[Any]]:
    """The pages of a list, following nextToken until there is none."""
    joiner = "&" if "?" in path else "?"
    pages, token = [], None
    while True:
        url = f"{path}{joiner}limit={limit}" + (f"&nextToken={token}" if token else "")
        page = get(api, url)
        pages.append(page["items"])
        token = page.get("nextToken")
        if not token:
            return pages


def ids(items: list[dict[str, Any]], name: str) -> list[Any]:
    return [item[name] for item in items]


# ---------------------------------------------------------------- by id


def test_each_record_reads_back_by_id(api: ApiCall, agency: Any) -> None:
    assert get(api, "/v1/hierarchy/sub") == {
        "nodeId": "sub",
        "name": "Sub-branch",
        "parentId": "branch",
        "allowsMasterData": True,
    }
    assert get(api, "/v1/service-reps/rep-1") == {
        "repId": "rep-1",
        "name": "Portal",
        "principal": agency.principal,
        "currentHierarchyNodeId": "branch",
    }
    group = get(api, "/v1/security-groups/Timerack")
    assert group["members"] == ["rep-1"] and group["permissions"] == ["Timerack"]
    assert get(api, "/v1/customers/101")["parentCustomerId"] == 100
    assert get(api, "/v1/customers/100")["timerackClientKey"] == CLIENT_KEY
    assignment = get(api, "/v1/assignments/1003")
    assert assignment["status"] == "Deleted/Mistakenly Entered" and assignment["employeeId"] == 503
    assert get(api, f"/v1/weeks/{agency.weekend_bill}?hierarchyNodeId=branch") == {
        "weekendBill": agency.weekend_bill.isoformat(),
        "hierarchyNodeId": "branch",
        "status": "open",
    }


def test_what_a_put_stored_is_what_the_get_returns(api: ApiCall, agency: Any) -> None:
    body = {"name": "Initech", "hierarchyNodeId": "sub", "timerackClientKey": "INI-1", "timerackMode": "manual-import"}
    stored = api("PUT", "/v1/customers/300", body, **ADMIN).json
    assert get(api, "/v1/customers/300") == stored


@pytest.mark.parametrize(
    "path",
    [
        "/v1/hierarchy/nowhere",
        "/v1/service-reps/rep-404",
        "/v1/security-groups/Nobody",
        "/v1/customers/999",
        "/v1/assignments/999",
        "/v1/weeks/2026-11-29?hierarchyNodeId=branch",
        "/v1/weeks/2026-11-22?hierarchyNodeId=sub",
    ],
)
def test_an_id_that_does_not_exist_is_404(api: ApiCall, agency: Any, path: str) -> None:
    reply = api("GET", path, **ADMIN)
    assert reply.status == 404, reply.text


# ---------------------------------------------------------------- lists


def test_the_whole_hierarchy_is_one_list(api: ApiCall, agency: Any) -> None:
    tree = get(api, "/v1/hierarchy")
    assert sorted(ids(tree["items"], "nodeId")) == ["branch", "other", "sub", "system"]
    assert {n["nodeId"]: n["parentId"] for n in tree["items"]}["sub"] == "branch"


def test_reps_and_groups_page_with_next_token(api: ApiCall, services: Any, agency: Any) -> None:
    from timerack_bridge.domain.entities import SecurityGroup, ServiceRep

    for n in range(2, 6):
        services.admin.put_rep(
            ServiceRep(rep_id=f"rep-{n}", name=f"Rep {n}", principal=f"user-{n}", current_hierarchy_node_id="sub")
        )
        services.admin.put_group(SecurityGroup(name=f"Group {n}", hierarchy_node_id="branch"))
    reps = every_page(api, "/v1/service-reps", limit=2)
    assert [len(p) for p in reps][:2] == [2, 2]
    assert sorted(r["repId"] for p in reps for r in p) == [f"rep-{n}" for n in range(1, 6)]
    groups = every_page(api, "/v1/security-groups", limit=3)
    assert sorted(g["name"] for p in groups for g in p) == ["Group 2", "Group 3", "Group 4", "Group 5", "Timerack"]


def test_customers_are_listed_as_a_tree_or_by_client_key(api: ApiCall, agency: Any) -> None:
    primaries = every_page(api, "/v1/customers", limit=1)
    assert [c["customerId"] for p in primaries for c in p] == [100, 200]
    assert ids(get(api, "/v1/customers?parentCustomerId=100")["items"], "customerId") == [101]
    assert get(api, "/v1/customers?parentCustomerId=101")["items"] == []
    assert ids(get(api, "/v1/customers?clientKey=GLOBEX-1")["items"], "customerId") == [200]
    assert get(api, "/v1/customers?clientKey=NOBODY-1") == {"items": [], "nextToken": None}


def test_a_customer_that_becomes_a_child_leaves_the_primary_list(api: ApiCall, agency: Any) -> None:
    api("PUT", "/v1/customers/200", {"name": "Globex", "hierarchyNodeId": "branch", "parentCustomerId": 100}, **ADMIN)
    assert ids(get(api, "/v1/customers")["items"], "customerId") == [100]
    assert ids(get(api, "/v1/customers?parentCustomerId=100")["items"], "customerId") == [101, 200]


def test_assignments_by_customer_employee_and_status(api: ApiCall, agency: Any) -> None:
    by_customer = every_page(api, "/v1/assignments?customerId=100", limit=2)
    assert [a["assignmentId"] for p in by_customer for a in p] == [1001, 1003, 1004, 1006]
    assert ids(get(api, "/v1/assignments?employeeId=501")["items"], "assignmentId") == [1001, 1005]
    active = every_page(api, "/v1/assignments?customerId=100&status=Active", limit=1)
    assert [a["assignmentId"] for p in active for a in p] == [1001, 1006]
    # A full page when the filter skips records: limit counts what is returned
    assert ids(get(api, "/v1/assignments?customerId=100&status=Active&limit=2")["items"], "assignmentId") == [
        1001,
        1006,
    ]
    both = get(api, "/v1/assignments?employeeId=502&customerId=101")["items"]
    assert ids(both, "assignmentId") == [1002]
    cancelled = get(api, "/v1/assignments?employeeId=504&status=Cancelled")["items"]
    assert ids(cancelled, "assignmentId") == [1004]


def test_an_assignment_moved_to_another_employee_leaves_the_first_ones_list(api: ApiCall, agency: Any) -> None:
    body = {
        "employeeId": 502,
        "customerId": 200,
        "hierarchyNodeId": "branch",
        "status": "Active",
        "startDate": "2026-01-05",
    }
    assert api("PUT", "/v1/assignments/1005", body, **ADMIN).status == 200
    assert ids(get(api, "/v1/assignments?employeeId=501")["items"], "assignmentId") == [1001]
    assert ids(get(api, "/v1/assignments?employeeId=502")["items"], "assignmentId") == [1002, 1005, 1006]


def test_weeks_of_a_node(api: ApiCall, agency: Any) -> None:
    for weekend in ("2026-11-29", "2026-12-06"):
        api("PUT", f"/v1/weeks/{weekend}", {"hierarchyNodeId": "branch", "status": "closed"}, **ADMIN)
    api("PUT", "/v1/weeks/2026-11-29", {"hierarchyNodeId": "sub", "status": "open"}, **ADMIN)
    weeks = every_page(api, "/v1/weeks?hierarchyNodeId=branch", limit=2)
    assert [w["weekendBill"] for p in weeks for w in p] == ["2026-11-22", "2026-11-29", "2026-12-06"]
    assert ids(get(api, "/v1/weeks?hierarchyNodeId=sub")["items"], "status") == ["open"]
    assert get(api, "/v1/weeks?hierarchyNodeId=nowhere")["items"] == []


# ---------------------------------------------------------------- never an SSN or a PIN


def test_no_read_shows_an_ssn_or_a_pin(api: ApiCall, services: Any, agency: Any) -> None:
    api(
        "PUT",
        "/v1/employees/505",
        {"firstName": "P", "lastName": "Q", "hierarchyNodeId": "branch", "ssn": "987-65-4321", "pinOverride": "246813"},
        **ADMIN,
    )
    body = {
        "employeeId": 505,
        "customerId": 100,
        "hierarchyNodeId": "branch",
        "status": "Active",
        "startDate": "2026-01-05",
    }
    api("PUT", "/v1/assignments/1007", body, **ADMIN)
    paths = [
        "/v1/hierarchy",
        "/v1/service-reps",
        "/v1/security-groups",
        "/v1/customers",
        "/v1/customers?parentCustomerId=100",
        "/v1/assignments?customerId=100",
        "/v1/assignments?employeeId=505",
        "/v1/assignments/1007",
        "/v1/weeks?hierarchyNodeId=branch",
    ]
    for path in paths:
        text = api("GET", path, **ADMIN).text
        assert "4321" not in text and "246813" not in text and "ssn" not in text.lower(), path
        assert "pinOverride" not in text, path


# ---------------------------------------------------------------- who may call


READS = [
    "/v1/hierarchy",
    "/v1/hierarchy/branch",
    "/v1/service-reps",
    "/v1/service-reps/rep-1",
    "/v1/security-groups",
    "/v1/security-groups/Timerack",
    "/v1/customers",
    "/v1/customers/100",
    "/v1/assignments?customerId=100",
    "/v1/assignments/1001",
    "/v1/weeks?hierarchyNodeId=branch",
    "/v1/weeks/2026-11-22?hierarchyNodeId=branch",
]


@pytest.mark.parametrize("path", READS)
def test_only_the_admin_scope_may_read(api: ApiCall, agency: Any, path: str) -> None:
    assert api("GET", path, **ADMIN).status == 200
    # A Timerack rep (in the group, on the node), an admin principal without the scope, a stranger
    for principal in (agency.principal, "agency-admin", "stranger"):
        reply = api("GET", path, principal=principal)
        assert reply.status == 403 and "timerack/admin" in reply.json["message"], (principal, path)
    assert api("GET", path, principal=None).status == 401


# ---------------------------------------------------------------- what is refused


def _forged(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.mark.parametrize(
    "path",
    [
        "/v1/customers/abc",
        "/v1/customers/1.0",
        "/v1/customers/0",
        "/v1/assignments/+1001",
        "/v1/customers?parentCustomerId=x",
        "/v1/customers?parentCustomerId=100&clientKey=ACME-1",
        "/v1/customers?clientKey=bad%20key",
        "/v1/assignments",
        "/v1/assignments?status=Active",
        "/v1/assignments?customerId=1_00",
        "/v1/assignments?employeeId=501&status=Sleeping",
        "/v1/weeks",
        "/v1/weeks?hierarchyNodeId=bad%20node",
        "/v1/weeks/2026-1-22?hierarchyNodeId=branch",
        "/v1/weeks/2026-11-22",
        "/v1/service-reps?limit=0",
        "/v1/security-groups?limit=501",
        "/v1/service-reps?nextToken=" + _forged({"x": 1}),
        "/v1/security-groups?nextToken=" + _forged({"pk": {"S": "REP#rep-1"}, "sk": {"S": "REP"}}),
        "/v1/weeks?hierarchyNodeId=branch&nextToken=" + _forged({"pk": {"S": "WEEKS#other"}, "sk": {"S": "WEEK#x"}}),
        "/v1/assignments?customerId=100&nextToken="
        + _forged({k: {"S": "x"} for k in ("pk", "sk", "gsi2pk", "gsi2sk")}),
        "/v1/customers?nextToken=" + _forged({"pk": {"N": "1"}, "sk": {"S": "x"}}),
    ],
)
def test_bad_query_values_are_422(api: ApiCall, agency: Any, path: str) -> None:
    reply = api("GET", path, **ADMIN)
    assert reply.status == 422, (path, reply.status, reply.text)


# ---------------------------------------------------------------- data stored before these indexes


def test_records_stored_before_the_indexes_read_by_id_and_a_re_put_lists_them(api: ApiCall, services: Any) -> None:
    """Reps, primary customers and assignments written before their list attributes existed."""
    from timerack_bridge.domain.entities import HierarchyNode

    admin = services.admin
    admin.put_node(HierarchyNode(node_id="branch", name="Branch"))
    rep = {"rep_id": "old-rep", "name": "Old", "principal": "old-user", "current_hierarchy_node_id": "branch"}
    customer = {"customer_id": 700, "name": "Old Co", "hierarchy_node_id": "branch", "timerack_mode": "connect"}
    employee = {"employee_id": 800, "first_name": "O", "last_name": "Ld", "hierarchy_node_id": "branch"}
    assignment = {
        "assignment_id": 900,
        "employee_id": 800,
        "customer_id": 700,
        "hierarchy_node_id": "branch",
        "status": "Active",
        "start_date": "2026-01-05",
        "job_title": "",
    }
    # As the earlier code wrote them: no REPS list, no UNDER#ROOT, no employee's assignment list
    admin.put({"pk": "REP#old-rep", "sk": "REP", **rep})
    admin.put({"pk": "PRINCIPAL#old-user", "sk": "CLAIM", "owner": "old-rep"})
    admin.put({"pk": "CUSTOMER#700", "sk": "CUSTOMER", **customer})
    admin.put({"pk": "EMPLOYEE#800", "sk": "EMPLOYEE", **employee})
    admin.put(
        {"pk": "ASSIGNMENT#900", "sk": "ASSIGNMENT", "gsi2pk": "UNDER#700", "gsi2sk": "ASSIGNMENT#000000000900"}
        | assignment
    )
    assert get(api, "/v1/service-reps/old-rep")["principal"] == "old-user"
    assert get(api, "/v1/customers/700")["name"] == "Old Co"
    assert get(api, "/v1/assignments/900")["employeeId"] == 800
    assert ids(get(api, "/v1/assignments?customerId=700")["items"], "assignmentId") == [900]
    assert get(api, "/v1/service-reps")["items"] == []
    assert get(api, "/v1/customers")["items"] == []
    assert get(api, "/v1/assignments?employeeId=800")["items"] == []
    # An unchanged re-PUT writes the list attributes (the backfill)
    api(
        "PUT",
        "/v1/service-reps/old-rep",
        {"name": "Old", "principal": "old-user", "currentHierarchyNodeId": "branch"},
        **ADMIN,
    )
    api("PUT", "/v1/customers/700", {"name": "Old Co", "hierarchyNodeId": "branch"}, **ADMIN)
    api(
        "PUT",
        "/v1/assignments/900",
        {
            "employeeId": 800,
            "customerId": 700,
            "hierarchyNodeId": "branch",
            "status": "Active",
            "startDate": "2026-01-05",
        },
        **ADMIN,
    )
    assert ids(get(api, "/v1/service-reps")["items"], "repId") == ["old-rep"]
    assert ids(get(api, "/v1/customers")["items"], "customerId") == [700]
    assert ids(get(api, "/v1/assignments?employeeId=800")["items"], "assignmentId") == [900]
