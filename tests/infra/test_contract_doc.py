"""docs/contract.md lists every route of the one route list, and the error texts verbatim."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from infra.stack.routes import api_routes
from timerack_bridge.domain import errors

CONTRACT = Path(__file__).resolve().parents[2] / "docs" / "contract.md"
_ROUTE_ROW = re.compile(r"^\| `((?:GET|PUT|POST|DELETE|PATCH) /[^`?]*)[^`]*` \|", re.MULTILINE)


def test_the_contract_lists_each_route_of_docs_openapi_json_once() -> None:
    section = CONTRACT.read_text(encoding="utf-8").split("## 4. Routes", 1)[1].split("\n## ", 1)[0]
    listed = _ROUTE_ROW.findall(section)
    assert sorted(listed) == sorted(route.name for route in api_routes())


def test_the_contract_holds_every_per_assignment_error_text_verbatim() -> None:
    text = CONTRACT.read_text(encoding="utf-8")
    week = date(2026, 11, 22)
    texts = [
        errors.HIERARCHY_LEVEL,
        errors.NO_OPEN_WEEKS,
        errors.assignment_not_found(123),
        errors.assignment_status_blocked(123),
        errors.already_sent_to_payroll(123, week),
        errors.superseded(123, week),
        errors.punches_overlap(123, date(2026, 11, 17), "REG 2200-0600 (punched in 2026-11-16)", "OT 0500-1300"),
    ]
    missing = [t for t in texts if f"`{t}`" not in text]
    assert not missing, f"docs/contract.md lacks: {missing}"
