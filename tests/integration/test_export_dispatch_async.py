""" "Update From TempWorks" of many clients: the API records the run and hands its dispatch to the export
dispatcher (an async invoke); it never reads, records or queues the clients itself, so a run of 10,000
clients never meets the API's 28 s. One client is still queued by the API at once.

On moto: the dispatcher is a Lambda function moto accepts async invokes for (without running it: the
tests run the handed-over request through the dispatcher's handler, as Lambda would), the queues are
moto's SQS, the API runs through its real handler with the real adapter (`LambdaDispatchStarter`).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from local.moto_stand_in import SerializedClient
from tests.conftest import ApiCall
from tests.integration import test_export_runs as runs_tests
from tests.integration.test_export import FakeContext
from tests.integration.test_export_runs import (
    ADMIN,
    NOTHING,
    RecordingDestination,
    queued_messages,
    run_workers,
    waiting_messages,
)

# The export runs' agency (tests/integration/test_export_runs.py): Acme and Globex in the rep's branch,
# Hidden in the other branch; pytest finds the fixture by its name here.
clients = runs_tests.clients

DISPATCHER = "timerack-test-export"
NO_DISPATCHER = "timerack-test-export-not-deployed"
EVERY_CLIENT = [100, 200, 400]


@dataclass
class ApiOnMoto:
    """The API with its own SQS and Lambda clients, and what it asked of each."""

    call: ApiCall
    services: Any
    invokes: list[dict[str, Any]] = field(default_factory=list)
    queue_calls: list[str] = field(default_factory=list)

    def requests(self) -> list[dict[str, Any]]:
        """The payloads the API handed to the dispatcher, as JSON."""
        return [json.loads(invoke["Payload"]) for invoke in self.invokes]


@pytest.fixture
def deployed_dispatcher(services: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """The export dispatcher's function on moto, which accepts an async invoke without running it (no Docker)."""
    from moto.core.config import default_user_config

    monkeypatch.setitem(default_user_config["lambda"], "use_docker", False)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = boto3.client("iam", region_name="us-east-1").create_role(
        RoleName="export-dispatcher", AssumeRolePolicyDocument=json.dumps(trust)
    )
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def lambda_handler(event, context):\n    return event\n")
    boto3.client("lambda", region_name="us-east-1").create_function(
        FunctionName=DISPATCHER,
        Role=role["Role"]["Arn"],
        Runtime="python3.12",
        Handler="handler.lambda_handler",
        Code={"ZipFile": code.getvalue()},
    )
    return DISPATCHER


def _api_on(services: Any, api_for: Callable[[Any], ApiCall], function_name: str) -> ApiOnMoto:
    """The API's services as its composition root builds them from its settings (EXPORT_DISPATCHER_FUNCTION),
    on moto, with a record of every Invoke and every SendMessage(Batch) the API makes."""
    from timerack_bridge.adapters.export_queue import QueueUrls, SqsExportQueue
    from timerack_bridge.api import deps

    settings = services.settings.model_copy(update={"export_dispatcher_function": function_name})
    urls = QueueUrls(bulk=settings.export_queue_url, priority=settings.export_priority_queue_url)
    sqs = boto3.client("sqs", region_name="us-east-1")
    own = deps.Services(settings, dynamodb=services.dynamodb, export_queue=SqsExportQueue(SerializedClient(sqs), urls))
    api = ApiOnMoto(call=api_for(own), services=own)
    sqs.meta.events.register(
        "provide-client-params.sqs.*", lambda params, model, **_: api.queue_calls.append(model.name)
    )
    own.dispatch_starter.client.meta.events.register(
        "provide-client-params.lambda.Invoke", lambda params, **_: api.invokes.append(dict(params))
    )
    return api


@pytest.fixture
def api_on_moto(services: Any, api_for: Callable[[Any], ApiCall], deployed_dispatcher: str) -> ApiOnMoto:
    return _api_on(services, api_for, deployed_dispatcher)


def run_dispatcher(services: Any, event: dict[str, Any]) -> dict[str, Any]:
    """The export dispatcher function invoked with `event`, as Lambda runs an async invoke."""
    from functions.export import handler

    adapters = handler.ExportAdapters(services.admin, services.export_queue)
    reply: dict[str, Any] = handler.lambda_handler(event, FakeContext(), adapters=adapters)
    return reply


# ---------------------------------------------------------------- an admin's run of every client


