"""Every admin route through the real handler on moto."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ApiCall

ADMIN = {"principal": "agency-admin", "admin": True}


@pytest.fixture(autouse=True)
def _branch_node(services: Any) -> None:
    """The node these records name: a PUT naming a node that does not exist is refused (422)."""
    from timerack_bridge.domain.entities import HierarchyNode

    services.admin.put_node(HierarchyNode(node_id="branch", name="Branch"))


def put(api: ApiCall, path: str, body: dict[str, Any]) -> Any:
    reply = api("PUT", path, body, **ADMIN)
    assert reply.status == 200, reply.text
    return reply.json


def test_admin_routes_round_trip(api: ApiCall, services: Any) -> None:
    assert (
        put(api, "/v1/hierarchy/system", {"name": "System", "parentId": None, "allowsMasterData": False})["nodeId"]
        == "system"
    )
    put(api, "/v1/hierarchy/branch", {"name": "Branch", "parentId": "system", "allowsMasterData": True})
    assert (
        put(
            api, "/v1/service-reps/rep-1", {"name": "Portal", "principal": "portal", "currentHierarchyNodeId": "branch"}
        )["repId"]
        == "rep-1"
    )
    group = put(
        api,
        "/v1/security-groups/Timerack",
        {
            "description": "Timerack integration",
            "hierarchyNodeId": "system",
            "permissions": ["Timerack"],
            "members": ["rep-1"],
        },
    )
    assert group["members"] == ["rep-1"]
    customer = put(
        api,
        "/v1/customers/100",
        {
            "name": "Acme",
            "parentCustomerId": None,
            "hierarchyNodeId": "branch",
            "timerackClientKey": "ACME-1",
            "timerackMode": "connect",
        },
    )
    assert customer["timerackClientKey"] == "ACME-1"
    put(
        api,
        "/v1/employees/501",
        {
            "firstName": "April",
            "lastName": "Seven",
            "birthDate": "1990-04-07",
            "ssn": "111-11-2345",
            "hierarchyNodeId": "branch",
            "pinOverride": None,
        },
    )
    assignment = put(
        api,
        "/v1/assignments/1001",
        {
            "employeeId": 501,
            "customerId": 100,
            "hierarchyNodeId": "branch",
            "status": "Active",
            "startDate": "2026-11-01",
            "endDate": None,
            "jobTitle": "Operator",
        },
    )
    assert assignment["status"] == "Active"
    assert (
        put(api, "/v1/weeks/2026-11-22", {"hierarchyNodeId": "branch", "status": "open"})["weekendBill"] == "2026-11-22"
    )
    # Then the stores hold it all
    assert services.admin.get_customer_by_client_key("ACME-1").customer_id == 100
    assert services.admin.get_rep_by_principal("portal").rep_id == "rep-1"
    assert services.admin.open_weeks("branch")[0].isoformat() == "2026-11-22"


def test_employee_never_shows_ssn_or_pin(api: ApiCall, services: Any) -> None:
    reply = api(
        "PUT",
        "/v1/employees/502",
        {
            "firstName": "Dec",
            "lastName": "Twelve",
            "birthDate": "1985-12-12",
            "ssn": "123-45-6789",
            "hierarchyNodeId": "branch",
        },
        **ADMIN,
    )
    assert reply.status == 200
    shown = api("GET", "/v1/employees/502", **ADMIN)
    for text in (reply.text, shown.text):
        assert "6789" not in text and "126789" not in text and "123-45" not in text
    assert shown.json["hasSsn"] is True and shown.json["hasPinOverride"] is False
    # And the store keeps only the last four
    stored = services.admin.get("EMPLOYEE#502", "EMPLOYEE")
    assert stored["ssn_last4"] == "6789" and "ssn" not in stored


def test_re_put_without_ssn_keeps_the_pin_basis(api: ApiCall, services: Any) -> None:
    body = {
        "firstName": "A",
        "lastName": "B",
        "birthDate": "1990-04-07",
        "ssn": "111-11-2345",
        "hierarchyNodeId": "branch",
    }
    api("PUT", "/v1/employees/7", body, **ADMIN)
    api("PUT", "/v1/employees/7", {**body, "ssn": None, "lastName": "C"}, **ADMIN)
    assert services.admin.get_employee(7).ssn_last4 == "2345"


def test_enhanced_search_by_pin_override(api: ApiCall) -> None:
    base = {"firstName": "A", "lastName": "B", "hierarchyNodeId": "branch"}
    api("PUT", "/v1/employees/1", {**base, "pinOverride": "123456"}, **ADMIN)
    api("PUT", "/v1/employees/2", base, **ADMIN)
    api("PUT", "/v1/employees/3", {**base, "pinOverride": "654321"}, **ADMIN)
    with_override = api("GET", "/v1/employees?hasPinOverride=true", **ADMIN)
    assert with_override.status == 200
    assert [e["employeeId"] for e in with_override.json["items"]] == [1, 3]
    assert "123456" not in with_override.text and "654321" not in with_override.text
    without = api("GET", "/v1/employees?hasPinOverride=false", **ADMIN).json
    assert [e["employeeId"] for e in without["items"]] == [2]
    page = api("GET", "/v1/employees?hasPinOverride=true&limit=1", **ADMIN).json
    assert len(page["items"]) == 1 and page["nextToken"]
    rest = api("GET", f"/v1/employees?hasPinOverride=true&limit=1&nextToken={page['nextToken']}", **ADMIN).json
    assert [e["employeeId"] for e in rest["items"]] == [3]


def test_bad_override_and_bad_ssn_are_422_without_echo(api: ApiCall) -> None:
    base = {"firstName": "A", "lastName": "B", "hierarchyNodeId": "branch"}
    bad_pin = api("PUT", "/v1/employees/1", {**base, "pinOverride": "12345"}, **ADMIN)
    assert bad_pin.status == 422 and "12345" not in bad_pin.text
    bad_ssn = api("PUT", "/v1/employees/1", {**base, "ssn": "987-65-432"}, **ADMIN)
    assert bad_ssn.status == 422 and "987-65-432" not in bad_ssn.text and "432" not in bad_ssn.text
    assert api("GET", "/v1/employees/1", **ADMIN).status == 404


def test_duplicate_client_key_is_409(api: ApiCall) -> None:
    body = {"name": "Acme", "hierarchyNodeId": "branch", "timerackClientKey": "ACME-1"}
    assert api("PUT", "/v1/customers/100", body, **ADMIN).status == 200
    assert api("PUT", "/v1/customers/100", body, **ADMIN).status == 200  # the same customer again is fine
    clash = api("PUT", "/v1/customers/200", {**body, "name": "Other"}, **ADMIN)
    assert clash.status == 409 and "ACME-1" in clash.json["message"]
    # A customer that changes its key frees the old one
    assert api("PUT", "/v1/customers/100", {**body, "timerackClientKey": "ACME-2"}, **ADMIN).status == 200
    assert api("PUT", "/v1/customers/200", body, **ADMIN).status == 200


def test_duplicate_principal_is_409(api: ApiCall) -> None:
    rep = {"name": "R", "principal": "same", "currentHierarchyNodeId": "branch"}
    assert api("PUT", "/v1/service-reps/a", rep, **ADMIN).status == 200
    assert api("PUT", "/v1/service-reps/b", rep, **ADMIN).status == 409


def test_admin_routes_need_token_and_scope(api: ApiCall) -> None:
    body = {"name": "System", "allowsMasterData": False}
    assert api("PUT", "/v1/hierarchy/system", body, principal=None).status == 401
    forbidden = api("PUT", "/v1/hierarchy/system", body, principal="portal", admin=False)
    assert forbidden.status == 403 and "timerack/admin" in forbidden.json["message"]


def test_malformed_admin_bodies_are_422(api: ApiCall) -> None:
    assert api("PUT", "/v1/assignments/1", {"status": "Paused"}, **ADMIN).status == 422
    assert api("PUT", "/v1/weeks/not-a-date", {"hierarchyNodeId": "b", "status": "open"}, **ADMIN).status == 422
    assert api("PUT", "/v1/customers/abc", {"name": "x", "hierarchyNodeId": "b"}, **ADMIN).status == 422
    assert api("PUT", "/v1/hierarchy/x", raw="{not json", **ADMIN).status == 422


def test_health_needs_no_token(api: ApiCall) -> None:
    reply = api("GET", "/v1/health", principal=None)
    assert reply.status == 200 and reply.json["status"] == "ok"
