"""The README's route table names exactly the routes of the committed OpenAPI document."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROUTE = re.compile(r"`((?:GET|PUT|POST|DELETE|PATCH)(?:\\?\|(?:GET|PUT|POST|DELETE|PATCH))*) (/v1/[^`?\s]*)")


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def readme_routes(text: str) -> set[tuple[str, str]]:
    routes = set()
    for line in text.splitlines():
        if not line.startswith("| `"):
            continue
        first_cell = line.split(" | ")[0]
        for methods, path in ROUTE.findall(first_cell):
            routes |= {(method, _shape(path)) for method in methods.replace("\\", "").split("|")}
    return routes


def test_the_readme_route_table_matches_the_openapi_document() -> None:
    # Given the committed document (equal to what the API serves: test_openapi_document.py)
    document = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    served = {
        (method.upper(), _shape(path))
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "put", "post", "delete", "patch"}
    }
    # Then the README lists each route once, and no other
    listed = readme_routes((ROOT / "README.md").read_text(encoding="utf-8"))
    assert sorted(served - listed) == [] and sorted(listed - served) == []


def test_the_reading_sees_every_route_of_a_row() -> None:
    row = "| `GET /v1/weeks?hierarchyNodeId=N`, `GET\\|PUT /v1/clients/{clientKey}/payroll-email` | admin | x |"
    assert readme_routes(row) == {
        ("GET", "/v1/weeks"),
        ("GET", "/v1/clients/{}/payroll-email"),
        ("PUT", "/v1/clients/{}/payroll-email"),
    }
