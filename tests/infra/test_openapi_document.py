"""docs/openapi.json is what the API serves, and the stack reads its routes from it."""

from __future__ import annotations

from typing import Any

import pytest

from infra.openapi import committed_document, served_document
from infra.stack.routes import gateway_path, routes_of

REGENERATE = "docs/openapi.json is not what the API serves: run `make openapi` and commit docs/openapi.json"


def differences(committed: dict[str, Any], served: dict[str, Any]) -> list[str]:
    """The operations (and other top-level parts) that differ, named for the failure message."""
    found = [
        f"{key} differs"
        for key in sorted(set(committed) | set(served))
        if key != "paths" and committed.get(key) != served.get(key)
    ]
    paths_c, paths_s = committed.get("paths", {}), served.get("paths", {})
    for path in sorted(set(paths_c) | set(paths_s)):
        ops_c, ops_s = paths_c.get(path, {}), paths_s.get(path, {})
        for method in sorted(set(ops_c) | set(ops_s)):
            if ops_c.get(method) != ops_s.get(method):
                state = "new" if method not in ops_c else "gone" if method not in ops_s else "changed"
                found.append(f"{method.upper()} {path} {state}")
    return found


def test_the_committed_openapi_document_is_what_the_api_serves() -> None:
    committed, served = committed_document(), served_document()
    assert committed == served, f"{REGENERATE}; {', '.join(differences(committed, served))}"


def test_a_route_changed_without_regenerating_is_named_in_the_failure() -> None:
    served = served_document()
    stale = {**served, "paths": {p: ops for p, ops in served["paths"].items() if p != "/v1/exports"}}
    assert differences(stale, served) == ["GET /v1/exports new", "POST /v1/exports new"]


@pytest.mark.parametrize(
    ("resolver_path", "gateway"),
    [
        ("/v1/hierarchy/{node_id}", "/v1/hierarchy/{nodeId}"),
        ("/v1/payroll-history/{batch_id}/report.csv", "/v1/payroll-history/{batchId}/report.csv"),
        ("/v1/security-groups/{name}", "/v1/security-groups/{name}"),
    ],
)
def test_path_parameters_are_written_as_the_contract_writes_them(resolver_path: str, gateway: str) -> None:
    assert gateway_path(resolver_path) == gateway


def test_each_operation_is_a_route_with_its_auth_body_and_required_query() -> None:
    routes = {route.name: route for route in routes_of(committed_document())}
    assert routes["GET /v1/health"].public
    assert not any(route.public for name, route in routes.items() if name != "GET /v1/health")
    assert routes["POST /v1/timecard-batches"].body_required
    assert not routes["POST /v1/exports"].body_required  # {clientKey?}: the body may be left out
    assert routes["GET /v1/timecards"].required_query == ("assignmentId", "weekendBill")
    assert len(routes) == sum(len(ops) for ops in committed_document()["paths"].values())


def test_the_stack_refuses_gateway_checks_for_a_route_that_is_not_in_the_document() -> None:
    from infra.stack import api

    routes = tuple(r for r in routes_of(committed_document()) if r.name != "POST /v1/timecard-batches")
    with pytest.raises(ValueError, match="POST /v1/timecard-batches"):
        api.gateway_routes(routes)