def test_an_admins_update_of_every_client_is_handed_to_the_dispatcher_and_answered_at_once(
    api_on_moto: ApiOnMoto, clients: list[str], services: Any
) -> None:
    api = api_on_moto.call
    # When an admin runs "Update From TempWorks" for every client
    started = api("POST", "/v1/exports", {}, **ADMIN)
    # Then the answer is 202 with the run, still queuing: no client is read, recorded or queued by the API
    assert started.status == 202, started.text
    run_id = started.json["runId"]
    assert started.json["state"] == "queuing" and started.json["trigger"] == "update-from-tempworks"
    assert started.json["counts"] == NOTHING
    assert api_on_moto.queue_calls == []
    assert waiting_messages(services, "bulk") == waiting_messages(services, "priority") == 0
    # And the dispatcher got one async invoke, carrying the run: every client (an admin's run)
    assert [(i["FunctionName"], i["InvocationType"]) for i in api_on_moto.invokes] == [(DISPATCHER, "Event")]
    assert api_on_moto.requests() == [{"runId": run_id, "trigger": "update-from-tempworks", "hierarchyNodeIds": None}]
    # And the run is recorded, queuing, before the dispatcher takes it
    shown = api("GET", f"/v1/exports/{run_id}", **ADMIN)
    assert shown.status == 200, shown.text
    assert shown.json["state"] == "queuing" and shown.json["clients"] == []
    assert [(r["runId"], r["state"]) for r in api("GET", "/v1/exports", **ADMIN).json["items"]] == [(run_id, "queuing")]


def test_the_dispatcher_queues_every_client_of_the_handed_over_run(
    api_on_moto: ApiOnMoto, clients: list[str], services: Any
) -> None:
    api = api_on_moto.call
    run_id = api("POST", "/v1/exports", {}, **ADMIN).json["runId"]
    (request,) = api_on_moto.requests()
    # When the dispatcher runs the handed-over request
    dispatched = run_dispatcher(services, request)
    # Then every client is one message of that run on the bulk lane, and the run is running (no second run)
    assert dispatched["runId"] == run_id and dispatched["state"] == "running"
    assert waiting_messages(services, "bulk") == 3 and waiting_messages(services, "priority") == 0
    (listed,) = api("GET", "/v1/exports", **ADMIN).json["items"]
    assert (listed["runId"], listed["state"], listed["counts"]) == (run_id, "running", {**NOTHING, "queued": 3})
    # And once the workers send them, the run is finished with each client exported
    run_workers(services, RecordingDestination())
    shown = api("GET", f"/v1/exports/{run_id}", **ADMIN).json
    assert shown["state"] == "finished" and shown["counts"] == {**NOTHING, "exported": 3}
    assert [(c["customerId"], c["status"]) for c in shown["clients"]] == [(i, "exported") for i in EVERY_CLIENT]


def test_the_handed_over_run_queues_one_message_per_client_of_that_run(
    api_on_moto: ApiOnMoto, clients: list[str], services: Any
) -> None:
    run_id = api_on_moto.call("POST", "/v1/exports", {}, **ADMIN).json["runId"]
    (request,) = api_on_moto.requests()
    run_dispatcher(services, request)
    messages = queued_messages(services, "bulk")
    assert sorted(m["customerId"] for m in messages) == EVERY_CLIENT
    assert {(m["runId"], m["trigger"]) for m in messages} == {(run_id, "update-from-tempworks")}


def test_a_repeated_invoke_of_a_dispatched_run_queues_nothing_again(
    api_on_moto: ApiOnMoto, clients: list[str], services: Any
) -> None:
    # Lambda delivers an async invoke at least once (and retries a failed one)
    api_on_moto.call("POST", "/v1/exports", {}, **ADMIN)
    (request,) = api_on_moto.requests()
    run_dispatcher(services, request)
    again = run_dispatcher(services, request)
    # Then the clients are queued once, counted once
    assert again["counts"]["queued"] == 3
    assert sorted(m["customerId"] for m in queued_messages(services, "bulk")) == EVERY_CLIENT
    (listed,) = api_on_moto.call("GET", "/v1/exports", **ADMIN).json["items"]
    assert listed["counts"] == {**NOTHING, "queued": 3}


# ---------------------------------------------------------------- a rep's run, one client


def test_a_reps_run_carries_the_nodes_they_see_and_queues_only_their_clients(
    api_on_moto: ApiOnMoto, clients: list[str], services: Any
) -> None:
    api = api_on_moto.call
    # When the rep (at the branch: the branch and its sub-branch) updates every client they see
    started = api("POST", "/v1/exports")
    assert started.status == 202 and started.json["state"] == "queuing", started.text
    (request,) = api_on_moto.requests()
    assert request["runId"] == started.json["runId"]
    assert sorted(request["hierarchyNodeIds"]) == ["branch", "sub"]
    # Then the dispatcher queues the rep's clients only: not the other branch's
    run_dispatcher(services, request)
    assert sorted(m["customerId"] for m in queued_messages(services, "bulk")) == [100, 200]
    shown = api("GET", f"/v1/exports/{started.json['runId']}")
    assert shown.status == 200 and [c["clientKey"] for c in shown.json["clients"]] == ["ACME-1", "GLOBEX-1"]
    assert api("GET", f"/v1/exports/{started.json['runId']}", **ADMIN).json["counts"]["queued"] == 2


