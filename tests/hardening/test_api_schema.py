"""schemathesis against the OpenAPI the local runtime serves, for a Timerack rep and for an admin.

Bounded: a few generated cases per operation and phase, so the whole module stays well under a minute.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
)

from tests.hardening.conftest import HardeningStack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("hardening")]


@pytest.fixture(scope="session")
def served_openapi(hardening_stack: HardeningStack) -> Any:
    loaded = schemathesis.openapi.from_url(f"{hardening_stack.url}/swagger?format=json")
    loaded.config.phases.update(phases=["examples", "coverage", "fuzzing"])
    return loaded


COUNTS: dict = {}
schema = schemathesis.pytest.from_fixture("served_openapi")


def teardown_module() -> None:
    print(COUNTS)


@schema.parametrize()
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
def test_rep(case: Any, hardening_stack: HardeningStack) -> None:
    token = hardening_stack.token("timerack-portal")
    import collections; COUNTS[case.operation.label] = COUNTS.get(case.operation.label, 0) + 1
    case.call_and_validate(
        base_url=hardening_stack.url,
        headers={"Authorization": f"Bearer {token}"},
        checks=[not_a_server_error, content_type_conformance, response_schema_conformance],
    )
