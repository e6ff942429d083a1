"""Failures are seen: the tenant's dashboard, and an alarm (to the tenant's topic) on every way work is lost
or delayed: failed client exports, unsent error files, a message waiting in any dead-letter queue."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from infra.stack import constants

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]

ROOT = Path(__file__).resolve().parents[2]
HOUR = 3600
DAY = 86400


def _dead_letter_queues(synthesized, stack: str) -> set[str]:
    """Every queue that only receives failed work: the lanes' redrive targets, the dispatcher's dead-letter
    queue (the schedule's DLQ and the async on-failure destination) and the mailer's failure queue."""
    resources = synthesized.templates[stack]["Resources"]
    dead = set()
    for queue in synthesized.resources(stack, "AWS::SQS::Queue").values():
        redrive = queue["Properties"].get("RedrivePolicy")
        if redrive:
            dead.add(redrive["deadLetterTargetArn"]["Fn::GetAtt"][0])
    for rule in synthesized.resources(stack, "AWS::Events::Rule").values():
        dead |= {t["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0] for t in rule["Properties"]["Targets"]}
    for config in synthesized.resources(stack, "AWS::Lambda::EventInvokeConfig").values():
        dead.add(config["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0])
    for mapping in synthesized.resources(stack, "AWS::Lambda::EventSourceMapping").values():
        on_failure = mapping["Properties"].get("DestinationConfig", {}).get("OnFailure")
        if on_failure:
            dead.add(on_failure["Destination"]["Fn::GetAtt"][0])
    assert all(resources[q]["Type"] == "AWS::SQS::Queue" for q in dead)
    return dead


def _queue_alarms(synthesized, stack: str, metric: str) -> dict[str, dict[str, Any]]:
    return {
        watched.dimensions["QueueName"]["Fn::GetAtt"][0]: alarm
        for alarm, watched in synthesized.alarms(stack).values()
        if watched.name == metric and "QueueName" in watched.dimensions
    }


def test_every_dead_letter_queue_alarms_on_its_first_message_and_on_a_message_left_a_day(synthesized):
    for stack in synthesized.templates:
        dead = _dead_letter_queues(synthesized, stack)
        assert len(dead) == 6, stack  # the export's three, the mailer's, the intake's and its sweep's
        depth = _queue_alarms(synthesized, stack, "ApproximateNumberOfMessagesVisible")
        age = _queue_alarms(synthesized, stack, "ApproximateAgeOfOldestMessage")
        for queue in dead:
            assert (depth[queue]["Threshold"], depth[queue]["ComparisonOperator"]) == (
                1,
                "GreaterThanOrEqualToThreshold",
            ), queue
            assert (age[queue]["Threshold"], age[queue]["ComparisonOperator"]) == (
                DAY,
                "GreaterThanOrEqualToThreshold",
            ), queue
            assert age[queue]["TreatMissingData"] == "notBreaching"


def _business_alarm(synthesized, tenant, folder: str, metric: str) -> dict[str, Any]:
    stack = f"TimerackBridge-{tenant.name}"
    ((alarm, watched),) = [
        (alarm, watched)
        for alarm, watched in synthesized.alarms(stack).values()
        if (watched.namespace, watched.name, watched.dimensions)
        == (f"TimerackBridge/{tenant.name}", metric, {"service": f"timerack-{tenant.name}-{folder}"})
    ]
    assert (watched.statistic, watched.period) == ("Sum", HOUR)
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    assert alarm["TreatMissingData"] == "notBreaching"
    return alarm


def test_failed_client_exports_in_an_hour_raise_an_alarm(synthesized):
    # The worker publishes `failed` once per client that ended in a dead-letter queue (its service dimension is
    # the worker's POWERTOOLS_SERVICE_NAME); the dispatcher `failures` for clients it could not queue
    for tenant in synthesized.tenants:
        _business_alarm(synthesized, tenant, "export_worker", "failed")
        _business_alarm(synthesized, tenant, "export", "failures")


def test_error_files_that_could_not_be_sent_raise_an_alarm(synthesized):
    for tenant in synthesized.tenants:
        _business_alarm(synthesized, tenant, "mailer", "ErrorFileSendFailed")
        # A batch that failed every retry lands in the mailer's failure queue (alarmed as every DLQ above)
        stack = f"TimerackBridge-{tenant.name}"
        (mapping,) = [
            m["Properties"]
            for m in synthesized.resources(stack, "AWS::Lambda::EventSourceMapping").values()
            if "StartingPosition" in m["Properties"]
        ]
        failure_queue = mapping["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
        assert failure_queue in _queue_alarms(synthesized, stack, "ApproximateNumberOfMessagesVisible")


def test_the_api_5xx_alarm_names_the_tenants_api_and_stage(synthesized):
    for tenant in synthesized.tenants:
        stack = f"TimerackBridge-{tenant.name}"
        (watched,) = [w for _, w in synthesized.alarms(stack).values() if w.name == "5XXError"]
        assert watched.dimensions == {"ApiName": f"TimerackBridge-{tenant.name}", "Stage": "prod"}


def test_every_alarm_is_named_for_its_tenant_and_goes_to_its_topic(synthesized):
    for tenant in synthesized.tenants:
        stack = f"TimerackBridge-{tenant.name}"
        (topic_id,) = synthesized.resources(stack, "AWS::SNS::Topic")
        for name, (alarm, _) in synthesized.alarms(stack).items():
            assert name.startswith(f"TimerackBridge-{tenant.name}-"), name
            assert alarm["AlarmActions"] == [{"Ref": topic_id}], name
            assert alarm["AlarmDescription"], name


def _dashboard_text(synthesized, stack: str) -> str:
    (dashboard,) = synthesized.resources(stack, "AWS::CloudWatch::Dashboard").values()
    return json.dumps(dashboard["Properties"]["DashboardBody"])


def test_one_dashboard_per_tenant_covers_the_functions_queues_tables_and_api(synthesized):
    for tenant in synthesized.tenants:
        stack = f"TimerackBridge-{tenant.name}"
        (dashboard,) = synthesized.resources(stack, "AWS::CloudWatch::Dashboard").values()
        assert dashboard["Properties"]["DashboardName"] == f"TimerackBridge-{tenant.name}"
        body = _dashboard_text(synthesized, stack)
        for kind in ("AWS::Lambda::Function", "AWS::SQS::Queue", "AWS::DynamoDB::GlobalTable"):
            for logical_id in synthesized.resources(stack, kind):
                assert (
                    f'\\"Ref\\": \\"{logical_id}\\"' in body or f'[\\"{logical_id}\\", ' in body or (logical_id in body)
                ), (kind, logical_id)
        assert f"TimerackBridge-{tenant.name}" in body  # the API's name
        assert f"TimerackBridge/{tenant.name}" in body  # the functions' own metrics
        outputs = synthesized.templates[stack]["Outputs"]
        assert outputs["DashboardName"]["Value"] == f"TimerackBridge-{tenant.name}"


def test_the_metric_names_the_alarms_read_are_the_ones_the_functions_publish():
    # A renamed metric in the code would leave its alarm watching nothing
    sources = {
        constants.EXPORT_WORKER_FUNCTION: ROOT / "functions" / "export_worker" / "handler.py",
        constants.EXPORT_FUNCTION: ROOT / "functions" / "export" / "handler.py",
        constants.MAILER_FUNCTION: ROOT
        / "layers"
        / "shared"
        / "python"
        / "timerack_bridge"
        / "logic"
        / "error_file.py",
    }
    published = {
        folder: set(re.findall(r'(?:name=|_count\()"([A-Za-z]+)"', path.read_text(encoding="utf-8")))
        for folder, path in sources.items()
    }
    assert set(constants.WORKER_METRICS) <= published[constants.EXPORT_WORKER_FUNCTION]
    assert set(constants.DISPATCHER_METRICS) <= published[constants.EXPORT_FUNCTION]
    assert set(constants.MAILER_METRICS) <= published[constants.MAILER_FUNCTION]
    from timerack_bridge.logic.export_changes import NOT_QUEUED_METRIC

    assert constants.API_NOT_QUEUED_METRIC == NOT_QUEUED_METRIC


def test_every_asynchronously_invoked_function_has_its_own_alarmed_failure_destination(synthesized):
    # Who invokes a function asynchronously: an EventBridge rule (or S3, SNS); API Gateway invokes it
    # synchronously, and event source mappings (SQS, the stream) have their own failure handling
    asynchronous = {"events.amazonaws.com", "s3.amazonaws.com", "sns.amazonaws.com"}
    for stack in synthesized.templates:
        invoked = {
            p["Properties"]["FunctionName"]["Fn::GetAtt"][0]
            for p in synthesized.resources(stack, "AWS::Lambda::Permission").values()
            if p["Properties"]["Principal"] in asynchronous
        }
        # The hourly export and the intake's sweep (every 15 minutes)
        assert invoked == {synthesized.function_id(stack, "export"), synthesized.function_id(stack, "intake_worker")}
        depth = _queue_alarms(synthesized, stack, "ApproximateNumberOfMessagesVisible")
        configs = {
            c["Properties"]["FunctionName"]["Ref"]: c["Properties"]
            for c in synthesized.resources(stack, "AWS::Lambda::EventInvokeConfig").values()
        }
        for function_id in invoked:
            destination = configs[function_id]["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
            assert destination in depth, function_id
