"""The queued export: the dispatcher queues one message per client on two lanes, the worker sends them.

What an operator relies on: a failed client is retried a few times, then waits in a dead-letter queue
that raises an alarm; the hourly drain never floods Timerack (the tenant's `exportConcurrency`); a manual
or change-driven update has its own lane; each function may do what its code does and no more.
"""

from __future__ import annotations

from typing import Any

import pytest

from timerack_bridge.adapters.export_queue import MAX_RECEIVES, VISIBILITY_TIMEOUT_SECONDS, WORKER_TIMEOUT_SECONDS
from timerack_bridge.config import ExportWorkerSettings

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]

FOURTEEN_DAYS = 14 * 86400


def _functions(synthesized, stack: str) -> dict[str, dict[str, Any]]:
    """function name (api, export, export_worker, mailer) -> its resource."""
    return synthesized.functions(stack)


def _function_id(synthesized, stack: str, name: str) -> str:
    return synthesized.function_id(stack, name)


def _key(synthesized, stack: str) -> dict[str, Any]:
    (key_id,) = synthesized.resources(stack, "AWS::KMS::Key")
    return {"Fn::GetAtt": [key_id, "Arn"]}


def _lanes(synthesized, stack: str) -> dict[str, str]:
    """ "bulk"/"priority" -> the queue's logical id, as the worker's environment names them."""
    worker = _functions(synthesized, stack)["export_worker"]["Properties"]["Environment"]["Variables"]
    return {"bulk": worker["EXPORT_QUEUE_URL"]["Ref"], "priority": worker["EXPORT_PRIORITY_QUEUE_URL"]["Ref"]}


def _queue(synthesized, stack: str, logical_id: str) -> dict[str, Any]:
    queue = synthesized.templates[stack]["Resources"][logical_id]
    assert queue["Type"] == "AWS::SQS::Queue"
    return queue["Properties"]