def test_one_client_is_still_queued_by_the_api_at_once(
    api_on_moto: ApiOnMoto, clients: list[str], services: Any
) -> None:
    started = api_on_moto.call("POST", "/v1/exports", {"clientKey": "GLOBEX-1"}, **ADMIN)
    assert started.status == 202, started.text
    assert started.json["state"] == "running" and started.json["counts"] == {**NOTHING, "queued": 1}
    assert [m["customerId"] for m in queued_messages(services, "priority")] == [200]
    assert api_on_moto.invokes == []


# ---------------------------------------------------------------- the dispatcher cannot be invoked


def test_a_dispatcher_that_cannot_be_invoked_is_a_503_and_leaves_no_run_queuing(
    services: Any, api_for: Callable[[Any], ApiCall], clients: list[str]
) -> None:
    # Given an API whose dispatcher function is not there (Lambda answers ResourceNotFound)
    api_on_moto = _api_on(services, api_for, NO_DISPATCHER)
    api = api_on_moto.call
    # When an admin runs "Update From TempWorks"
    refused = api("POST", "/v1/exports", {}, **ADMIN)
    # Then the answer says the export was not started and to try again; nothing is queued
    assert refused.status == 503, refused.text
    assert "no client was queued" in refused.json["message"] and "try again" in refused.json["message"]
    assert NO_DISPATCHER not in refused.text and refused.headers.get("Retry-After")
    assert waiting_messages(services, "bulk") == waiting_messages(services, "priority") == 0
    # And no run is left "queuing" for ever: the run is finished, with no client
    (listed,) = api("GET", "/v1/exports", **ADMIN).json["items"]
    assert listed["state"] == "finished" and listed["counts"] == NOTHING


def test_an_api_without_a_dispatcher_refuses_a_run_of_many_clients_and_records_none(
    api: ApiCall, clients: list[str], services: Any
) -> None:
    # The conftest API has no EXPORT_DISPATCHER_FUNCTION (and no starter handed in)
    assert services.settings.export_dispatcher_function is None
    refused = api("POST", "/v1/exports", {}, **ADMIN)
    assert refused.status == 503, refused.text
    assert api("GET", "/v1/exports", **ADMIN).json["items"] == []
    # One client needs no dispatcher
    assert api("POST", "/v1/exports", {"clientKey": "ACME-1"}, **ADMIN).status == 202


# ---------------------------------------------------------------- the local runtime


def test_the_local_runtime_dispatches_a_run_of_many_clients_in_the_background(
    services: Any, api_for: Callable[[Any], ApiCall], clients: list[str]
) -> None:
    from local.dispatch_starter import ThreadDispatchStarter
    from timerack_bridge.api import deps

    starter = ThreadDispatchStarter(services.admin, services.export_queue, services.export_runs)
    api = api_for(
        deps.Services(
            services.settings, dynamodb=services.dynamodb, export_queue=services.export_queue, dispatch_starter=starter
        )
    )
    started = api("POST", "/v1/exports", {}, **ADMIN)
    assert started.status == 202 and started.json["state"] == "queuing", started.text
    assert starter.wait(timeout=60)  # the instance's background dispatch is done
    assert sorted(m["customerId"] for m in queued_messages(services, "bulk")) == EVERY_CLIENT
    shown = api("GET", f"/v1/exports/{started.json['runId']}", **ADMIN).json
    assert shown["state"] == "running" and shown["counts"] == {**NOTHING, "queued": 3}


def test_a_handed_over_run_whose_dispatch_fails_ends_and_a_retry_queues_nothing(
    api_on_moto: ApiOnMoto, clients: list[str], services: Any
) -> None:
    from functions.export import handler

    class Unreachable:
        """The export queue, down."""

        def send(self, messages: Any, *, lane: str, delay_seconds: int = 0) -> Any:
            raise ConnectionError("the export queue could not be reached")

        def retry_later(self, delivery: Any, seconds: int) -> None:
            raise AssertionError("the dispatcher never hands a message back")

    run_id = api_on_moto.call("POST", "/v1/exports", {}, **ADMIN).json["runId"]
    (request,) = api_on_moto.requests()
    # When the dispatcher's first attempt fails (the queue is down), and Lambda retries it
    with pytest.raises(ConnectionError):
        handler.lambda_handler(request, FakeContext(), adapters=handler.ExportAdapters(services.admin, Unreachable()))
    run_dispatcher(services, request)
    # Then the run is not left queuing, and the retry queued (and counted) nothing again
    shown = api_on_moto.call("GET", f"/v1/exports/{run_id}", **ADMIN).json
    assert shown["state"] == "finished" and shown["counts"]["queued"] == 0
    assert waiting_messages(services, "bulk") == 0
