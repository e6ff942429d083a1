"""The local runtime exports through its queue, as the stack does: the schedule, a saved change,
"Update From TempWorks" and `timerack-bridge export` all queue clients, and the queue workers send them.

A runtime of its own: these tests change the demo data (a PIN override) that other e2e tests read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.e2e.conftest import LocalStack, start_stack, stop_stack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-export")]

T = TypeVar("T")
# A timeout only: nothing asserts how long it took (docs/benchmarks.md measures the latency).
DEADLINE_SECONDS = 60.0
OLIVE = {"firstName": "Olive", "lastName": "Override", "birthDate": "1979-01-30", "hierarchyNodeId": "acme-branch"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    stack = start_stack(tmp_path_factory.mktemp("export-state"))
    yield stack
    stop_stack(stack)


def eventually(read: Callable[[], T], done: Callable[[T], bool], what: str, stack: LocalStack) -> T:
    """`read()` until `done` holds; fails naming `what` (with the runtime's log) after DEADLINE_SECONDS."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: still {value!r}\n{stack.logs()[-3000:]}")
        time.sleep(0.2)


def pins(latest: Path) -> dict[int, str]:
    try:
        return {e["employeeId"]: e["pin"] for e in json.loads(latest.read_text())["employees"]}
    except (OSError, ValueError):
        return {}


def admin_get(stack: LocalStack, path: str) -> Any:
    status, _, body = stack.call("GET", path, token=stack.token("agency-admin", admin=True))
    assert status == 200, body
    return json.loads(body)


def finished_run(stack: LocalStack, trigger: str) -> dict[str, Any]:
    """The newest run of this trigger, once it is finished."""

    def newest() -> dict[str, Any] | None:
        runs = [run for run in admin_get(stack, "/v1/exports?limit=50")["items"] if run["trigger"] == trigger]
        return runs[0] if runs else None

    run = eventually(newest, lambda r: r is not None and r["state"] == "finished", f"a finished {trigger} run", stack)
    assert run is not None
    return run


def outcome(stack: LocalStack, run_id: str, client_key: str) -> dict[str, Any]:
    clients = admin_get(stack, f"/v1/exports/{run_id}?limit=200")["clients"]
    return next(c for c in clients if c["clientKey"] == client_key)


def test_the_schedules_run_goes_through_the_queue_and_shows_exported(stack: LocalStack) -> None:
    # Given the runtime just started: its schedule runs at start
    run = finished_run(stack, "local-schedule")
    # Then every client was queued and exported by the queue workers, none failed
    assert run["counts"]["exported"] >= 1 and run["counts"]["failed"] == 0 and run["counts"]["queued"] == 0
    acme = outcome(stack, run["runId"], "ACME-1")
    assert acme["status"] == "exported" and acme["attempts"] == 1
    latest = stack.state_dir / "timerack-outbox" / "ACME-1" / "latest.json"
    assert pins(latest)[503] == "654321"


def test_a_saved_pin_override_reaches_latest_json_with_no_export_started_by_hand(stack: LocalStack) -> None:
    latest = stack.state_dir / "timerack-outbox" / "ACME-1" / "latest.json"
    eventually(lambda: pins(latest).get(503), lambda pin: pin == "654321", "the at-start export", stack)
    admin = stack.token("agency-admin", admin=True)
    # When an admin saves a new PIN override for one of ACME-1's employees
    status, _, body = stack.call("PUT", "/v1/employees/503", {**OLIVE, "pinOverride": "246810"}, token=admin)
    assert status == 200, body
    # Then the client's outbox holds it, with nobody starting an export
    eventually(lambda: pins(latest).get(503), lambda pin: pin == "246810", "the new PIN in latest.json", stack)
    # And a one-client run started by the change says so
    run = finished_run(stack, "change")
    assert run["counts"]["exported"] == 1
    assert outcome(stack, run["runId"], "ACME-1")["status"] == "exported"
    # And the PIN went to the outbox only, never to the log
    assert "246810" not in stack.logs()


def test_update_from_tempworks_answers_202_and_its_run_finishes(stack: LocalStack) -> None:
    admin = stack.token("agency-admin", admin=True)
    status, _, body = stack.call("POST", "/v1/exports", {"clientKey": "ACME-1"}, token=admin)
    assert status == 202, body
    run_id = json.loads(body)["runId"]
    run = eventually(
        lambda: admin_get(stack, f"/v1/exports/{run_id}"), lambda r: r["state"] == "finished", "the run", stack
    )
    assert run["trigger"] == "update-from-tempworks"
    assert [(c["clientKey"], c["status"]) for c in run["clients"]] == [("ACME-1", "exported")]


def test_update_from_tempworks_of_every_client_is_queued_by_the_dispatcher(stack: LocalStack) -> None:
    admin = stack.token("agency-admin", admin=True)
    # When an admin asks for every client: the run is recorded and handed to the dispatcher
    status, _, body = stack.call("POST", "/v1/exports", {}, token=admin)
    assert status == 202, body
    run_id = json.loads(body)["runId"]
    # Then the dispatcher queues every client and the workers export them
    run = eventually(
        lambda: admin_get(stack, f"/v1/exports/{run_id}"), lambda r: r["state"] == "finished", "the run", stack
    )
    statuses = {c["clientKey"]: c["status"] for c in run["clients"]}
    assert statuses["ACME-1"] == "exported" and "failed" not in statuses.values()


def test_the_cli_export_queues_the_run_and_shows_it_finished(stack: LocalStack) -> None:
    # When `timerack-bridge export` runs next to the runtime (every client)
    result = stack.cli("export")
    # Then it waited for the run to finish and shows each client's outcome
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)
    assert run["trigger"] == "local-cli" and run["state"] == "finished"
    assert run["counts"]["failed"] == 0 and run["counts"]["queued"] == 0
    statuses = {c["clientKey"]: c["status"] for c in run["clients"]}
    assert statuses["ACME-1"] == "exported"
    assert "clients" in result.stderr and "Traceback" not in result.stderr  # the progress line
    # And the run is the one the API lists
    assert outcome(stack, run["runId"], "ACME-1")["status"] == "exported"


def test_the_cli_exports_one_client_and_refuses_an_unknown_one(stack: LocalStack) -> None:
    result = stack.cli("export", "--client", "ACME-1")
    assert result.returncode == 0, result.stderr
    assert [(c["clientKey"], c["status"]) for c in json.loads(result.stdout)["clients"]] == [("ACME-1", "exported")]
    unknown = stack.cli("export", "--client", "NOPE-1")
    assert unknown.returncode == 1 and "Traceback" not in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1 and "NOPE-1" in unknown.stderr


@pytest.mark.parametrize("clients", [["--client", "ACME-1"], []], ids=["one client", "every client"])
def test_the_cli_export_through_the_api_waits_for_the_run(stack: LocalStack, clients: list[str]) -> None:
    # With --api-url the CLI posts "Update From TempWorks" (202) and reads the run until it is finished
    result = stack.cli("export", *clients, "--api-url", stack.url, "--admin")
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)
    assert run["trigger"] == "update-from-tempworks" and run["state"] == "finished"
    statuses = {c["clientKey"]: c["status"] for c in run["clients"]}
    assert statuses["ACME-1"] == "exported" and "failed" not in statuses.values()
    assert len(statuses) == (1 if clients else run["counts"]["exported"])
