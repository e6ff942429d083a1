"""Admin data is checked on the way in (issue 13, points 4 and 5): what a PUT names must exist, no parent
makes a cycle, only Primary Customers hold a Timerack Client Key; data stored before keeps working."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Agency, ApiCall, batch, timecard

ADMIN = {"principal": "agency-admin", "admin": True}
ASSIGNMENT = {
    "employeeId": 501,
    "customerId": 100,
    "hierarchyNodeId": "branch",
    "status": "Active",
    "startDate": "2026-01-05",
}


def refused(api: ApiCall, path: str, body: dict[str, Any], method: str = "PUT") -> str:
    reply = api(method, path, body, **ADMIN)
    assert reply.status == 422, reply.text
    return reply.json["message"]


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/v1/hierarchy/new", {"name": "New", "parentId": "nope"}, 'hierarchy node "nope" does not exist'),
        (
            "/v1/service-reps/rep-9",
            {"name": "R", "principal": "p9", "currentHierarchyNodeId": "nope"},
            'hierarchy node "nope" does not exist',
        ),
        ("/v1/security-groups/G", {"hierarchyNodeId": "nope"}, 'hierarchy node "nope" does not exist'),
        ("/v1/customers/300", {"name": "C", "hierarchyNodeId": "nope"}, 'hierarchy node "nope" does not exist'),
        (
            "/v1/customers/300",
            {"name": "C", "hierarchyNodeId": "branch", "parentCustomerId": 999},
            "parent customer 999 does not exist",
        ),
        ("/v1/employees/600", {"firstName": "A", "lastName": "B", "hierarchyNodeId": "nope"}, '"nope" does not exist'),
        ("/v1/assignments/2000", ASSIGNMENT | {"hierarchyNodeId": "nope"}, 'hierarchy node "nope" does not exist'),
        ("/v1/assignments/2000", ASSIGNMENT | {"customerId": 999}, "customer 999 does not exist"),
        ("/v1/assignments/2000", ASSIGNMENT | {"employeeId": 999}, "employee 999 does not exist"),
        ("/v1/weeks/2026-11-29", {"hierarchyNodeId": "nope", "status": "open"}, 'hierarchy node "nope" does not exist'),
    ],
)
def test_a_put_naming_something_that_does_not_exist_is_422_and_stores_nothing(
    api: ApiCall, agency: Agency, services: Any, path: str, body: dict[str, Any], message: str
) -> None:
    assert message in refused(api, path, body)
    # Nothing of it was stored
    kind, record = path.split("/")[2:4]
    if kind == "weeks":
        assert services.admin.weeks_of_node("nope") == {}
    else:
        read = {
            "hierarchy": lambda: services.admin.get_node(record),
            "service-reps": lambda: services.admin.get_rep(record),
            "security-groups": lambda: services.admin.get_group(record),
            "customers": lambda: services.admin.get_customer(int(record)),
            "employees": lambda: services.admin.get_employee(int(record)),
            "assignments": lambda: services.admin.get_assignment(int(record)),
        }[kind]
        assert read() is None


def test_send_to_payroll_for_a_node_that_does_not_exist_is_422(api: ApiCall, agency: Agency) -> None:
    message = refused(api, "/v1/weeks/2026-11-22/send-to-payroll", {"hierarchyNodeId": "nope"}, method="POST")
    assert message == 'hierarchy node "nope" does not exist'


def test_a_security_group_member_that_is_not_a_service_rep_is_422(api: ApiCall, agency: Agency, services: Any) -> None:
    body = {"hierarchyNodeId": "system", "permissions": ["Timerack"], "members": ["rep-1", "ghost"]}
    assert refused(api, "/v1/security-groups/Timerack", body) == 'security group member "ghost" is not a service rep'
    # The stored group is untouched
    assert services.admin.get_group("Timerack").members == ["rep-1"]
    assert api("PUT", "/v1/security-groups/Timerack", body | {"members": ["rep-1"]}, **ADMIN).status == 200


def test_a_hierarchy_parent_that_makes_a_cycle_is_422(api: ApiCall, agency: Agency, services: Any) -> None:
    # Given system > branch > sub: the system may not go under the sub-branch, nor a node under itself
    message = refused(api, "/v1/hierarchy/system", {"name": "System", "parentId": "sub", "allowsMasterData": False})
    assert "cycle" in message and '"sub"' in message
    assert "cycle" in refused(api, "/v1/hierarchy/branch", {"name": "Branch", "parentId": "branch"})
    # The tree is as it was
    assert services.admin.get_node("system").parent_id is None
    assert services.admin.get_node("branch").parent_id == "system"
    # Moving a node elsewhere without a cycle is fine
    assert api("PUT", "/v1/hierarchy/sub", {"name": "Sub", "parentId": "other"}, **ADMIN).status == 200


def test_a_customer_parent_that_makes_a_cycle_is_422(api: ApiCall, agency: Agency, services: Any) -> None:
    # Given Acme (100) > Acme Plant 2 (101)
    body = {"name": "Acme", "hierarchyNodeId": "branch", "parentCustomerId": 101}
    assert "cycle" in refused(api, "/v1/customers/100", body)
    assert "cycle" in refused(api, "/v1/customers/101", body | {"name": "Plant", "parentCustomerId": 101})
    assert services.admin.get_customer(100).parent_customer_id is None


def test_a_customer_with_a_parent_cannot_hold_a_client_key(api: ApiCall, agency: Agency, services: Any) -> None:
    # When a child customer is given its own key
    body = {"name": "Acme Plant 2", "hierarchyNodeId": "branch", "parentCustomerId": 100, "timerackClientKey": "P2"}
    message = refused(api, "/v1/customers/101", body)
    # Then it is refused, saying only Primary Customers hold keys, and no second client appears
    assert "Primary Customer" in message and "P2" in message
    assert services.admin.get_customer_by_client_key("P2") is None
    assert sorted(c.customer_id for c in services.admin.iter_clients()) == [100, 200]
    # A client (with a key) given a parent is refused the same way
    globex = {"name": "Globex", "hierarchyNodeId": "branch", "timerackClientKey": "GLOBEX-1", "parentCustomerId": 100}
    assert "Primary Customer" in refused(api, "/v1/customers/200", globex)
    assert services.admin.get_customer(200).parent_customer_id is None


def test_data_stored_before_the_checks_keeps_working(api: ApiCall, agency: Agency, services: Any) -> None:
    from timerack_bridge.domain.entities import Customer, HierarchyNode, SecurityGroup

    # Given records stored before the checks existed: a group with a stale member, a node under a
    # parent since removed, and a child customer holding a key
    services.admin.put_group(
        SecurityGroup(name="Timerack", hierarchy_node_id="system", permissions=["Timerack"], members=["gone", "rep-1"])
    )
    services.admin.put_node(HierarchyNode(node_id="orphan", name="Orphan", parent_id="removed"))
    legacy = Customer(
        customer_id=102, name="Plant 3", parent_customer_id=100, hierarchy_node_id="branch", timerack_client_key="P3"
    )
    services.admin.put_customer(legacy)
    # Then they are still read and used: the rep still sends timecards through that group
    sent = api("POST", "/v1/timecard-batches", batch(timecard(1001, 501)))
    assert sent.status == 200 and sent.json["results"][0]["status"] == "created"
    # And re-PUTting them unchanged is still accepted
    group = {"hierarchyNodeId": "system", "permissions": ["Timerack"], "members": ["gone", "rep-1"]}
    assert api("PUT", "/v1/security-groups/Timerack", group | {"description": ""}, **ADMIN).status == 200
    assert api("PUT", "/v1/hierarchy/orphan", {"name": "Orphan", "parentId": "removed"}, **ADMIN).status == 200
    customer = legacy.model_dump(mode="json", by_alias=True, exclude={"customer_id"})
    assert api("PUT", "/v1/customers/102", customer, **ADMIN).status == 200
    # But a change to such a record is checked
    assert 'hierarchy node "removed" does not exist' in refused(
        api, "/v1/hierarchy/orphan", {"name": "Renamed", "parentId": "removed"}
    )
