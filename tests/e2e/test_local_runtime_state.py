"""The local runtime keeps its data across Ctrl-C and another start; TIMERACK_FRESH=1 starts over."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tests.e2e.conftest import LocalStack, start_stack, stop_stack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-restart")]

NEW_HIRE = {"firstName": "New", "lastName": "Hire", "birthDate": "1990-04-07", "hierarchyNodeId": "acme-branch"}
RENAMED = {"firstName": "Renamed", "lastName": "Seven", "birthDate": "1990-04-07", "hierarchyNodeId": "acme-branch"}


def first_name(stack: LocalStack, employee_id: int) -> str | int:
    status, _, body = stack.call("GET", f"/v1/employees/{employee_id}", token=stack.token("agency-admin", admin=True))
    return json.loads(body)["firstName"] if status == 200 else status


def test_data_survives_a_restart_and_fresh_starts_over(tmp_path: Path) -> None:
    stack = start_stack(tmp_path)
    try:
        admin = stack.token("agency-admin", admin=True)
        assert stack.call("PUT", "/v1/employees/900", NEW_HIRE, token=admin)[0] == 200
        assert stack.call("PUT", "/v1/employees/501", RENAMED, token=admin)[0] == 200  # a change to demo data
    finally:
        stop_stack(stack)

    stack = start_stack(tmp_path)
    try:
        assert first_name(stack, 900) == "New"
        assert first_name(stack, 501) == "Renamed"  # the demo data was not seeded again over the kept data
    finally:
        stop_stack(stack)

    stack = start_stack(tmp_path, env={"TIMERACK_FRESH": "1"})
    try:
        assert first_name(stack, 900) == 404
        assert first_name(stack, 501) == "April"  # fresh demo data
    finally:
        stop_stack(stack)


def test_runtime_json_and_the_kept_tables_are_private_to_the_user(tmp_path: Path) -> None:
    stack = start_stack(tmp_path)
    try:
        for name in ("runtime.json", "signing-key"):
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    finally:
        stop_stack(stack)
    assert stat.S_IMODE((tmp_path / "tables.json").stat().st_mode) == 0o600


def test_a_run_left_open_by_a_stop_shows_finished_after_the_next_start(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from local.composition import stand_in_client
    from local.config import RuntimeInfo
    from timerack_bridge.adapters.dynamodb.export_runs import ExportRunStore
    from timerack_bridge.domain.export_models import ClientOutcome, ExportRun

    stack = start_stack(tmp_path)
    try:
        # Given a run whose client was still queued when the runtime stopped (the queues are not kept)
        running = RuntimeInfo.read(tmp_path)
        assert running is not None
        runs = ExportRunStore(stand_in_client("dynamodb", running.moto_url), running.table_name)
        run = ExportRun(started_at=datetime.now(UTC), destination="outbox", trigger="local-cli")
        runs.start(run)
        queued = ClientOutcome(client_key="ACME-1", customer_id=100, status="queued", hierarchy_node_id="acme-branch")
        runs.add_outcomes(run.run_id, [queued])
        runs.dispatched(run.run_id)
    finally:
        stop_stack(stack)

    stack = start_stack(tmp_path)
    try:
        # Then after the next start the run is finished, its client failed with the reason
        status, _, body = stack.call("GET", f"/v1/exports/{run.run_id}", token=stack.token("agency-admin", admin=True))
        assert status == 200, body
        detail = json.loads(body)
        assert detail["state"] == "finished" and detail["counts"]["failed"] == 1
        (client,) = detail["clients"]
        assert client["status"] == "failed" and "stopped" in client["error"]
    finally:
        stop_stack(stack)
