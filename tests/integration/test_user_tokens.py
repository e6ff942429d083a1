"""A TempWorks user signed in through the portal (Cognito's managed login) calls the API as themselves.

A Cognito user access token carries `sub` (the user), `client_id` (the portal's app client) and
`scope`; the API Gateway authorizer hands those claims to the function. The caller is the `sub`, never
the shared `client_id`, so each user acts as the service rep whose `principal` is their `sub`.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import CLIENT_KEY, Agency

PORTAL_CLIENT_ID = "4lq0portalclient7example"
USER_SUB = "94c8a4e8-70a1-7036-9f3e-1d2c3b4a5f60"
OTHER_USER_SUB = "b4f8e4d8-1011-70c2-aa6e-0f9e8d7c6b5a"


def user_token_claims(sub: str, *, scope: str = "openid timerack/timecards.write") -> dict[str, Any]:
    """The claims of an access token Cognito issues to a user signed in with the code grant."""
    return {
        "sub": sub,
        "client_id": PORTAL_CLIENT_ID,
        "scope": scope,
        "token_use": "access",
        "username": "jsmith",
        "origin_jti": "0b8f7e6d-5c4b-3a29-1807-f6e5d4c3b2a1",
        "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example",
    }


def call(handle: Any, method: str, path: str, claims: dict[str, Any], body: str | None = None) -> tuple[int, Any]:
    import json

    from local.proxy import build_proxy_event, response_parts

    event = build_proxy_event(method, path, headers={"Content-Type": "application/json"}, body=body, claims=claims)
    status, _, data = response_parts(handle(event))
    return status, json.loads(data) if data else None


def link_user_to_rep(handle: Any, rep_id: str, sub: str, node: str) -> int:
    """What an admin does once per user: the rep's principal becomes the user's `sub`."""
    import json

    admin = {"sub": "admin-client", "scope": "timerack/admin"}
    body = json.dumps({"name": f"User {rep_id}", "principal": sub, "currentHierarchyNodeId": node})
    status, _ = call(handle, "PUT", f"/v1/service-reps/{rep_id}", admin, body)
    return status


def add_to_timerack_group(services: Any, *rep_ids: str) -> None:
    group = services.admin.get_group("Timerack")
    services.admin.put_group(group.model_copy(update={"members": [*group.members, *rep_ids]}))


def test_a_user_token_is_the_rep_whose_principal_is_its_sub(handle: Any, services: Any, agency: Agency) -> None:
    # Given an admin linked the user's sub to a rep at the client's branch, in the Timerack group
    assert link_user_to_rep(handle, "rep-jsmith", USER_SUB, "branch") == 200
    add_to_timerack_group(services, "rep-jsmith")

    # When the user calls with their own access token, then they act as that rep
    status, body = call(handle, "GET", f"/v1/clients/{CLIENT_KEY}/payroll-email", user_token_claims(USER_SUB))
    assert status == 200, body


def test_a_user_token_is_identified_by_its_sub_not_its_client_id(handle: Any, services: Any, agency: Agency) -> None:
    # Given a rep whose principal is the portal's client id (as a machine client's would be)
    assert link_user_to_rep(handle, "rep-portal", PORTAL_CLIENT_ID, "branch") == 200
    add_to_timerack_group(services, "rep-portal")

    # When a user with no rep of their own calls through the portal client, then they are nobody's rep
    status, body = call(handle, "GET", f"/v1/clients/{CLIENT_KEY}/payroll-email", user_token_claims(USER_SUB))
    assert status == 403, body
    assert "not a service rep" in body["message"]


def test_a_user_outside_the_security_group_gets_403(handle: Any, agency: Agency) -> None:
    # Given a user linked to a rep who is not a member of the Timerack security group
    assert link_user_to_rep(handle, "rep-outsider", USER_SUB, "branch") == 200

    status, body = call(handle, "GET", f"/v1/clients/{CLIENT_KEY}/payroll-email", user_token_claims(USER_SUB))
    assert status == 403, body
    assert "security group" in body["message"]


def test_each_user_sees_what_their_own_reps_hierarchy_node_allows(handle: Any, services: Any, agency: Agency) -> None:
    # Given two users: one at the client's branch, one at another branch
    assert link_user_to_rep(handle, "rep-branch", USER_SUB, "branch") == 200
    assert link_user_to_rep(handle, "rep-other", OTHER_USER_SUB, "other") == 200
    add_to_timerack_group(services, "rep-branch", "rep-other")

    # Then only the first sees the client; the other is told it is not found or not visible
    path = f"/v1/clients/{CLIENT_KEY}/payroll-email"
    assert call(handle, "GET", path, user_token_claims(USER_SUB))[0] == 200
    status, body = call(handle, "GET", path, user_token_claims(OTHER_USER_SUB))
    assert status == 404, body


def test_a_user_token_without_the_timerack_scope_is_refused(handle: Any, agency: Agency) -> None:
    # A user token for another API of the pool (only openid) never reaches a route
    assert link_user_to_rep(handle, "rep-jsmith", USER_SUB, "branch") == 200
    status, body = call(
        handle, "GET", f"/v1/clients/{CLIENT_KEY}/payroll-email", user_token_claims(USER_SUB, scope="openid")
    )
    assert status == 403, body