def _statements_of(synthesized, stack: str, function: str) -> list[dict[str, Any]]:
    """Every statement of the policies attached to the function's role."""
    role_id = _functions(synthesized, stack)[function]["Properties"]["Role"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in synthesized.resources(stack, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _allowed(statements: list[dict[str, Any]], action: str) -> list[Any]:
    """The resources the statements allow `action` on."""
    resources: list[Any] = []
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if statement["Effect"] == "Allow" and action in actions:
            resource = statement["Resource"]
            resources += resource if isinstance(resource, list) else [resource]
    return resources


def _queue_arns(synthesized, stack: str) -> list[dict[str, Any]]:
    return [{"Fn::GetAtt": [queue_id, "Arn"]} for queue_id in _lanes(synthesized, stack).values()]


def test_the_queue_constants_are_the_ones_the_worker_reads():
    # The stack and the local runtime's queues share the adapter's constants; the worker's settings agree.
    assert VISIBILITY_TIMEOUT_SECONDS >= 6 * WORKER_TIMEOUT_SECONDS
    assert ExportWorkerSettings.model_fields["export_max_receives"].default == MAX_RECEIVES


def test_each_lane_retries_a_few_times_then_keeps_the_message_in_its_own_dead_letter_queue(synthesized):
    for stack in synthesized.templates:
        lanes = _lanes(synthesized, stack)
        assert lanes["bulk"] != lanes["priority"]
        worker_timeout = _functions(synthesized, stack)["export_worker"]["Properties"]["Timeout"]
        assert worker_timeout == WORKER_TIMEOUT_SECONDS
        dead_letter_queues = set()
        for lane, queue_id in lanes.items():
            queue = _queue(synthesized, stack, queue_id)
            # A message is not handed to a second worker while the first may still run on it
            assert queue["VisibilityTimeout"] >= 6 * worker_timeout, lane
            assert queue["KmsMasterKeyId"] == _key(synthesized, stack), lane
            redrive = queue["RedrivePolicy"]
            assert redrive["maxReceiveCount"] == MAX_RECEIVES, lane
            dead_id = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
            dead = _queue(synthesized, stack, dead_id)
            assert dead["MessageRetentionPeriod"] == FOURTEEN_DAYS, lane
            assert dead["KmsMasterKeyId"] == _key(synthesized, stack), lane
            # A message keeps its first enqueue time in the DLQ: the DLQ keeps it longer than the lane
            assert queue["MessageRetentionPeriod"] < dead["MessageRetentionPeriod"], lane
            dead_letter_queues.add(dead_id)
        assert len(dead_letter_queues) == 2, stack


def test_every_export_queue_refuses_plain_http(synthesized):
    for stack in synthesized.templates:
        lanes = set(_lanes(synthesized, stack).values())
        dead = {_queue(synthesized, stack, q)["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0] for q in lanes}
        guarded = set()
        for policy in synthesized.resources(stack, "AWS::SQS::QueuePolicy").values():
            statements = policy["Properties"]["PolicyDocument"]["Statement"]
            if any(
                s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
                for s in statements
            ):
                guarded |= {queue["Ref"] for queue in policy["Properties"]["Queues"]}
        assert lanes | dead <= guarded, stack


def test_the_worker_takes_one_client_at_a_time_from_each_lane_at_a_bounded_concurrency(synthesized):
    for tenant in synthesized.tenants:
        stack = f"TimerackBridge-{tenant.name}"
        worker_id = _function_id(synthesized, stack, "export_worker")
        mappings = {
            m["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]: m["Properties"]
            for m in synthesized.resources(stack, "AWS::Lambda::EventSourceMapping").values()
            if m["Properties"]["FunctionName"] == {"Ref": worker_id}
        }
        lanes = _lanes(synthesized, stack)
        assert set(mappings) == set(lanes.values())
        for mapping in mappings.values():
            assert mapping["BatchSize"] == 1
            # A failed client is reported alone: the other records of the batch are not received again
            assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mappings[lanes["bulk"]]["ScalingConfig"] == {"MaximumConcurrency": tenant.export_concurrency}
        assert mappings[lanes["priority"]]["ScalingConfig"] == {"MaximumConcurrency": 2}


def test_the_hourly_schedule_still_runs_the_dispatcher(synthesized):
    for stack in synthesized.templates:
        (rule,) = [
            r for r in synthesized.resources(stack, "AWS::Events::Rule").values() if "Export" in r["Properties"]["Name"]
        ]
        (target,) = rule["Properties"]["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": [_function_id(synthesized, stack, "export"), "Arn"]}


def test_each_function_gets_the_export_settings_it_reads(synthesized):
    for tenant in synthesized.tenants:
        stack = f"TimerackBridge-{tenant.name}"
        env = {name: f["Properties"]["Environment"]["Variables"] for name, f in _functions(synthesized, stack).items()}
        lanes = _lanes(synthesized, stack)
        destination = {"TIMERACK_API_URL", "TIMERACK_API_TOKEN_SECRET_ARN", "EXPORT_BUCKET"}
        https = tenant.export_destination == "https"
        for name in ("api", "export", "export_worker"):
            assert env[name]["EXPORT_QUEUE_URL"] == {"Ref": lanes["bulk"]}, name
            assert env[name]["EXPORT_PRIORITY_QUEUE_URL"] == {"Ref": lanes["priority"]}, name
            assert env[name]["EXPORT_DESTINATION"] == tenant.export_destination, name
        # Only the worker sends, so only the worker knows where and how
        assert not destination & (set(env["api"]) | set(env["export"]))
        # An S3 tenant never calls Timerack: no URL, no token (item 1 of issue 17)
        assert env["export_worker"].get("TIMERACK_API_URL") == tenant.timerack_api_url
        assert ("TIMERACK_API_TOKEN_SECRET_ARN" in env["export_worker"]) == https
        assert ("EXPORT_BUCKET" in env["export_worker"]) == (not https)
        assert env["export_worker"]["EXPORT_MAX_RECEIVES"] == str(MAX_RECEIVES)
        # A client's lease outlives one worker invocation
        assert int(env["export_worker"]["EXPORT_LEASE_SECONDS"]) > WORKER_TIMEOUT_SECONDS
        assert env["api"]["EXPORT_CHANGE_DELAY_SECONDS"] == "10"


def test_the_api_and_the_dispatcher_may_queue_clients_but_not_send_them(synthesized):
    for stack in synthesized.templates:
        lanes = _queue_arns(synthesized, stack)
        dispatcher_id = _function_id(synthesized, stack, "export")
        # The dispatcher's own failed runs go to its dead-letter queue (its async on-failure destination)
        (config,) = [
            c
            for c in synthesized.resources(stack, "AWS::Lambda::EventInvokeConfig").values()
            if c["Properties"]["FunctionName"] == {"Ref": dispatcher_id}
        ]
        failed_runs = config["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]
        # The API also queues an accepted batch on the intake queue (tests/infra/test_intake.py)
        (intake,) = [
            {"Fn::GetAtt": [i, "Arn"]}
            for i, q in synthesized.resources(stack, "AWS::SQS::Queue").items()
            if i.startswith("IntakeQueue") and "RedrivePolicy" in q["Properties"]
        ]
        for name, expected in (("api", [*lanes, intake]), ("export", [*lanes, failed_runs])):
            statements = _statements_of(synthesized, stack, name)
            assert sorted(map(str, _allowed(statements, "sqs:SendMessage"))) == sorted(map(str, expected)), name
            assert not _allowed(statements, "secretsmanager:GetSecretValue"), name
            # Never the export bucket's objects (the API's are the intake bucket's)
            assert not [r for r in _allowed(statements, "s3:PutObject") if "Export" in str(r)], name
            assert not _allowed(statements, "sqs:ReceiveMessage"), name


def test_the_dispatcher_records_its_run_and_reads_the_clients(synthesized):
    for stack in synthesized.templates:
        statements = _statements_of(synthesized, stack, "export")
        # Query the clients; Put the run, BatchWrite its queued outcomes, Update it when dispatched;
        # settle a client that could not be queued (GetItem, then Put outcome + Update run in a transaction)
        for action in ("Query", "GetItem", "PutItem", "BatchWriteItem", "UpdateItem"):
            assert _allowed(statements, f"dynamodb:{action}"), action
        assert not _allowed(statements, "dynamodb:DeleteItem")


def test_the_worker_may_send_read_lease_settle_and_retry(synthesized):
    for tenant in synthesized.tenants:
        stack = f"TimerackBridge-{tenant.name}"
        statements = _statements_of(synthesized, stack, "export_worker")
        for action in ("GetItem", "Query", "BatchGetItem", "PutItem", "DeleteItem", "UpdateItem"):
            assert _allowed(statements, f"dynamodb:{action}"), action
        https = tenant.export_destination == "https"
        assert bool(_allowed(statements, "secretsmanager:GetSecretValue")) == https
        assert bool(synthesized.resources(stack, "AWS::SecretsManager::Secret")) == https
        assert bool(_allowed(statements, "s3:PutObject")) == (not https)
        # The lanes, the secret and the bucket are encrypted with the tenant's key: read them, write objects
        assert _allowed(statements, "kms:Decrypt") == [_key(synthesized, stack)]
        # It writes to the priority lane (encrypted) too: a change saved while it exported is queued once more
        assert _allowed(statements, "kms:GenerateDataKey") == [_key(synthesized, stack)]
        lanes = sorted(map(str, _queue_arns(synthesized, stack)))
        # A retry's backoff hands the message back after a delay (ChangeMessageVisibility)
        for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"):
            assert sorted(map(str, _allowed(statements, action))) == lanes, action
        # It queues on the priority lane only (a change's follow-up), never on the bulk lane
        priority = [arn for arn in _queue_arns(synthesized, stack) if "Priority" in str(arn)]
        assert sorted(map(str, _allowed(statements, "sqs:SendMessage"))) == sorted(map(str, priority))


def _queue_alarms(synthesized, stack: str, metric: str) -> dict[str, tuple[dict[str, Any], Any]]:
    """queue logical id -> (the alarm on its `metric`, that metric)."""
    return {
        watched.dimensions["QueueName"]["Fn::GetAtt"][0]: (alarm, watched)
        for alarm, watched in synthesized.alarms(stack).values()
        if watched.name == metric and "QueueName" in watched.dimensions
    }


def test_a_client_in_a_dead_letter_queue_raises_an_alarm(synthesized):
    for stack in synthesized.templates:
        depth = _queue_alarms(synthesized, stack, "ApproximateNumberOfMessagesVisible")
        for queue_id in _lanes(synthesized, stack).values():
            dead_id = _queue(synthesized, stack, queue_id)["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
            alarm, watched = depth[dead_id]
            assert alarm["Threshold"] == 1
            assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
            assert watched.statistic == "Maximum"


def test_an_hourly_drain_that_would_overrun_the_next_run_raises_an_alarm(synthesized):
    for stack in synthesized.templates:
        age = _queue_alarms(synthesized, stack, "ApproximateAgeOfOldestMessage")
        alarm, watched = age[_lanes(synthesized, stack)["bulk"]]
        assert alarm["Threshold"] == 50 * 60
        assert watched.statistic == "Maximum"
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        # The priority lane drains in minutes; its age is watched through its dead-letter queue
        assert _lanes(synthesized, stack)["priority"] not in age


def test_the_worker_has_error_and_throttle_alarms(synthesized):
    for stack in synthesized.templates:
        worker_id = _function_id(synthesized, stack, "export_worker")
        metrics = {
            watched.name
            for _, watched in synthesized.alarms(stack).values()
            if watched.dimensions.get("FunctionName") == {"Ref": worker_id}
        }
        assert metrics == {"Errors", "Throttles"}


def test_operators_find_the_dead_letter_queues_in_the_outputs(synthesized):
    for stack in synthesized.templates:
        outputs = synthesized.templates[stack]["Outputs"]
        dead = {
            _queue(synthesized, stack, q)["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
            for q in _lanes(synthesized, stack).values()
        }
        published = {
            outputs[name]["Value"]["Fn::GetAtt"][0] for name in ("ExportQueueDlqArn", "ExportPriorityQueueDlqArn")
        }
        assert published == dead


def test_the_api_hands_a_run_of_many_clients_to_the_dispatcher_and_may_invoke_nothing_else(synthesized):
    from aws_cdk.assertions import Match

    from infra.stack import constants

    for stack in synthesized.templates:
        dispatcher_id = _function_id(synthesized, stack, "export")
        # The API names the dispatcher (POST /v1/exports of many clients: an async invoke of it)
        synthesized.assertions[stack].has_resource_properties(
            "AWS::Lambda::Function",
            {
                "Description": Match.string_like_regexp("HTTP API"),
                "Environment": {"Variables": Match.object_like({"EXPORT_DISPATCHER_FUNCTION": {"Ref": dispatcher_id}})},
            },
        )
        env = _functions(synthesized, stack)["api"]["Properties"]["Environment"]["Variables"]
        assert env["EXPORT_DISPATCHER_FUNCTION"] == {"Ref": dispatcher_id}
        # ... and may invoke it, the unqualified function only; no other function invokes any
        dispatcher_arn = {"Fn::GetAtt": [dispatcher_id, "Arn"]}
        assert _allowed(_statements_of(synthesized, stack, "api"), "lambda:InvokeFunction") == [dispatcher_arn]
        for other in ("export", "export_worker", "intake_worker", "mailer"):
            assert not _allowed(_statements_of(synthesized, stack, other), "lambda:InvokeFunction"), other
        # A handed-over run that fails is retried by Lambda, then kept in the dispatcher's on-failure queue
        (config,) = [
            c
            for c in synthesized.resources(stack, "AWS::Lambda::EventInvokeConfig").values()
            if c["Properties"]["FunctionName"] == {"Ref": dispatcher_id}
        ]
        properties = config["Properties"]
        assert properties["FunctionName"] == {"Ref": dispatcher_id}
        assert properties["MaximumRetryAttempts"] == constants.EXPORT_ASYNC_RETRIES
        failed = properties["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
        assert synthesized.templates[stack]["Resources"][failed]["Type"] == "AWS::SQS::Queue"
