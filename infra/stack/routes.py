"""The API's routes, read from the committed OpenAPI document (docs/openapi.json), the one list of them.

The routers declare the routes; `make openapi` writes what the API serves to docs/openapi.json; the
stack builds one API Gateway method per operation of that file, and the tests check the file against
what the API serves. A route is added in its router and in no other place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from infra.openapi import committed_document

HTTP_METHODS = ("get", "put", "post", "delete", "patch")
_PARAMETER = re.compile(r"\{([a-z][a-z0-9_]*)\}")


@dataclass(frozen=True)
class Route:
    method: str  # GET, PUT, POST, ...
    path: str  # as API Gateway has it: /v1/hierarchy/{nodeId}
    body_required: bool
    required_query: tuple[str, ...]
    public: bool  # no bearer token (the operation's `security` is empty)

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


def gateway_path(path: str) -> str:
    """The resolver's path parameters (Python names) in camelCase, as the contract writes them."""

    def camel(match: re.Match[str]) -> str:
        head, *rest = match.group(1).split("_")
        return "{" + head + "".join(word.capitalize() for word in rest) + "}"

    return _PARAMETER.sub(camel, path)


def routes_of(document: dict[str, Any]) -> tuple[Route, ...]:
    """One route per operation of an OpenAPI document."""
    return tuple(
        Route(
            method=method.upper(),
            path=gateway_path(path),
            body_required=bool((operation.get("requestBody") or {}).get("required")),
            required_query=tuple(
                p["name"] for p in operation.get("parameters", []) if p.get("in") == "query" and p.get("required")
            ),
            public=operation.get("security") == [],
        )
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    )


def api_routes() -> tuple[Route, ...]:
    """The routes of the committed docs/openapi.json."""
    return routes_of(committed_document())
